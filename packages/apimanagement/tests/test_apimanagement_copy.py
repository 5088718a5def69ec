"""The plugin against the sandbox's API Management services (the reference scenario's),
through the core's engine and verifier: template, then replication, verify 100 %, a re-run
writes nothing, the secret named value's canary never leaves the tenants; and what the
target holds, read back through azure-mgmt-apimanagement."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from atg_dataplane import ReplicationMode, ResourceBinding
from atg_dataplane.testing import PairRun
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.apimanagement import ApiManagementClient

pytestmark = pytest.mark.sandbox
GROUPS = {"source": "rg-source-data", "target": "rg-target-data"}
SERVICES = {"source": "apim-src-reference", "target": "apim-tgt-reference"}
TEMPLATE, REPLICATION = ReplicationMode.TEMPLATE, ReplicationMode.REPLICATION


def _client(sandbox: Any, side: str) -> ApiManagementClient:
    client: ApiManagementClient = sandbox.mgmt(ApiManagementClient, side)
    return client


def _binding(sandbox: Any, side: str) -> ResourceBinding:
    from atg_dataplane_apimanagement.plugin import dataplane_resource_types

    found = _client(sandbox, side).api_management_service.get(GROUPS[side], SERVICES[side])
    binding: ResourceBinding = sandbox.binding(side, found.id, dataplane_resource_types()[0])
    return binding


@pytest.fixture(scope="module")
def seeded(sandbox: Any) -> Any:
    sandbox.seed("reference")
    return sandbox


def _not_matching(report: Any) -> list[Any]:
    return [v for v in report.verdicts if v.status != "matching"]


def test_template_then_replication_then_nothing(seeded: Any, tmp_path: Path) -> None:
    run = PairRun("apimanagement", _binding(seeded, "source"), _binding(seeded, "target"), tmp_path)
    target = _client(seeded, "target")
    group, service = GROUPS["target"], SERVICES["target"]
    # start where Terraform leaves it: no secret in the target (another test may have copied)
    target.named_value.delete(group, service, "backend-key", if_match="*")

    template = run.replicate(TEMPLATE)
    assert template.result.failed == 0, template.result.errors[:5]
    assert run.verify(TEMPLATE).fidelity == 100.0, _not_matching(run.verify(TEMPLATE))
    placeholder = target.named_value.list_value(group, service, "backend-key").value
    assert placeholder.startswith("atg-dataplane-template-placeholder")

    replication = run.replicate(REPLICATION)
    assert replication.result.failed == 0, replication.result.errors[:5]
    report = run.verify(REPLICATION)
    assert report.fidelity == 100.0, _not_matching(report)
    kinds = report.by_type()["Microsoft.ApiManagement/service"]["by_kind"]
    counts = seeded.seed("reference").counts  # what the seed wrote, kind by kind
    for kind in ("operation", "api", "named_value", "subscription", "schema", "release"):
        assert kinds[kind]["matching"] == counts[kind], kind
    for kind in ("api_tag", "operation_tag", "product_tag"):
        assert kinds[kind]["matching"] == counts[kind], kind
    # what the service never gives back (a user's password, an uploaded PFX) and what
    # names the source tenant's directory (an Entra user, an external group, their link)
    assert kinds["user"] == {"not_copyable": 2} and kinds["certificate"]["not_copyable"] == 1
    assert kinds["group"] == {"matching": 1, "not_copyable": 1}
    assert kinds["group_user"] == {"matching": 1, "not_copyable": 1}

    source = _client(seeded, "source")
    src_group, src_service = GROUPS["source"], SERVICES["source"]
    assert target.named_value.list_value(group, service, "backend-key").value == (
        source.named_value.list_value(src_group, src_service, "backend-key").value
    )
    keys = target.subscription.list_secrets(group, service, "product-0-sub")
    assert (
        keys.primary_key
        == source.subscription.list_secrets(src_group, src_service, "product-0-sub").primary_key
    )
    policy = target.api_policy.get(group, service, "api-0", "policy").value
    assert "{{backend-key}}" in policy and "include-fragment" in policy
    api = target.api.get(group, service, "api-0")
    assert api.api_version_set_id.lower().startswith(
        target.api_management_service.get(group, service).id.lower()
    )  # re-pointed to the target's own version set

    # revision 2 is released in the target too; the user is there, without a password
    revision = target.api.get(group, service, "api-0;rev=2")
    assert revision.is_current is True and revision.api_revision == "2"
    release = target.api_release.get(group, service, "api-0", "v2-live")
    assert release.api_id.lower().startswith(
        target.api_management_service.get(group, service).id.lower()
    )
    assert target.tag.get_entity_state_by_operation(group, service, "api-0", "op-0", "public")
    assert target.user.get(group, service, "ada").email == "ada@partners.example"
    with pytest.raises(ResourceNotFoundError):
        target.certificate.get(group, service, "client-cert")

    again = run.replicate(REPLICATION)
    assert again.result.replicated == 0 and again.result.failed == 0

    # the seeded secret's canary: in both tenants, never in the journal
    seeded_values = json.loads((seeded.dir / "seeded-canaries.json").read_text())["values"]
    canaries = {v for v in re.findall(r"atgcanary-[0-9a-f]{24}", " ".join(seeded_values))}
    secret = source.named_value.list_value(src_group, src_service, "backend-key").value
    assert secret in canaries
    journal = run.journal.path.read_bytes()
    assert secret.encode() not in journal


def test_a_policy_whose_named_value_failed_fails_alone(seeded: Any, tmp_path: Path) -> None:
    """The target already has another named value displayed as ``backend-key`` (display
    names are unique in a service), so ours cannot be written: the policy naming
    ``{{backend-key}}`` fails saying so; everything else is copied."""
    target = _client(seeded, "target")
    group, service = GROUPS["target"], SERVICES["target"]
    for name in ("backend-key", "squatter"):
        target.named_value.delete(group, service, name, if_match="*")
    target.api_policy.delete(group, service, "api-0", "policy", if_match="*")
    target.named_value.begin_create_or_update(
        group, service, "squatter", {"display_name": "backend-key", "value": "x"}
    ).result()
    try:
        run = PairRun(
            "apimanagement", _binding(seeded, "source"), _binding(seeded, "target"), tmp_path
        )
        summary = PairRun.replicate(run, REPLICATION)
        failed = {
            (i["kind"], i["name"]): i["reason"]
            for i in run.journal.items(summary.run_id)
            if i["status"] == "failed"
        }
        policies = {("api_policy", "api-0"), ("api_policy", "api-0;rev=2")}  # both name it
        assert set(failed) == {("named_value", "backend-key"), *policies}
        assert "display name 'backend-key' already exists" in failed[("named_value", "backend-key")]
        for policy in policies:
            assert failed[policy] == (
                "needs named_value:backend-key, which failed in this run: fix that and re-run"
            )
        assert summary.result.replicated + summary.result.skipped == summary.result.discovered - 3
    finally:
        target.named_value.delete(group, service, "squatter", if_match="*")
    again = run.replicate(REPLICATION)  # the cause removed, the next run copies both
    assert again.result.failed == 0
