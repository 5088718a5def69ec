"""``sandbox seed --scenario reference``: every item kind in the source, empty targets.

Everything is read back through the official SDKs with the replicator principals, the way
the plugins will read it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from atg_dataplane_sandbox.pytest_plugin import SandboxHandle
from atg_dataplane_sandbox.scenarios import MAX_SECRET_NAME
from atg_dataplane_sandbox.seed import SeedReport
from atg_dataplane_sandbox.services.upstream_auth import registry_credentials
from azure.containerregistry import ContainerRegistryClient
from azure.cosmos import CosmosClient
from azure.cosmos.documents import SSLConfiguration
from azure.data.tables import EdmType, TableServiceClient
from azure.identity import ClientSecretCredential
from azure.keyvault.certificates import CertificateClient
from azure.keyvault.keys import KeyClient
from azure.keyvault.secrets import SecretClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.cosmosdb import CosmosDBManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

ARM_SCOPE = "https://management.azure.com/.default"


@pytest.fixture(scope="module")
def sandbox(private_sandbox: SandboxHandle) -> SandboxHandle:
    """Its own sandbox: other tests replicate into the shared one's targets."""
    return private_sandbox


@pytest.fixture(scope="module")
def seeded(sandbox: SandboxHandle) -> SeedReport:
    return sandbox.seed("reference")


def _credential(
    sandbox: SandboxHandle, side: str, who: str = "replicator"
) -> ClientSecretCredential:
    principal = sandbox.topology.principal(side, who)
    return ClientSecretCredential(
        principal.tenant_id, principal.client_id, sandbox.client_secret(side, who),
        authority=sandbox.services["entra"], disable_instance_discovery=True,
        connection_verify=str(sandbox.ca_bundle))


def _mgmt(sandbox: SandboxHandle, client_class: type, side: str, who: str = "replicator") -> Any:
    return client_class(
        _credential(sandbox, side, who), sandbox.topology.tenant(side).subscription_id,
        base_url=sandbox.services["arm"], credential_scopes=[ARM_SCOPE],
        connection_verify=str(sandbox.ca_bundle))


def _vault_clients(sandbox: SandboxHandle, side: str, name: str):
    rg = "rg-source-data" if side == "source" else "rg-target-data"
    vault = _mgmt(sandbox, KeyVaultManagementClient, side).vaults.get(rg, name)
    common = {"vault_url": vault.properties.vault_uri, "credential": _credential(sandbox, side),
              "verify_challenge_resource": False, "connection_verify": str(sandbox.ca_bundle)}
    return SecretClient(**common), KeyClient(**common), CertificateClient(**common)


def _storage_endpoints(sandbox: SandboxHandle, side: str, name: str):
    rg = "rg-source-data" if side == "source" else "rg-target-data"
    account = _mgmt(sandbox, StorageManagementClient, side).storage_accounts.get_properties(
        rg, name)
    return account.primary_endpoints


def _cosmos(sandbox: SandboxHandle, side: str, name: str) -> CosmosClient:
    rg = "rg-source-data" if side == "source" else "rg-target-data"
    # DocumentDB Account Contributor (the replicator's role) excludes listKeys, as in Azure.
    mgmt = _mgmt(sandbox, CosmosDBManagementClient, side, who="admin")
    account = mgmt.database_accounts.get(rg, name)
    key = mgmt.database_accounts.list_keys(rg, name).primary_master_key
    ssl = SSLConfiguration()
    ssl.SSLCaCerts = str(sandbox.ca_bundle)
    return CosmosClient(account.document_endpoint, credential=key, ssl_config=ssl)


def test_fixture_lists_the_new_vault_and_registry_endpoints(
    sandbox: SandboxHandle, seeded: SeedReport
) -> None:
    assert sandbox.services["keyvault/kv-src-reference"].startswith("https://127.0.0.1:")
    assert sandbox.services["acr/acrtgtreference"].startswith("https://127.0.0.1:")


