"""A plugin's heavy modules, imported when its resource type is first worked on.

Every command loads every installed plugin to learn its resource types, and an Azure
management SDK takes a quarter to half a second of CPU to import: a run of one resource
type, ``--help`` or ``plan`` would pay for every other plugin's SDK. A plugin's entry
module names its SDK-backed modules with :func:`deferred` instead of importing them::

    if TYPE_CHECKING:  # type checkers see the module itself
        from atg_dataplane_sql import databases
    else:
        databases = deferred("atg_dataplane_sql.databases")

and uses them as modules (``databases.discover(...)``): the first attribute read imports
the module. The import system's own per-module lock makes the first reads of two threads
safe: the second waits for the first to finish the import.
"""

from __future__ import annotations

import importlib
from typing import Any


class deferred:  # lower case: it stands where a module name would
    """The module ``name``, imported on the first attribute read (a failed import raises
    there, in the hook that needed it, and again on the next read)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        # After the first import this is a lookup in ``sys.modules``.
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<deferred module {self._name!r}>"
