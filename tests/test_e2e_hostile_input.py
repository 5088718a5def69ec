"""Hostile input and broken local state, end to end as a user meets them: names that look
like markup, format strings or escape sequences; configs that do not mean what they say;
a journal that is corrupt, from the future, or on a full disk; report paths that cannot
be written; plugin lists that name nothing installed. Each ends in one clear line and a
meaningful exit code, never an internal error, and writes nothing it should not.

Covers issue 13's acceptance 1 and 2.
"""

from __future__ import annotations

import html
import json
import os
import resource
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Cli, start_private_sandbox

pytestmark = pytest.mark.sandbox
KEY_VAULT = "Microsoft.KeyVault/vaults"
STORAGE = "Microsoft.Storage/storageAccounts"

# Legal blob names that markup, format strings, emoji codes, escapes and direction marks
# would each mangle if they were interpreted anywhere on the way out. (Control characters
# are legal in Azure blob names, which listings then encode; Azurite answers such a listing
# with 500, so they are covered by core/tests/test_display.py instead.)
NAMES = [
    "[bold]loud[/]",
    "[/]",
    "{0}{name}%s%(x)s%%d",
    ":smile: :rocket:",
    "back\\slash\\n",
    "rtl-\u202egnp.exe",
    "pipe|star*under_score`tick`",
    "<script>alert(1)</script>",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from atg_dataplane_sandbox import sandbox as sbx
    from atg_dataplane_sandbox import seed
    from atg_dataplane_sandbox.topology import load_topology

    directory = tmp_path_factory.mktemp("e2e-hostile")
    info = start_private_sandbox(directory)
    try:
        seed.seed(directory, "reference")
        config = json.loads(info.config_path.read_text())
        yield {"dir": directory, "config": config, "topology": load_topology(directory)}
    finally:
        sbx.down(directory)


def _write(world: dict[str, Any], name: str, config: dict[str, Any], bom: bool = False) -> str:
    path = world["dir"] / name
    text = json.dumps(config)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return str(path)


def _config(world: dict[str, Any], **changes: Any) -> dict[str, Any]:
    config = json.loads(json.dumps(world["config"]))
    config["filters"]["types"] = [KEY_VAULT]
    for path, value in changes.items():
        *parents, key = path.split("__")
        node = config
        for parent in parents:
            node = node.setdefault(parent, {})
        if value is _DELETE:
            node.pop(key, None)
        else:
            node[key] = value
    return config


_DELETE = object()


def _blob_service(world: dict[str, Any], account: str) -> Any:
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.storage.blob import BlobServiceClient

    directory = world["dir"]
    emulator = json.loads((directory / "emulator.json").read_text())
    key = (directory / "secrets" / "azurite" / account).read_text().strip()
    return BlobServiceClient(
        f"{emulator['storage']['blob']}/{account}/",
        AzureNamedKeyCredential(account, key),
        connection_verify=str(directory / "ca.pem"),
    )


def _target_vault_is_empty(world: dict[str, Any]) -> None:
    from azure.identity import ClientSecretCredential
    from azure.keyvault.secrets import SecretClient

    directory = world["dir"]
    emulator = json.loads((directory / "emulator.json").read_text())
    topology = world["topology"]
    admin = topology.principal("target", "admin")
    ca = str(directory / "ca.pem")
    credential = ClientSecretCredential(
        topology.tenant("target").tenant_id,
        admin.client_id,
        topology.client_secret(admin),
        authority=emulator["entra"],
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    client = SecretClient(
        emulator["keyvault"]["kv-tgt-reference"],
        credential,
        verify_challenge_resource=False,
        connection_verify=ca,
    )
    assert [p.name for p in client.list_properties_of_secrets()] == [], "something was written"


def _one_error_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


# -- user data is never interpreted -------------------------------------------------------


def test_hostile_names_come_out_verbatim_in_every_command_and_format(world, tmp_path):
    from atg_dataplane.display import markdown_cell, visible

    service = _blob_service(world, "srcstore1")
    container = service.get_container_client("hostile")
    if not container.exists():
        container.create_container()
    for name in NAMES:
        blob = container.upload_blob(name, b"x", overwrite=True)
        # Archived: every one is reported by name, with a reason, in every output.
        blob.set_standard_blob_tier("Archive")
    # As the service holds them (a backslash is stored as a slash, as in Azure).
    names = [blob.name for blob in container.list_blobs()]
    assert len(names) == len(NAMES)
    config = _write(world, "hostile.json", _config(world, filters__types=[STORAGE]))
    cli = Cli(cwd=world["dir"])
    outputs = {}
    for command in (
        ("plan", "--mode", "replication"),
        ("replicate", "--mode", "replication", "--yes"),
        ("verify", "--mode", "replication"),
    ):
        for fmt in ("text", "json"):
            result = cli(*command, "--config", config, "-o", fmt, check=None)
            assert result.code in (0, 1), result.stderr[-2000:]
            assert "Traceback" not in result.stderr and "internal error" not in result.stderr
            outputs[(command[0], fmt)] = result
    for key in (("replicate", "text"), ("verify", "text")):
        text = outputs[key].stdout + outputs[key].stderr
        assert "\x1b" not in text and "\u202e" not in text, key  # nothing raw reaches a terminal
        for name in names:
            assert visible(name) in text, (key, name)
    events = [
        json.loads(line)
        for line in outputs[("replicate", "json")].stdout.splitlines()
        if line.startswith("{")
    ]
    skipped = {e["item_name"] for e in events if e.get("event") == "item_skipped"}
    assert {f"hostile/{n}" for n in names} <= skipped  # JSON carries them exactly
    verify = json.loads(outputs[("verify", "json")].stdout)
    listed = {i["name"] for i in verify["items"]}
    assert {f"hostile/{n}" for n in names} <= listed
    md, page = tmp_path / "r.md", tmp_path / "r.html"
    for report in (md, page):
        cli("verify", "--config", config, "--mode", "replication", "--report", str(report),
            check=None)
    unescaped = html.unescape(page.read_text())
    markdown = md.read_text()
    for name in names:
        assert visible(f"hostile/{name}") in unescaped, name
        assert markdown_cell(f"hostile/{name}") in markdown, name
    # the report's own filter is its only script: no name became one
    assert page.read_text().lower().count("<script") == 1


# -- a config means what it says -------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"mappings": {}}, "unknown key 'mappings' at the top level; did you mean 'mapping'?"),
        ({"source__resource_group": "rg-x"}, "did you mean 'resource_groups'?"),
        ({"target__resource_groups": ["rg-x"]}, "did you mean 'resource_group'?"),
        ({"filters__type": [KEY_VAULT]}, "did you mean 'types'?"),
        ({"mapping__name": {"a": "b"}}, "did you mean 'names'?"),
        ({"source__credential__clientid": "x"}, "did you mean 'client_id'?"),
        ({"source__tenant_id": 42}, "source.tenant_id must be a string"),
        ({"source__resource_groups": 5}, "source.resource_groups must be a list of strings"),
        ({"options": ["a"]}, "[options] must be a table"),
        ({"options": {"storage.snapshot": True}}, "unknown option 'storage.snapshot'"),
        ({"options": {"storage.sync_copy_max_bytes": "big"}}, "storage.sync_copy_max_bytes"),
        ({"options": {"keyvault.key_backup": "sometimes"}}, "keyvault.key_backup"),
        ({"retry": {"attempts": 2}}, "unknown key 'attempts' in [retry]"),
    ],
)
def test_a_config_that_does_not_say_what_it_means_is_refused(world, changes, expected):
    cli = Cli(cwd=world["dir"])
    config = _write(world, "bad-config.json", _config(world, **changes))
    for command in (("plan",), ("replicate", "--yes")):
        result = cli(*command, "--config", config, "--mode", "replication", check=2)
        line = _one_error_line(result)
        assert expected.lower() in line.lower(), line
    _target_vault_is_empty(world)


