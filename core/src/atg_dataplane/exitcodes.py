"""Exit codes of the ``atg-dataplane`` command (documented in docs/cli.md)."""

OK = 0
"""Everything asked for was done."""
ITEMS_FAILED = 1
"""The run finished but some items failed, or verification is below --min-fidelity."""
USAGE = 2
"""Bad input: options, config file, inventory, resource ids, credentials."""
PERMISSIONS_MISSING = 3
"""The permission check found missing permissions; nothing was written."""
PLUGIN_ERROR = 4
"""Plugins could not be loaded (strict mode) or two plugins claim one type."""
SANDBOX_NOT_READY = 5
"""``sandbox``: not running (``status``, ``seed``), or its emulators are not installed (the
message gives the exact install command)."""
SANDBOX_DEGRADED = 6
"""``sandbox status``: some sandbox processes are down or not answering."""
INTERNAL = 70
"""A bug in atg-dataplane or a plugin (EX_SOFTWARE); -vv shows the traceback."""
INTERRUPTED = 130
"""Stopped by Ctrl-C or SIGTERM; the run can be resumed."""
