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
INTERNAL = 70
"""A bug in atg-dataplane or a plugin (EX_SOFTWARE); -vv shows the traceback."""
INTERRUPTED = 130
"""Stopped by Ctrl-C or SIGTERM; the run can be resumed."""