def test_the_same_resource_as_source_and_target_is_refused(world):
    source = world["config"]["source"]
    same = _config(
        world,
        target__tenant_id=source["tenant_id"],
        target__subscription_id=source["subscription_id"],
        target__resource_group=source["resource_groups"][0],
        target__credential=source["credential"],
    )
    same["mapping"]["names"] = {}
    cli = Cli(cwd=world["dir"])
    result = cli("replicate", "--config", _write(world, "same.json", same), "--mode",
                 "replication", "--yes", check=2)
    assert "is both the source and the target" in _one_error_line(result)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (("--disable", "keyvalut"), {}, "--disable names no installed plugin: 'keyvalut'"),
        ((), {"ATG_DATAPLANE_PLUGINS": "keyvalut"}, "ATG_DATAPLANE_PLUGINS"),
        ((), {"ATG_DATAPLANE_DISABLE_PLUGINS": "nosuch"}, "ATG_DATAPLANE_DISABLE_PLUGINS"),
    ],
)
def test_plugin_lists_that_name_nothing_installed_are_refused(world, args, env, expected):
    cli = Cli(cwd=world["dir"])
    config = _write(world, "lists.json", _config(world))
    result = cli(*args, "replicate", "--config", config, "--mode", "replication", "--yes",
                 env=env, check=2)
    line = _one_error_line(result)
    assert expected in line and "keyvault" in line, line  # names what is installed
    _target_vault_is_empty(world)