def test_report_counts_every_kind(seeded: SeedReport) -> None:
    counts = seeded.counts
    for kind in ("secrets", "keys", "certificates", "blob_containers", "blobs", "tables",
                 "entities", "queues", "messages", "databases", "cosmos_containers",
                 "documents", "repositories", "images", "manifests"):
        assert counts.get(kind, 0) > 0, kind
    assert counts["secret_versions"] > counts["secrets"]


def test_sql_servers_and_what_the_plugin_is_pointed_at(
    sandbox: SandboxHandle, seeded: SeedReport
) -> None:
    """Two source databases filled (a few thousand rows), their target twins empty; the
    config names the 0600 logins file and the staging account."""
    from atg_dataplane_sandbox.seeders import sql

    assert seeded.counts["sql_databases"] == 2 and seeded.counts["sql_tables"] == 4
    assert seeded.counts["sql_rows"] > 2000
    options = json.loads(sandbox.config_path.read_text())["options"]
    logins = sandbox.dir / sql.LOGINS_FILE
    assert options["sql.logins_file"] == str(logins.resolve())
    assert logins.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(logins.read_text())) >= {"sql-src-reference", "sql-tgt-reference"}
    assert options["sql.staging_account"].endswith("/storageAccounts/" + sql.STAGING_ACCOUNT)


def test_key_vault_secrets(sandbox: SandboxHandle, seeded: SeedReport) -> None:
    secrets, _, _ = _vault_clients(sandbox, "source", "kv-src-reference")
    props = {p.name: p for p in secrets.list_properties_of_secrets()}
    assert MAX_SECRET_NAME in props and len(MAX_SECRET_NAME) == 127
    assert props["disabled-secret"].enabled is False
    assert props["expired-secret"].expires_on < datetime.now(UTC)
    assert props["json-config"].content_type == "application/json"
    assert props["db-password"].tags == {"env": "prod", "owner": "data-team"}
    assert len(list(secrets.list_properties_of_secret_versions("db-password"))) == 4
    value = secrets.get_secret("unicode-value").value
    assert "東京" in value and "🔐" in value


def test_key_vault_keys_and_certificates(sandbox: SandboxHandle, seeded: SeedReport) -> None:
    _, keys, certificates = _vault_clients(sandbox, "source", "kv-src-reference")
    key_types = {k.name: str(keys.get_key(k.name).key_type) for k in keys.list_properties_of_keys()}
    assert {"rsa-2048", "ec-p256", "rsa-exportable", "rsa-non-exportable"} <= set(key_types)
    assert "EC" in key_types["ec-p256"] and "RSA" in key_types["rsa-2048"]
    assert keys.get_key("rsa-exportable").properties.exportable is True
    assert not keys.get_key("rsa-non-exportable").properties.exportable
    exportable = {c.name: certificates.get_certificate_policy(c.name).exportable
                  for c in certificates.list_properties_of_certificates()}
    assert exportable == {"web-exportable": True, "web-non-exportable": False}
    policy = certificates.get_certificate_policy("web-exportable")
    assert policy.issuer_name == "Self"


def test_storage_blobs_tables_queues(sandbox: SandboxHandle, seeded: SeedReport) -> None:
    endpoints = _storage_endpoints(sandbox, "source", "srcstore1")
    cred = _credential(sandbox, "source")
    ca = str(sandbox.ca_bundle)
    blobs = BlobServiceClient(endpoints.blob, credential=cred, connection_verify=ca)
    containers = {c.name: c.metadata for c in blobs.list_containers(include_metadata=True)}
    assert containers["documents"] == {"department": "finance", "retention": "7y"}
    assert "empty-container" in containers
    kinds = {}
    for name in ("documents", "logs", "disks"):
        for blob in blobs.get_container_client(name).list_blobs(include=["tags"]):
            kinds[blob.name] = (str(blob.blob_type.value), blob.size, blob.tags)
    assert kinds["empty.txt"][:2] == ("BlockBlob", 0)
    assert kinds["large.bin"][1] == 6 * 1024 * 1024
    assert kinds["app.log"][0] == "AppendBlob"
    assert kinds["data.vhd"][0] == "PageBlob"
    assert kinds["small.json"][2] == {"tier": "hot"}
    tables = TableServiceClient(endpoint=endpoints.table.rstrip("/"), credential=cred,
                                connection_verify=ca)
    entity = next(iter(tables.get_table_client("customers").list_entities()))
    assert entity["lifetimeCents"].edm_type == EdmType.INT64
    assert isinstance(entity["joined"], datetime)
    queues = QueueServiceClient(endpoints.queue, credential=cred, connection_verify=ca)
    messages = queues.get_queue_client("orders").peek_messages(max_messages=32)
    assert len(messages) == 5


