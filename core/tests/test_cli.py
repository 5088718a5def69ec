"""The ``atg-dataplane`` command line, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from atg_dataplane import __version__
from atg_dataplane import cli as cli_module
from atg_dataplane.cli import cli
from atg_dataplane_unit_samples import sample_ep
from click.testing import CliRunner

pytestmark = pytest.mark.usefixtures("fresh_cli")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_version(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed()
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"atg-dataplane, version {__version__}"


def test_help_lists_core_and_plugin_commands(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed(sample_ep("alpha", "good"), sample_ep("broken", "broken"))
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    for command in ("plugins", "new-plugin", "alpha-hello", "--disable"):
        assert command in result.output
    assert runner.invoke(cli, ["-h"]).exit_code == 0


def test_help_works_when_every_plugin_is_broken(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed(sample_ep("broken", "broken"), sample_ep("unknown", "unknown_hook"))
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "plugins" in result.output


def test_plugins_with_nothing_installed(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed()
    text = runner.invoke(cli, ["plugins"])
    assert text.exit_code == 0
    assert "No plugins installed" in text.output
    as_json = runner.invoke(cli, ["plugins", "--output", "json"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output) == []


def test_plugins_json_lists_failures_and_exits_0(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed(
        sample_ep("alpha", "good"),
        sample_ep("broken", "broken"),
        sample_ep("unknown", "unknown_hook"),
    )
    result = runner.invoke(cli, ["plugins", "-o", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"alpha", "broken", "unknown"}
    for row in rows.values():
        assert set(row) >= {"name", "distribution", "version", "resource_types", "status", "error"}
    assert rows["alpha"]["status"] == "loaded"
    assert rows["alpha"]["resource_types"] == ["Contoso.Alpha/things"]
    assert rows["broken"]["status"] == "failed"
    assert "RuntimeError" in rows["broken"]["error"]
    assert "dataplane_not_a_hook" in rows["unknown"]["error"]


def test_plugins_text_table(
    runner: CliRunner,
    installed,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich sizes the table from COLUMNS
    installed(sample_ep("alpha", "good"), sample_ep("beta"), sample_ep("broken", "broken"))
    result = runner.invoke(cli, ["plugins"], terminal_width=200)
    assert result.exit_code == 0
    for text in ("alpha", "beta", "Contoso.Alpha/things", "loaded", "failed"):
        assert text in result.output
    assert "broken: import failed: RuntimeError: sample plugin fails at import" in result.output


def test_strict_mode_fails_naming_the_plugin(
    runner: CliRunner,
    installed,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    installed(sample_ep("alpha", "good"), sample_ep("broken", "broken"))
    monkeypatch.setenv("ATG_DATAPLANE_STRICT_PLUGINS", "1")
    result = runner.invoke(cli, ["plugins", "--output", "json"])
    assert result.exit_code == 4
    assert "error: plugin load failed in strict mode: broken" in result.stderr
    assert result.stdout == ""


def test_disable_option_and_env_lists(
    runner: CliRunner,
    installed,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    installed(sample_ep("alpha", "good"), sample_ep("beta"), sample_ep("broken", "broken"))
    monkeypatch.setenv("ATG_DATAPLANE_STRICT_PLUGINS", "1")
    result = runner.invoke(cli, ["--disable", "broken", "plugins", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert {r["name"]: r["status"] for r in json.loads(result.stdout)} == {
        "alpha": "loaded",
        "beta": "loaded",
        "broken": "disabled",
    }
    monkeypatch.setenv("ATG_DATAPLANE_PLUGINS", "beta")
    result = runner.invoke(cli, ["plugins", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert {r["name"]: r["status"] for r in json.loads(result.stdout)} == {
        "alpha": "disabled",
        "beta": "loaded",
        "broken": "disabled",
    }


def test_plugin_command_runs(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed(sample_ep("alpha", "good"), sample_ep("broken", "broken"))
    result = runner.invoke(cli, ["alpha-hello"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello from alpha\n"


def test_disabled_plugin_adds_no_command(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed(sample_ep("alpha", "good"))
    result = runner.invoke(cli, ["--disable", "alpha", "alpha-hello"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_failing_register_commands_does_not_break_the_cli(
    runner: CliRunner,
    installed,  # type: ignore[no-untyped-def]
) -> None:
    installed(sample_ep("alpha", "good"), sample_ep("bad_command"))
    result = runner.invoke(cli, ["alpha-hello"])
    assert result.exit_code == 0
    assert "hello from alpha" in result.output


def test_unknown_command(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed()
    result = runner.invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_verbose_flag(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed()
    assert runner.invoke(cli, ["-vv", "plugins"]).exit_code == 0


def test_new_plugin(runner: CliRunner, tmp_path: Path) -> None:
    args = ["new-plugin", "web", "--resource-type", "Microsoft.Web/sites", "--dir", str(tmp_path)]
    result = runner.invoke(cli, [*args, "--item-kind", "setting"])
    assert result.exit_code == 0, result.output
    created = tmp_path / "atg-dataplane-web"
    assert f"created {created}" in result.output
    assert f"pip install -e {created}" in result.output
    assert (created / "pyproject.toml").is_file()
    assert "('setting',)" in (created / "src/atg_dataplane_web/plugin.py").read_text()

    again = runner.invoke(cli, args)
    assert again.exit_code == 2
    assert "already exists" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad Name", "--resource-type", "A.B/c"], "plugin name"),
        (["web", "--resource-type", "nope"], "not an ARM type"),
    ],
)
def test_new_plugin_errors(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(cli, ["new-plugin", *args, "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr


def test_new_plugin_requires_a_resource_type(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["new-plugin", "web"])
    assert result.exit_code == 2
    assert "--resource-type" in result.output


def test_main_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["atg-dataplane", "--version"])
    with pytest.raises(SystemExit) as info:
        cli_module.main()
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_disable_is_honoured_by_help_in_strict_mode(
    runner: CliRunner,
    installed,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed(sample_ep("alpha", "good"), sample_ep("broken", "broken"))
    monkeypatch.setenv("ATG_DATAPLANE_STRICT_PLUGINS", "1")
    result = runner.invoke(cli, ["--disable", "broken", "--help"])
    assert result.exit_code == 0, result.output


def test_register_commands_failure_is_listed(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed(sample_ep("bad_command"))
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    result = runner.invoke(cli, ["plugins", "-o", "json"])
    (row,) = json.loads(result.stdout)
    assert row["status"] == "failed"
    assert "cannot add my command" in row["error"]


def test_a_plugin_cannot_replace_a_core_command(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed(sample_ep("hijack"))
    result = runner.invoke(cli, ["plugins", "-o", "json"])
    assert "hijacked" not in result.output
    (row,) = json.loads(result.stdout)
    assert row["status"] == "failed"
    assert "replaced commands: plugins" in row["error"]
    assert "hijacked" not in runner.invoke(cli, ["plugins"]).output


def test_strict_mode_makes_a_failing_command_registration_fatal(
    runner: CliRunner,
    installed,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed(sample_ep("alpha", "good"), sample_ep("bad_command"))
    monkeypatch.setenv("ATG_DATAPLANE_STRICT_PLUGINS", "1")
    result = runner.invoke(cli, ["alpha-hello"])
    assert result.exit_code == 4
    assert "strict mode" in result.output and "cannot add my command" in result.output
    assert runner.invoke(cli, ["--help"]).exit_code == 0  # help still lists what loads


def test_sandbox_without_its_plugin_says_how_to_install_it(
    runner: CliRunner,
    installed,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed(sample_ep("alpha", "good"))
    monkeypatch.delitem(cli.commands, "sandbox", raising=False)  # added by an earlier test
    result = runner.invoke(cli, ["sandbox", "up"])
    assert result.exit_code == 2
    assert "pip install atg-dataplane-sandbox" in result.output
    assert "No such command" not in result.output


def test_help_lists_the_exit_codes(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    installed()
    text = runner.invoke(cli, ["--help"]).output
    assert "Exit codes:" in text
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "70 ", "130 "):
        assert f"\n    {code}" in text, code


def test_verbosity_after_the_command(runner: CliRunner, installed) -> None:  # type: ignore[no-untyped-def]
    import logging

    installed()
    assert runner.invoke(cli, ["plan", "--help"]).output.count("--debug") == 1
    result = runner.invoke(cli, ["plan", "--config", "missing.json", "-vv"])
    assert result.exit_code == 2 and "No such option" not in result.output
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("azure").level == logging.ERROR  # SDK logging needs --debug
    runner.invoke(cli, ["plan", "--config", "missing.json", "--debug"])
    assert logging.getLogger("azure").level == logging.DEBUG
    runner.invoke(cli, ["plugins"])  # back to the defaults for the tests after this one
    assert logging.getLogger("azure").level == logging.ERROR
