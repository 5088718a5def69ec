"""Every hook has an entry in docs/hooks.md with its arguments and an example."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from atg_dataplane import hookspecs
from atg_dataplane.plugins import HOOK_NAMES

HOOKS_DOC = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def _sections() -> dict[str, str]:
    text = HOOKS_DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## (\S+)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_hook_list_is_not_empty() -> None:
    assert "dataplane_discover" in HOOK_NAMES
    assert len(HOOK_NAMES) >= 7


@pytest.mark.parametrize("hook", sorted(HOOK_NAMES))
def test_hook_is_documented_with_arguments_and_example(hook: str) -> None:
    sections = _sections()
    assert hook in sections, f"docs/hooks.md has no '## {hook}' section"
    body = sections[hook]
    rows = {
        name: (kind, meaning.strip())
        for name, kind, meaning in re.findall(r"^\| `(\w+)` \| `([^`]+)` \|(.*)\|$", body, re.M)
    }
    parameters = inspect.signature(getattr(hookspecs, hook)).parameters
    for argument, parameter in parameters.items():
        # every argument in the table, with the spec's type and a meaning
        assert argument in rows, f"docs for {hook}: no row for its argument {argument!r}"
        kind, meaning = rows[argument]
        assert kind == str(parameter.annotation), f"{hook}.{argument}: documented as {kind}"
        assert len(meaning) > 10, f"{hook}.{argument}: say what it means"
    assert set(rows) <= set(parameters), f"docs for {hook} list arguments it does not have"
    if not parameters:
        assert "No arguments." in body
    assert "```python" in body and "@hookimpl" in body, f"docs for {hook} have no example"


def test_no_documented_hook_is_missing_from_the_specs() -> None:
    assert set(_sections()) <= HOOK_NAMES
