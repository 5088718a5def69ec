"""Plugin options: declared by plugins, checked and converted by the core before any
request (pure logic over declarations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from atg_dataplane.config import ConfigError
from atg_dataplane.models import PluginOption, ResourceTypeSpec
from atg_dataplane.options import check_options, convert

SPEC = ResourceTypeSpec(
    "Contoso.Widgets/widgets",
    ("widget",),
    options=(
        PluginOption("widgets.all_versions", "bool", False, aliases=("all_versions",)),
        PluginOption("widgets.batch", "int", 10, minimum=1),
        PluginOption("widgets.timeout", "float", 1.5, minimum=0.1),
        PluginOption("widgets.mode", "choice", "auto", choices=("auto", "fast")),
        PluginOption("widgets.kinds", "list", ["a"], choices=("a", "b")),
        PluginOption("widgets.label", "str", ""),
    ),
)


@dataclass
class _Record:
    name: str


@dataclass
class _Host:
    types: dict[str, Any] = field(default_factory=lambda: {SPEC.key: ("widgets", SPEC)})
    records: list[_Record] = field(default_factory=lambda: [_Record("widgets"), _Record("gadgets")])


def test_values_are_converted_to_what_the_option_takes() -> None:
    got = check_options(
        _Host(),
        {
            "all_versions": "true",
            "widgets.batch": "64",
            "widgets.timeout": 3,
            "widgets.mode": "FAST",
            "widgets.kinds": "a, b",
            "widgets.label": "x",
            "gadgets.anything": {"their": "own"},  # a plugin that declares nothing
        },
    )
    assert got == {
        "all_versions": True,
        "widgets.batch": 64,
        "widgets.timeout": 3.0,
        "widgets.mode": "fast",
        "widgets.kinds": ["a", "b"],
        "widgets.label": "x",
        "gadgets.anything": {"their": "own"},
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"widgets.bach": 3}, "unknown option 'widgets.bach' (plugin widgets); did you mean"),
        ({"widgets.zzz": 3}, "it reads: widgets.all_versions, widgets.batch"),
        ({"gizmos.x": 1}, "no installed plugin is named 'gizmos'"),
        ({"batch": 1}, "no plugin reads it"),
        ({"widgets.batch": "big"}, "widgets.batch must be a whole number, not 'big'"),
        ({"widgets.batch": True}, "widgets.batch must be a whole number"),
        ({"widgets.batch": 0}, "widgets.batch must be at least 1"),
        ({"widgets.timeout": "soon"}, "widgets.timeout must be a number"),
        ({"widgets.mode": "slow"}, "widgets.mode must be one of auto, fast, not 'slow'"),
        ({"widgets.kinds": "a,c"}, "widgets.kinds must be one of a, b, not 'c'"),
        ({"widgets.kinds": 5}, "widgets.kinds must be a list of strings"),
        ({"widgets.all_versions": "maybe"}, "must be true or false, not 'maybe'"),
        ({"widgets.label": 3}, "widgets.label must be a string"),
    ],
)
def test_a_bad_option_is_one_line_naming_it(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_options(_Host(), options)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        PluginOption("widgets.x", "colour")
    with pytest.raises(ValueError, match=r"<plugin>\.<option>"):
        PluginOption("x")
    assert convert(PluginOption("w.flag", "bool"), "off") is False


def test_the_core_sets_verify_shallow_for_every_plugin() -> None:
    """``verify --shallow`` reaches plugins as a flag no plugin declares."""
    assert check_options(_Host(), {"verify.shallow": "true"}) == {"verify.shallow": True}
    assert check_options(_Host(), {"verify.shallow": False}) == {"verify.shallow": False}
