"""Azure Files (File service) emulation: Azurite has none.

One listener serves every account of the sandbox's storage pool, path-style like Azurite
(``https://127.0.0.1:PORT/{account}/...``); the ARM storage provider points each account's
``primaryEndpoints.file`` at it. See :mod:`.router` for the operations and :mod:`.auth` for
Shared Key, SAS and OAuth (backup intent) authentication.
"""
