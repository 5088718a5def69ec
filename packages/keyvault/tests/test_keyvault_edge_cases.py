"""Awkward contents, end to end through the engine: the kinds of things real vaults hold."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from atg_dataplane import ReplicationMode
from atg_dataplane.testing import PairRun
from azure.keyvault.keys import KeyReleasePolicy

LONGEST_NAME = "n" * 127
RELEASE_POLICY = json.dumps(
    {
        "version": "1.0.0",
        "anyOf": [
            {
                "authority": "https://sharedeus.eus.attest.azure.net",
                "allOf": [{"claim": "x-ms-attestation-type", "equals": "sevsnpvm"}],
            }
        ],
    }
).encode()


@pytest.fixture(scope="module")
def awkward(make_vault, admin):
    source = make_vault("source")
    a = admin(source)
    canary = "canary-" + uuid.uuid4().hex
    for n in range(4):  # versions written within one second
        a.secrets.set_secret("db-password", f"{canary}-v{n}", content_type="text/plain")
    a.secrets.set_secret("unicode", f"Grüße, 東京, Ελλάδα 🔐 {canary}")
    a.secrets.set_secret(LONGEST_NAME, canary)
    a.secrets.set_secret(
        "expired", canary, expires_on=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    )
    a.secrets.set_secret("multiline", f"-----BEGIN NOTE-----\n{canary}\n-----END NOTE-----\n")
    a.secrets.set_secret("empty-tags", canary, tags={})
    a.keys.create_rsa_key(
        "exportable", size=2048, exportable=True, release_policy=KeyReleasePolicy(RELEASE_POLICY)
    )
    a.keys.create_rsa_key("rsa-4096", size=4096, tags={"note": "big"})
    return source, canary


@pytest.mark.parametrize("all_versions", [False, True])
@pytest.mark.parametrize("mode", list(ReplicationMode))
def test_awkward_vault_round_trip(awkward, make_vault, admin, tmp_path, mode, all_versions):
    source, canary = awkward
    target = make_vault("target")
    harness = PairRun("keyvault", source, target, tmp_path)
    options = {"keyvault.all_versions": all_versions}

    first = harness.replicate(mode, options)
    assert first.result.failed == 0, first.result.errors
    time.sleep(0.01)
    second = harness.replicate(mode, options)
    assert second.result.failed == 0, second.result.errors
    kinds = second.by_resource[source.resource.id]
    assert sum(k.replicated for k in kinds.values()) == 0, {
        kind: vars(k) for kind, k in kinds.items()
    }

    report = harness.verify(mode, options)
    bad = [v for v in report.verdicts if v.status not in ("matching", "not_copyable")]
    assert not bad
    assert report.extra_in_target == 0
    assert canary not in repr(first.to_dict()) + repr(second.to_dict()) + repr(report.to_dict())
    if mode is ReplicationMode.REPLICATION:
        secrets = admin(target).secrets
        assert secrets.get_secret("unicode").value == f"Grüße, 東京, Ελλάδα 🔐 {canary}"
        assert secrets.get_secret(LONGEST_NAME).value == canary
        assert secrets.get_secret("db-password").value == f"{canary}-v3"
        versions = list(secrets.list_properties_of_secret_versions("db-password"))
        assert len(versions) == (4 if all_versions else 1)