def test_cosmos_documents(sandbox: SandboxHandle, seeded: SeedReport) -> None:
    client = _cosmos(sandbox, "source", "srccosmos1")
    database = client.get_database_client("appdb")
    containers = {c["id"]: c for c in database.list_containers()}
    assert set(containers) == {"orders", "sessions", "users"}
    assert containers["sessions"].get("defaultTtl") == 3600
    assert containers["orders"]["partitionKey"]["paths"] == ["/customerId"]
    count = list(database.get_container_client("orders").query_items(
        "SELECT VALUE COUNT(1) FROM c", enable_cross_partition_query=True))
    assert count == [25]
    assert {d["id"] for d in client.list_databases()} == {"appdb", "shareddb", "blobsdb"}

    orders = database.get_container_client("orders")
    scripts = orders.scripts
    assert [s["id"] for s in scripts.list_stored_procedures()] == ["bulkImport"]
    assert [t["triggerType"] for t in scripts.list_triggers()] == ["Pre"]
    assert [u["id"] for u in scripts.list_user_defined_functions()] == ["taxOf"]
    ids = {d["id"] for d in orders.query_items("SELECT c.id FROM c",
                                               enable_cross_partition_query=True)}
    assert "名前-データ 1" in ids and "[brackets] {braces} %percent% $dollar 3" in ids

    events = client.get_database_client("shareddb").get_container_client("events").read()
    assert events["partitionKey"]["paths"] == ["/tenant", "/user"]
    arm = CosmosDBManagementClient(sandbox.credential("source", "admin"),
                                   sandbox.topology.tenant("source").subscription_id,
                                   **sandbox.arm_kwargs()).sql_resources
    shared = arm.get_sql_database_throughput("rg-source-data", "srccosmos1", "shareddb")
    assert shared.resource.throughput == 400
    attachments = client.get_database_client("blobsdb").get_container_client("attachments")
    sizes = [len(d.get("payload", {}).get("blob", "")) for d in attachments.query_items(
        "SELECT * FROM c", enable_cross_partition_query=True)]
    assert sorted(sizes)[-2:] == [1_900_000, 1_900_000]


def _referrers(
    client: ContainerRegistryClient, repo: str, digest: str, artifact_type: str = ""
) -> list[dict[str, Any]]:
    """The OCI referrers API through the SDK's own pipeline (it has no call for it)."""
    from urllib.parse import quote

    from azure.core.rest import HttpRequest

    query = f"?artifactType={quote(artifact_type, safe='')}" if artifact_type else ""
    answer = client._client._client.send_request(
        HttpRequest("GET", f"{client._endpoint}/v2/{repo}/referrers/{digest}{query}")
    )
    answer.raise_for_status()
    return list(answer.json()["manifests"])


