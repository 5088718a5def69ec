"""``atg-dataplane new-plugin``: render the plugin package template."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from atg_dataplane.__about__ import __version__

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
# Namespace/type[/subtype...]: no empty segment, no trailing slash.
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9.]*(?:/[A-Za-z][A-Za-z0-9]*)+$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class TemplateError(ValueError):
    pass


def _core_range() -> tuple[str, str]:
    major, minor = (int(x) for x in __version__.split(".")[:2])
    return f"{major}.{minor}", (f"{major}.{minor + 1}" if major == 0 else f"{major + 1}")


def render_plugin(
    name: str,
    *,
    resource_type: str,
    directory: Path,
    item_kinds: tuple[str, ...] = (),
) -> Path:
    """Write ``atg-dataplane-<name>/`` into ``directory``; return its path."""
    if not _NAME.match(name):
        raise TemplateError(
            f"plugin name {name!r} is not valid: use lower-case letters, digits and dashes, "
            "starting with a letter (e.g. 'webapps')"
        )
    if not _TYPE.match(resource_type):
        raise TemplateError(
            f"resource type {resource_type!r} is not an ARM type: use Namespace/type, "
            "e.g. Microsoft.Web/sites"
        )
    for kind in item_kinds:
        if not _KIND.match(kind):
            raise TemplateError(
                f"item kind {kind!r} is not valid: use letters, digits, '_', '-' or '.', "
                "starting with a letter (e.g. 'secret')"
            )
    # Duplicates would fail the conformance suite's descriptor check.
    kinds = tuple(dict.fromkeys(item_kinds)) or ("item",)
    entry = name.replace("-", "_")
    module = f"atg_dataplane_{entry}"
    distribution = f"atg-dataplane-{name.replace('_', '-')}"
    target = Path(directory) / distribution
    if target.exists():
        raise TemplateError(f"{target} already exists: choose another --dir or remove it")
    core_min, core_next = _core_range()
    values = {
        "name": entry,
        "module": module,
        "distribution": distribution,
        "resource_type": resource_type,
        "item_kinds": repr(kinds),
        "core_min": core_min,
        "core_next": core_next,
    }
    root = resources.files("atg_dataplane") / "plugin_template"
    for source, relative in _walk(root, Path()):
        out = target / Path(str(relative).replace("__module__", module)).with_suffix("")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(Template(source.read_text(encoding="utf-8")).substitute(values))
    return target


def _walk(node, relative: Path):  # type: ignore[no-untyped-def]
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            if child.name != "__pycache__":
                yield from _walk(child, relative / child.name)
        elif child.name.endswith(".tmpl"):
            yield child, relative / child.name
