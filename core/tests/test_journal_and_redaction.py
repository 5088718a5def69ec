from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace

from atg_dataplane.journal import Journal, run_identity
from atg_dataplane.permcheck import allowed
from atg_dataplane.redact import redact


def test_journal_is_private_and_resumable(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j" / "journal.db")
    assert stat.S_IMODE((tmp_path / "j" / "journal.db").stat().st_mode) == 0o600
    key = journal.fingerprint_key()
    assert journal.fingerprint_key() == key and len(key) == 32
    ident = run_identity("cfg", "template")
    run = journal.start_run(ident, "template")
    journal.record(run.run_id, "/r", "secret:a", kind="secret", name="a", status="replicated")
    journal.record(
        run.run_id,
        "/r",
        "secret:b",
        kind="secret",
        name="b",
        status="failed",
        reason="403 Forbidden https://x?sig=abc&se=1",
    )
    assert journal.done_keys(run.run_id, "/r") == {"secret:a"}
    assert journal.unfinished_run(ident) == run
    items = {i["name"]: i for i in journal.items(run.run_id)}
    assert "abc" not in items["b"]["reason"]
    journal.finish_run(run.run_id, "finished", {})
    assert journal.unfinished_run(ident) is None
    assert journal.get_run(run.run_id).status == "finished"  # type: ignore[union-attr]


def test_redact_removes_credentials() -> None:
    text = (
        "GET https://a.blob.core.windows.net/c/b?sv=2021&sig=SECRETSIG%3D&se=x "
        "Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl AccountKey=abc123==;"
    )
    cleaned = redact(text)
    for secret in ("SECRETSIG", "eyJhbGciOi", "abc123"):
        assert secret not in cleaned
    assert "sig=REDACTED" in cleaned


def test_permission_wildcards_and_not_actions() -> None:
    grant = SimpleNamespace(
        actions=["Microsoft.KeyVault/*"],
        not_actions=["*/delete"],
        data_actions=["Microsoft.KeyVault/vaults/secrets/*"],
        not_data_actions=["Microsoft.KeyVault/vaults/secrets/getSecret/action"],
    )
    assert allowed("Microsoft.KeyVault/vaults/read", [grant], data=False)
    assert not allowed("Microsoft.KeyVault/vaults/delete", [grant], data=False)
    assert not allowed("Microsoft.Storage/storageAccounts/read", [grant], data=False)
    assert allowed("microsoft.keyvault/vaults/secrets/setSecret/action", [grant], data=True)
    assert not allowed("Microsoft.KeyVault/vaults/secrets/getSecret/action", [grant], data=True)
    assert not allowed("Microsoft.KeyVault/vaults/keys/read", [grant], data=True)


def test_bindings_never_print_plugin_state() -> None:
    from atg_dataplane.clouds import AZURE_PUBLIC
    from atg_dataplane.context import ResourceBinding, SideContext
    from atg_dataplane.models import AzureResource

    side = SideContext(
        side="source", tenant_id="t", subscription_id="s", credential=object(), cloud=AZURE_PUBLIC
    )
    rid = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"
    binding = ResourceBinding(
        AzureResource(id=rid, type="Microsoft.Storage/storageAccounts", name="a"), side
    )
    binding.state["account_key"] = "S3CRETKEY=="
    assert "S3CRETKEY" not in repr(binding) and rid in repr(binding)
    assert "credential" not in repr(side)


def test_redact_removes_passwords_in_urls() -> None:
    assert redact("neo4j://neo4j:hunter2@host:7687") == "neo4j://neo4j:REDACTED@host:7687"


def test_journal_refuses_a_second_run_at_once(tmp_path: Path) -> None:
    import pytest
    from atg_dataplane.config import ConfigError

    first = Journal(tmp_path / "journal.db")
    first.lock()
    second = Journal(tmp_path / "journal.db")
    with pytest.raises(ConfigError, match="another atg-dataplane run"):
        second.lock()
    first.close()
    second.lock()
    second.close()