def test_a_config_with_a_byte_order_mark_is_read(world):
    cli = Cli(cwd=world["dir"])
    config = _write(world, "bom.json", _config(world), bom=True)
    plan = cli("plan", "--config", config, "--mode", "template", "-o", "json").json()
    assert plan["items"] > 0


def test_an_error_of_the_target_side_names_the_target(world):
    cli = Cli(cwd=world["dir"])
    wrong = _config(world, target__subscription_id=world["config"]["source"]["subscription_id"])
    result = cli("replicate", "--config", _write(world, "wrong-sub.json", wrong), "--mode",
                 "replication", "--yes", check=2)
    line = _one_error_line(result)
    assert "target" in line and "subscription" in line, line
    empty = world["dir"] / "empty-secret"
    empty.write_text("")
    cred = dict(world["config"]["target"]["credential"], client_secret_file=str(empty))
    result = cli("replicate", "--config",
                 _write(world, "empty-secret.json", _config(world, target__credential=cred)),
                 "--mode", "replication", "--yes", check=2)
    line = _one_error_line(result)
    assert "target" in line and "empty" in line and str(empty) in line, line


# -- local state that fails --------------------------------------------------------------------


def _state(world: dict[str, Any]) -> Path:
    return world["dir"] / ".atg-dataplane"


def _fresh_state(world: dict[str, Any]) -> None:
    import shutil

    shutil.rmtree(_state(world), ignore_errors=True)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "newer"])
def test_a_broken_journal_is_one_line_and_moved_aside_on_request(world, damage):
    cli = Cli(cwd=world["dir"])
    config = _write(world, "journal.json", _config(world))
    _fresh_state(world)
    cli("replicate", "--config", config, "--mode", "template")
    journal = _state(world) / "journal.db"
    for suffix in ("-wal", "-shm"):
        Path(str(journal) + suffix).unlink(missing_ok=True)
    if damage == "garbage":
        journal.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        journal.write_bytes(journal.read_bytes()[:1500])
    else:
        with sqlite3.connect(journal) as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', '999')")
    result = cli("replicate", "--config", config, "--mode", "template", check=2)
    line = _one_error_line(result)
    assert str(journal) in line and "--reset-journal" in line, line
    if damage == "newer":
        assert "newer" in line
    moved = cli("replicate", "--config", config, "--mode", "template", "--reset-journal")
    assert "moved aside" in moved.stdout + moved.stderr
    aside = [
        p
        for p in _state(world).iterdir()
        if p.name.startswith("journal.db.broken-") and not p.name.endswith(("-wal", "-shm"))
    ]
    assert len(aside) == 1  # kept, never deleted
    _fresh_state(world)


def test_a_state_folder_that_cannot_be_written_is_one_line(world):
    cli = Cli(cwd=world["dir"])
    config = _write(world, "state.json", _config(world))
    _fresh_state(world)
    _state(world).write_text("a file where the state folder belongs")
    try:
        line = _one_error_line(
            cli("replicate", "--config", config, "--mode", "template", check=2)
        )
        assert str(_state(world)) in line, line
    finally:
        _state(world).unlink()


def _full_disk() -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (160 * 1024, 160 * 1024))


def test_a_full_disk_mid_run_stops_with_one_line_and_the_run_resumes(world):
    import subprocess
    import sys

    cli = Cli(cwd=world["dir"])
    config = _write(world, "full.json", _config(world))
    _fresh_state(world)
    # Coverage measurement in the child would itself hit the size limit at exit
    # and print its own traceback: this one run goes unmeasured.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "atg_dataplane", "replicate", "--config", config, "--mode",
         "replication", "--yes"],
        cwd=world["dir"], capture_output=True, text=True, timeout=300, preexec_fn=_full_disk,
        stdin=subprocess.DEVNULL, env={**env, "COLUMNS": "200"},
    )
    if proc.returncode == 0:
        pytest.skip("the journal never outgrew the file size limit here")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "journal" in proc.stderr and "disk" in proc.stderr.lower(), proc.stderr[-1000:]
    resumed = cli("replicate", "--config", config, "--mode", "replication", "--yes")
    assert "resuming run" in resumed.stdout + resumed.stderr
    verify = cli("verify", "--config", config, "--mode", "replication", "-o", "json").json()
    assert verify["fidelity"] == 100.0


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        ("no-such-folder/report.html", "does not exist"),
        ("report.pdf", "unsupported report format '.pdf'"),
    ],
)
def test_a_report_that_cannot_be_written_is_refused_before_verifying(world, report, expected):
    cli = Cli(cwd=world["dir"])
    config = _write(world, "report.json", _config(world))
    result = cli("verify", "--config", config, "--mode", "template", "--report",
                 str(world["dir"] / report), check=2)
    assert expected in _one_error_line(result)
