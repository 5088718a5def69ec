"""The config's ``[options]``, checked against what the installed plugins declare.

Before any request, every key is matched to a :class:`PluginOption`: an unknown key under
an installed plugin's prefix is refused with the nearest valid one, a value of the wrong
kind is refused naming the option and what it takes, and the values plugins receive are
converted (``"true"`` is ``True``). Keys of a plugin that declares no options at all are
passed on unchecked (a third-party plugin's own); keys of no installed plugin are refused.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from atg_dataplane.config import ConfigError
from atg_dataplane.models import PluginOption

SHALLOW_OPTION = "verify.shallow"
"""Set (``verify --shallow``) when the user asks for a cheaper comparison: a plugin whose
fingerprint is costly (a SQL database's export) may then compare less (the schema and row
counts) and says so in its docs; others ignore it."""
CORE_OPTIONS = frozenset({SHALLOW_OPTION})
"""Options the core itself sets for every plugin (flags, all true or false)."""
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def declared_options(host: Any) -> dict[str, tuple[str, PluginOption]]:
    """Every declared option by name and alias: ``{key: (plugin, option)}``."""
    found: dict[str, tuple[str, PluginOption]] = {}
    for plugin, spec in host.types.values():
        for option in spec.options:
            for key in (option.name, *option.aliases):
                found.setdefault(key, (plugin, option))
    return found


def check_options(host: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with every value converted; :class:`ConfigError` for the first problem."""
    declared = declared_options(host)
    declaring = {plugin for plugin, _ in declared.values()}
    plugins = {record.name for record in host.records}
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if key in CORE_OPTIONS:
            checked[key] = value is True or str(value).lower() in _TRUE
            continue
        found = declared.get(key)
        if found is not None:
            checked[key] = convert(found[1], value, key)
            continue
        prefix = key.partition(".")[0] if "." in key else ""
        if prefix in plugins and prefix not in declaring:
            checked[key] = value  # a plugin that declares nothing: its own business
            continue
        raise ConfigError(_unknown(key, prefix, plugins, declared))
    return checked


def _unknown(key: str, prefix: str, plugins: set[str], declared: Mapping[str, Any]) -> str:
    if prefix in plugins:
        mine = sorted({o.name for p, o in declared.values() if p == prefix})
        # Compared without the shared prefix, which would make any two names look alike.
        tails = {name.partition(".")[2]: name for name in mine}
        near = difflib.get_close_matches(key.partition(".")[2], list(tails), n=1, cutoff=0.6)
        hint = f"did you mean {tails[near[0]]!r}?" if near else f"it reads: {', '.join(mine)}"
        return f"unknown option {key!r} (plugin {prefix}); {hint}"
    near = difflib.get_close_matches(key, sorted(declared), n=1, cutoff=0.6)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    owner = f"no installed plugin is named {prefix!r}" if prefix else "no plugin reads it"
    return (
        f"unknown option {key!r}: {owner}{hint} (atg-dataplane plugins --options lists every "
        "option)"
    )


def convert(option: PluginOption, value: Any, key: str | None = None) -> Any:
    """``value`` as ``option`` takes it, or a one-line :class:`ConfigError`."""
    key = key or option.name
    kind = option.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ConfigError(f"option {key} must be true or false, not {value!r}")
    if kind in ("int", "float"):
        number = _number(value, kind)
        if number is None:
            what = "a whole number" if kind == "int" else "a number"
            raise ConfigError(f"option {key} must be {what}, not {value!r}")
        if option.minimum is not None and number < option.minimum:
            raise ConfigError(f"option {key} must be at least {option.minimum:g}, not {number!r}")
        return number
    if kind == "list":
        items = _strings(value, key)
        for item in items:
            _choice(option, item, key)
        return [item.lower() for item in items] if option.choices else items
    if not isinstance(value, str):
        raise ConfigError(f"option {key} must be a string, not {value!r}")
    return _choice(option, value, key) if kind == "choice" else value


def _number(value: Any, kind: str) -> int | float | None:
    if isinstance(value, bool):
        return None
    if kind == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _strings(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    raise ConfigError(f"option {key} must be a list of strings, not {value!r}")


def _choice(option: PluginOption, value: str, key: str) -> str:
    if not option.choices:
        return value
    if value.lower() in (c.lower() for c in option.choices):
        return value.lower()
    raise ConfigError(
        f"option {key} must be one of {', '.join(option.choices)}, not {value!r}"
    )
