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
safe: the second waits for the first to finish the import. (Two threads importing two
*different* modules of one package first, one of them the package's ``__init__``, can
still meet CPython's import deadlock check on Python 3.11: read a package's modules in one
order.)

A module that cannot be imported fails in the hook that first reads it; ``atg-dataplane
plugins`` and strict mode (``ATG_DATAPLANE_STRICT_PLUGINS=1``) import every module a
plugin's entry module deferred, so that a missing SDK is a load error there.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

_OWNED: dict[str, list[str]] = {}
"""Module that made deferred modules -> their names (filled as modules import)."""


class deferred:  # lower case: it stands where a module name would
    """The module ``name``, imported on the first attribute read (a failed import raises
    there, in the hook that needed it, and again on the next read)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name
        owner = str(sys._getframe(1).f_globals.get("__name__", ""))
        _OWNED.setdefault(owner, []).append(name)

    def __getattr__(self, attribute: str) -> Any:
        # After the first import this is a lookup in ``sys.modules``.
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<deferred module {self._name!r}>"


def import_deferred(owner: str) -> str | None:
    """Import every module that the module ``owner`` named with :class:`deferred`; the
    first that fails, described in one line, or None."""
    for name in _OWNED.get(owner, ()):
        try:
            importlib.import_module(name)
        except Exception as exc:  # any import failure: the plugin is listed failed
            return f"{name}: {type(exc).__name__}: {exc}"
    return None
