"""``sandbox seed --scenario large``: the measured tenant's composition times ``--scale``."""

from __future__ import annotations

import pytest
from atg_dataplane_sandbox import scenarios
from atg_dataplane_sandbox import seed as seed_module
from atg_dataplane_sandbox.pytest_plugin import SandboxHandle


def _composition(scenario: scenarios.Scenario) -> dict[str, int]:
    totals = {"keyvault": 0, "storage": 0, "databases": 0, "documents": 0, "images": 0, "apis": 0}
    for resource in scenario.resources:
        c = resource.contents
        if resource.kind == "keyvault":
            totals["keyvault"] += len(c.secrets) + len(c.keys) + len(c.certificates)
        elif resource.kind == "storage":
            totals["storage"] += (len(c.containers) + sum(len(x.blobs) for x in c.containers)
                                  + len(c.tables) + len(c.queues))
        elif resource.kind == "cosmos":
            totals["databases"] += len(c.databases)
            totals["documents"] += sum(
                k.documents + k.large_documents for d in c.databases for k in d.containers)
        elif resource.kind == "registry":
            totals["images"] += sum(len(image.tags) for image in c.images)
        elif resource.kind == "apimanagement":
            totals["apis"] += c.apis
    return totals


@pytest.mark.parametrize("scale", [1, 3])
def test_composition_scales(scale: int) -> None:
    assert _composition(scenarios.large(scale)) == {
        "keyvault": 70 * scale, "storage": 61 * scale, "databases": 17 * scale + 1,
        "documents": 2000 * scale, "images": 16 * scale, "apis": 5 * scale}


@pytest.mark.parametrize("scale", [10, 15, 100])
def test_no_cosmos_account_holds_more_than_azure_allows(scale: int) -> None:
    """Azure allows 500 databases and containers in one Cosmos DB account, and no more: past
    that, the databases go on in the pool's next account, as a real tenant's would."""
    plan = scenarios.large(scale)
    accounts = {r.source_name: r.contents for r in plan.resources if r.kind == "cosmos"}
    sizes = [sum(1 + len(d.containers) for d in c.databases) for c in accounts.values()]
    assert max(sizes) <= scenarios.COSMOS_ACCOUNT_LIMIT
    assert len(accounts) == {10: 1, 15: 2, 100: 7}[scale]
    assert sorted(accounts) == [f"srccosmos{i}" for i in range(2, len(accounts) + 2)]
    assert plan.pool_accounts("cosmos") == len(accounts) + 1  # srccosmos1 is the reference's
    assert _composition(plan)["databases"] == 17 * scale + 1


def test_a_sandbox_with_too_few_accounts_is_refused_before_seeding() -> None:
    two = {"cosmos": {"accounts": {f"{p}cosmos{i}": "" for p in ("src", "tgt") for i in (1, 2)}}}
    four = {"azurite": {"accounts": {f"srcstore{i}": "source" for i in range(1, 5)}}}
    seed_module._check_pools(scenarios.large(10), {**two, **four})  # enough: no error
    with pytest.raises(seed_module.SeedError) as info:
        seed_module._check_pools(scenarios.large(100), {**two, **four})
    assert str(info.value) == (
        "scenario large at scale 100 needs 8 Cosmos DB accounts per tenant and the sandbox "
        "has 2: run `atg-dataplane sandbox down`, then `atg-dataplane sandbox up "
        "--cosmos-accounts 8`"
    )


def test_unknown_scenario_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown scenario 'huge'"):
        scenarios.get("huge")


def test_seed_large_through_the_sdks(sandbox: SandboxHandle) -> None:
    report = sandbox.seed("large", scale=1)
    counts = report.counts
    assert counts["secrets"] + counts["keys"] + counts["certificates"] == 70
    assert (counts["blob_containers"] + counts["blobs"] + counts["tables"]
            + counts["queues"]) == 61
    assert counts["databases"] == 18 and counts["documents"] == 2000
    assert counts["images"] == 16
    # 5 APIs of 6 operations, then an API's life: a schema's operation, a revision (a copy
    # of its API's 7 and one more) and an API imported with 2 operations
    assert counts["api"] == 5 + 2 and counts["operation"] == 30 + 1 + 8 + 2
    assert report.seconds < 60