def test_registry_images_through_the_acr_front(
    sandbox: SandboxHandle, seeded: SeedReport
) -> None:
    registries = _mgmt(sandbox, ContainerRegistryManagementClient, "source")
    login = registries.registries.get("rg-source-data", "acrsrcreference").login_server
    client = ContainerRegistryClient(
        f"https://{login}", _credential(sandbox, "source"),
        audience="https://containerregistry.azure.net", connection_verify=str(sandbox.ca_bundle))
    assert sorted(client.list_repository_names()) == [
        "samples/hello", "samples/hello-copy", "samples/many-tags", "samples/multiarch",
        "tools/empty-layers"]
    assert sorted(t.name for t in client.list_tag_properties("samples/hello")) == ["1.0", "latest"]
    assert len(list(client.list_tag_properties("samples/many-tags"))) == 22
    # Every manifest, tagged or not: the image, an earlier untagged build, two referrers.
    manifests = list(client.list_manifest_properties("samples/hello"))
    assert len(manifests) == 4 and sum(1 for m in manifests if not m.tags) == 3
    image = client.get_manifest_properties("samples/hello", "1.0")
    locked = client.get_tag_properties("samples/hello", "1.0")
    assert (locked.can_write, locked.can_delete) == (False, False)
    assert client.get_tag_properties("samples/hello", "latest").can_write is True
    referrers = _referrers(client, "samples/hello", image.digest)
    assert sorted(r["artifactType"] for r in referrers) == [
        "application/spdx+json", "application/vnd.dev.cosign.artifact.sig.v1+json"]
    only_sboms = _referrers(client, "samples/hello", image.digest, "application/spdx+json")
    assert [r["artifactType"] for r in only_sboms] == ["application/spdx+json"]
    # The copy shares the image's layers (blobs the registry stores once).
    copy = client.get_manifest("samples/hello-copy", "1.0").manifest
    original = client.get_manifest("samples/hello", "1.0").manifest
    assert [layer["digest"] for layer in copy["layers"]] == [
        layer["digest"] for layer in original["layers"]]
    index = client.get_manifest("samples/multiarch", "2.1")
    assert [m["platform"]["architecture"] for m in index.manifest["manifests"]] == [
        "amd64", "arm64"]
    target = _mgmt(sandbox, ContainerRegistryManagementClient, "target")
    assert target.registries.get("rg-target-data", "acrtgtreference").name == "acrtgtreference"
    # The upstream registry holds each registry's images under "<registry name>/".
    session = requests.Session()
    session.verify = str(sandbox.ca_bundle)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE replaces session.verify
    assert session.get(f"{sandbox.services['registry']}/v2/_catalog").status_code == 401
    session.auth = registry_credentials(sandbox.dir)  # only the fronts and the seeder have it
    repos = session.get(f"{sandbox.services['registry']}/v2/_catalog").json()["repositories"]
    assert "acrsrcreference/samples/hello" in repos
    assert not [r for r in repos if r.startswith("acrtgtreference/")]


def test_targets_exist_and_are_empty(sandbox: SandboxHandle, seeded: SeedReport) -> None:
    secrets, keys, certificates = _vault_clients(sandbox, "target", "kv-tgt-reference")
    assert list(secrets.list_properties_of_secrets()) == []
    assert list(keys.list_properties_of_keys()) == []
    assert list(certificates.list_properties_of_certificates()) == []
    endpoints = _storage_endpoints(sandbox, "target", "tgtstore1")
    blobs = BlobServiceClient(endpoints.blob, credential=_credential(sandbox, "target"),
                              connection_verify=str(sandbox.ca_bundle))
    assert list(blobs.list_containers()) == []
    assert list(_cosmos(sandbox, "target", "tgtcosmos1").list_databases()) == []


def test_canaries_are_recorded_privately_and_nowhere_else(
    sandbox: SandboxHandle, seeded: SeedReport
) -> None:
    path = sandbox.dir / "seeded-canaries.json"
    assert path.stat().st_mode & 0o777 == 0o600
    values = json.loads(path.read_text())["values"]
    assert len(values) >= seeded.counts["secret_versions"]  # other scenarios may add more
    assert all("atgcanary-" in v for v in values)
    for name in ("config.json", "services.json", "emulator.json", "topology.json"):
        text = (sandbox.dir / name).read_text()
        assert not any(v in text for v in values), name
    for log in (sandbox.dir / "logs").iterdir():
        text = log.read_text(errors="replace")
        assert not any(v in text for v in values), log.name
    mapping = json.loads(sandbox.config_path.read_text())["mapping"]["names"]
    assert mapping["kv-src-reference"] == "kv-tgt-reference"


def test_seeding_again_adds_nothing(sandbox: SandboxHandle, seeded: SeedReport) -> None:
    from atg_dataplane_sandbox import seed

    again = seed.seed(sandbox.dir, "reference")
    for kind in ("secrets", "keys", "certificates", "blobs", "queues", "messages"):
        assert again.counts.get(kind, 0) == 0, kind
