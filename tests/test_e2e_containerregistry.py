"""End to end, as a user types it: the Container Registry plugin through the CLI against a
private sandbox seeded with the reference registry (tags, a multi-arch index, a signature
and an SBOM, an untagged build, a locked tag, shared layers, a repository of 22 tags).

What landed is checked independently of the plugin: through the official SDK's own
listings and the registry's OCI referrers API.

Covers issue 16's acceptance 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import Cli, only_types, start_private_sandbox

pytestmark = pytest.mark.sandbox
REGISTRY = "Microsoft.ContainerRegistry/registries"
NAMES = {"source": "acrsrcreference", "target": "acrtgtreference"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from atg_dataplane_sandbox import sandbox as sbx
    from atg_dataplane_sandbox import seed

    directory = tmp_path_factory.mktemp("e2e-acr")
    info = start_private_sandbox(directory)
    only_types(info.config_path, REGISTRY)
    try:
        seed.seed(directory, "reference")
        yield {"dir": directory, "config": str(info.config_path)}
    finally:
        sbx.down(directory)


def _client(world: dict[str, Any], side: str) -> Any:
    from atg_dataplane_sandbox.topology import load_topology
    from azure.containerregistry import ContainerRegistryClient
    from azure.identity import ClientSecretCredential

    directory = world["dir"]
    emulator = json.loads((directory / "emulator.json").read_text())
    topology = load_topology(directory)
    principal = topology.principal(side, "admin")
    ca = str(directory / "ca.pem")
    credential = ClientSecretCredential(
        principal.tenant_id,
        principal.client_id,
        topology.client_secret(principal),
        authority=emulator["entra"],
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    return ContainerRegistryClient(
        emulator["acr"][NAMES[side]],
        credential,
        audience="https://containerregistry.azure.net",
        connection_verify=ca,
    )


def _contents(client: Any) -> dict[str, Any]:
    """Every repository's tags (name -> digest, locks) and manifests, tagged or not."""
    seen: dict[str, Any] = {}
    for repository in client.list_repository_names():
        tags = {
            t.name: (t.digest, t.can_write, t.can_delete)
            for t in client.list_tag_properties(repository)
        }
        manifests = {m.digest for m in client.list_manifest_properties(repository)}
        seen[repository] = {"tags": tags, "manifests": manifests}
    return seen


def _referrers(client: Any, repository: str, digest: str) -> set[tuple[str, str]]:
    from azure.core.rest import HttpRequest

    answer = client._client._client.send_request(
        HttpRequest("GET", f"{client._endpoint}/v2/{repository}/referrers/{digest}")
    )
    answer.raise_for_status()
    return {(r["digest"], r["artifactType"]) for r in answer.json()["manifests"]}


def test_a_registry_through_the_cli(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    config = world["config"]
    listing = cli("plugins", "--output", "json").json()
    assert any(p["name"] == "containerregistry" and p["status"] == "loaded" for p in listing)
    perms = cli("permissions", "--config", config, "--mode", "replication", "-o", "json").json()
    assert perms["ok"] is True, perms

    # Template mode: a registry cannot hold an empty repository; one line says so.
    template = cli("replicate", "--config", config, "--mode", "template", "-o", "json")
    assert template.summary()["replicated"] == 0
    assert _contents(_client(world, "target")) == {}

    source = _contents(_client(world, "source"))
    run = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    result = run.summary()
    assert result["failed"] == 0, result
    target = _contents(_client(world, "target"))
    # Every tag at the same digest, locks included.
    assert {r: s["tags"] for r, s in target.items()} == {r: s["tags"] for r, s in source.items()}
    assert target["samples/hello"]["tags"]["1.0"][1:] == (False, False)
    # The signature and the SBOM came with their image.
    src, dst = _client(world, "source"), _client(world, "target")
    subject = source["samples/hello"]["tags"]["1.0"][0]
    wanted = _referrers(src, "samples/hello", subject)
    assert len(wanted) == 2 and _referrers(dst, "samples/hello", subject) == wanted
    # The untagged build is reported, not copied.
    untagged = source["samples/hello"]["manifests"] - target["samples/hello"]["manifests"]
    assert len(untagged) == 1

    verify = cli("verify", "--config", config, "--mode", "replication", "-o", "json").json()
    registry = verify["by_type"][REGISTRY]
    assert verify["fidelity"] == 100.0 and verify["missing"] == 0 and verify["different"] == 0
    assert registry["by_kind"]["manifest"]["matching"] >= 7
    not_copyable = [i for i in verify["items"] if i["status"] == "not_copyable"]
    assert [i["name"] for i in not_copyable] == [f"samples/hello@{d}" for d in untagged]
    assert "containerregistry.untagged" in not_copyable[0]["detail"]

    again = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json")
    assert again.summary()["replicated"] == 0

    # With the option, the untagged build comes too, and nothing is left uncopied.
    option = ("--option", "containerregistry.untagged=true")
    more = cli("replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json",
               *option)
    assert more.summary()["replicated"] == 1
    target = _contents(_client(world, "target"))
    assert target["samples/hello"]["manifests"] == source["samples/hello"]["manifests"]
    verify = cli("verify", "--config", config, "--mode", "replication", "-o", "json",
                 *option).json()
    assert verify["fidelity"] == 100.0 and verify["not_copyable"] == 0
