"""Seed scenarios as data: which resources exist in each tenant and what the source holds.

A scenario is a list of :class:`ResourceSpec`; each has a ``kind`` that names its seeder
(:data:`atg_dataplane_sandbox.seed.SEEDERS`) and kind-specific ``contents``. To support a
new item kind: add its content dataclass here, a seeder function, and entries to
:func:`reference` / :func:`large`.

Secret values are never literals: they are made at seed time from a random canary (see
:class:`SecretSpec`), so tests can scan every output for leaked values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ---------------------------------------------------------------- Key Vault


@dataclass(frozen=True)
class SecretSpec:
    name: str
    versions: int = 1
    """Versions to create; the last is current."""
    value_template: str = "{canary}"
    """Formatted with ``canary`` (a fresh random token per version)."""
    content_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    expired: bool = False
    """Expiry date in the past."""


@dataclass(frozen=True)
class KeySpec:
    name: str
    kty: str = "RSA"
    """``RSA`` or ``EC``."""
    size: int | None = 2048
    curve: str | None = None
    exportable: bool = False
    """Exportable keys carry a release policy; the others can never leave their vault."""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CertificateSpec:
    name: str
    subject: str = "CN=sandbox.example"
    exportable: bool = True
    kty: str = "RSA"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VaultContents:
    secrets: list[SecretSpec] = field(default_factory=list)
    keys: list[KeySpec] = field(default_factory=list)
    certificates: list[CertificateSpec] = field(default_factory=list)


# ---------------------------------------------------------------- Storage


@dataclass(frozen=True)
class BlobSpec:
    name: str
    size: int = 64
    blob_type: str = "BlockBlob"
    """``BlockBlob``, ``AppendBlob`` or ``PageBlob`` (page blob sizes are multiples of 512)."""
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    metadata: dict[str, str] = field(default_factory=dict)
    blobs: list[BlobSpec] = field(default_factory=list)


@dataclass(frozen=True)
class TableSpec:
    name: str
    entities: int = 5
    """Typed entities (string, int32, int64, double, bool, datetime, guid, binary)."""


@dataclass(frozen=True)
class QueueSpec:
    name: str
    messages: int = 3
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileSpec:
    path: str
    """``dir/sub/name``: parent directories are created first."""
    size: int = 64
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ShareSpec:
    """An Azure Files share (the sandbox's own File service; Azurite has none)."""

    name: str
    quota: int = 5
    metadata: dict[str, str] = field(default_factory=dict)
    directories: list[str] = field(default_factory=list)
    """Directories to create even when empty, e.g. ``archive``."""
    files: list[FileSpec] = field(default_factory=list)


@dataclass(frozen=True)
class StorageContents:
    containers: list[ContainerSpec] = field(default_factory=list)
    tables: list[TableSpec] = field(default_factory=list)
    queues: list[QueueSpec] = field(default_factory=list)
    shares: list[ShareSpec] = field(default_factory=list)


# ---------------------------------------------------------------- Cosmos DB


@dataclass(frozen=True)
class CosmosContainerSpec:
    name: str
    partition_key: str | list[str] = "/pk"
    """One path (hash), or several (hierarchical: ``MultiHash``)."""
    documents: int = 10
    default_ttl: int | None = None
    unique_keys: list[str] = field(default_factory=list)
    throughput: int | None = None
    """Dedicated manual throughput (RU/s); negative: autoscale up to its absolute value."""
    custom_indexing: bool = False
    """An indexing policy with excluded paths and a composite index (else the default)."""
    scripts: bool = False
    """A stored procedure, a pre-trigger and a user-defined function."""
    large_documents: int = 0
    """Documents of about 1.9 MB (Cosmos DB's limit is 2 MB)."""
    odd_ids: bool = False
    """Some documents with unicode and punctuation in their ids (every legal character)."""


@dataclass(frozen=True)
class CosmosDatabaseSpec:
    name: str
    containers: list[CosmosContainerSpec] = field(default_factory=list)
    throughput: int | None = None
    """Manual throughput shared by the database's containers (RU/s)."""


@dataclass(frozen=True)
class CosmosContents:
    databases: list[CosmosDatabaseSpec] = field(default_factory=list)


# ---------------------------------------------------------------- Container Registry


@dataclass(frozen=True)
class ImageSpec:
    repository: str
    tags: list[str] = field(default_factory=lambda: ["latest"])
    layers: int = 2
    layer_size: int = 4096
    platforms: list[str] = field(default_factory=list)
    """Several ``os/arch`` entries make a multi-arch image (an OCI index)."""
    referrers: list[str] = field(default_factory=list)
    """Artifact types of manifests that refer to the image (``subject``): a signature, an
    SBOM, an attestation, as ``cosign`` and ``oras attach`` push them."""
    untagged: int = 0
    """Earlier builds pushed to the repository and left without a tag."""
    locked: list[str] = field(default_factory=list)
    """Tags locked (``writeEnabled`` and ``deleteEnabled`` false), as ``az acr repository
    update --write-enabled false`` leaves them."""
    layers_from: str = ""
    """Build the layers as this repository's: repositories sharing layers (blob mounts)."""


COSIGN_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SPDX_SBOM = "application/spdx+json"


@dataclass(frozen=True)
class RegistryContents:
    images: list[ImageSpec] = field(default_factory=list)


# ---------------------------------------------------------------- scenario


# ---------------------------------------------------------------- API Management


@dataclass(frozen=True)
class ApimContents:
    apis: int = 5
    operations_per_api: int = 6
    products: int = 2
    key_vault: str = ""
    """A source vault of the scenario whose ``db-password`` a Key Vault-backed named value
    references (none when empty)."""


# ---------------------------------------------------------------- App Service


@dataclass(frozen=True)
class SiteContents:
    function_app: bool = False
    slots: tuple[str, ...] = ()
    settings: int = 4
    """Plain app settings besides the references (one of them a canary secret)."""
    functions: int = 0
    key_vault: str = ""
    """A source vault whose ``db-password`` a setting references (none when empty)."""
    storage: str = ""
    """A source storage account a connection string, a URL and a mount point at."""
    package_slot: str = ""
    """A slot that runs from ``packages/app-qa.zip`` of ``storage`` (a URL with a SAS in
    ``WEBSITE_RUN_FROM_PACKAGE``) instead of deployed code."""


# ---------------------------------------------------------------- Virtual machines


@dataclass(frozen=True)
class ExtensionSpec:
    name: str
    publisher: str
    type: str
    version: str
    settings: dict[str, Any] = field(default_factory=dict)
    protected: bool = False
    """Has protected settings (a canary): Azure never returns them."""


MONITOR = ExtensionSpec("AzureMonitorLinuxAgent", "Microsoft.Azure.Monitor",
                        "AzureMonitorLinuxAgent", "1.0", {"authentication": {}})
SCRIPT = ExtensionSpec("custom-script", "Microsoft.Azure.Extensions", "CustomScript", "2.1",
                       {"fileUris": ["https://tools.sandbox.example/setup.sh"]}, protected=True)
DEPENDENCY = ExtensionSpec("DependencyAgentLinux", "Microsoft.Azure.Monitoring.DependencyAgent",
                           "DependencyAgentLinux", "9.10")


@dataclass(frozen=True)
class VmContents:
    disks_mib: tuple[int, ...] = (24,)
    """Data disks, one per LUN: sizes in MiB (Azure's upload minimum is 20), a few sparse
    ranges written in each (the files are sparse too)."""
    extensions: tuple[ExtensionSpec, ...] = ()


@dataclass(frozen=True)
class SqlContents:
    databases: tuple[str, ...] = ("sales", "inventory")
    """Databases of the server; each one's tables, keys, indexes and view come from its name
    (``seeders/sql.py``)."""
    rows: int = 1000
    """Rows of a database's main table; the others hold about as many again."""


@dataclass(frozen=True)
class ResourceSpec:
    kind: str
    """Seeder name: ``keyvault``, ``storage``, ``cosmos``, ``registry``."""
    source_name: str
    target_name: str
    contents: Any
    """The kind's contents (``VaultContents``, ``StorageContents``, ``CosmosContents``,
    ``RegistryContents``)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    scale: int
    resources: list[ResourceSpec]

    def pool_accounts(self, kind: str) -> int:
        """Accounts per tenant of the sandbox's ``kind`` pool (``storage``: ``srcstoreN``,
        ``cosmos``: ``srccosmosN``) that this scenario uses: the highest ``N`` it names."""
        prefix = {"storage": "srcstore", "cosmos": "srccosmos"}[kind]
        return max(
            (int(r.source_name[len(prefix):]) for r in self.resources
             if r.kind == kind and r.source_name[len(prefix):].isdigit()),
            default=0,
        )


MAX_SECRET_NAME = "max-length-name-" + "x" * (127 - len("max-length-name-"))


def reference_vault() -> VaultContents:
    return VaultContents(
        secrets=[
            SecretSpec("db-password", versions=4, content_type="text/plain",
                       tags={"env": "prod", "owner": "data-team"}),
            SecretSpec("unicode-value", value_template="Grüße, 東京, Ελλάδα 🔐 {canary}"),
            SecretSpec(MAX_SECRET_NAME),
            SecretSpec("disabled-secret", enabled=False),
            SecretSpec("expired-secret", expired=True),
            SecretSpec("json-config", content_type="application/json",
                       value_template='{{"apiKey": "{canary}", "retries": 3}}'),
            SecretSpec("connection-string", content_type="text/plain",
                       value_template="Server=db;User=app;Password={canary};",
                       tags={"rotation": "90d"}),
            SecretSpec("multiline-pem", content_type="application/x-pem-file",
                       value_template="-----BEGIN NOTE-----\n{canary}\n-----END NOTE-----\n"),
        ],
        keys=[
            KeySpec("rsa-2048", tags={"purpose": "signing"}),
            KeySpec("rsa-4096", size=4096),
            KeySpec("ec-p256", kty="EC", size=None, curve="P-256"),
            KeySpec("ec-p384", kty="EC", size=None, curve="P-384"),
            KeySpec("rsa-exportable", exportable=True),
            KeySpec("rsa-non-exportable", exportable=False, tags={"note": "cannot leave vault"}),
        ],
        certificates=[
            CertificateSpec("web-exportable", subject="CN=web.sandbox.example"),
            CertificateSpec("web-non-exportable", subject="CN=locked.sandbox.example",
                            exportable=False),
        ],
    )


def reference_storage() -> StorageContents:
    return StorageContents(
        containers=[
            ContainerSpec("documents", metadata={"department": "finance", "retention": "7y"},
                          blobs=[
                              BlobSpec("empty.txt", size=0, content_type="text/plain"),
                              BlobSpec("small.json", size=200, content_type="application/json",
                                       metadata={"source": "seed"}, tags={"tier": "hot"}),
                              BlobSpec("nested/deeper/report.csv", size=5000,
                                       content_type="text/csv", tags={"year": "2026"}),
                              BlobSpec("large.bin", size=6 * 1024 * 1024),
                          ]),
            ContainerSpec("logs", blobs=[BlobSpec("app.log", size=3000, blob_type="AppendBlob",
                                                  content_type="text/plain")]),
            ContainerSpec("disks", blobs=[BlobSpec("data.vhd", size=1024 * 1024,
                                                   blob_type="PageBlob")]),
            ContainerSpec("empty-container", metadata={"purpose": "placeholder"}),
            # a web app slot runs from it (WEBSITE_RUN_FROM_PACKAGE, a URL with a SAS)
            ContainerSpec("packages", blobs=[BlobSpec("app-qa.zip", size=4096,
                                                     content_type="application/zip")]),
        ],
        tables=[TableSpec("customers", entities=8), TableSpec("emptytable", entities=0)],
        queues=[QueueSpec("orders", messages=5, metadata={"team": "shop"}),
                QueueSpec("empty-queue", messages=0)],
        shares=[
            ShareSpec("teamshare", quota=10, metadata={"team": "finance"},
                      directories=["archive"],
                      files=[FileSpec("readme.txt", size=40, content_type="text/plain"),
                             FileSpec("reports/2026/q1.csv", size=12000,
                                      content_type="text/csv", metadata={"origin": "seed"}),
                             FileSpec("reports/2026/empty.bin", size=0),
                             FileSpec("images/logo.bin", size=1024 * 1024)]),
            ShareSpec("emptyshare", quota=1),
        ],
    )


def reference_cosmos() -> CosmosContents:
    return CosmosContents(databases=[
        CosmosDatabaseSpec("appdb", containers=[
            CosmosContainerSpec("orders", partition_key="/customerId", documents=25,
                                custom_indexing=True, scripts=True, odd_ids=True),
            CosmosContainerSpec("sessions", partition_key="/userId", documents=5,
                                default_ttl=3600),
            CosmosContainerSpec("users", partition_key="/tenant", documents=5,
                                unique_keys=["/email"]),
        ]),
        CosmosDatabaseSpec("shareddb", throughput=400, containers=[
            CosmosContainerSpec("events", partition_key=["/tenant", "/user"], documents=12),
            CosmosContainerSpec("audit", documents=3),
        ]),
        CosmosDatabaseSpec("blobsdb", containers=[
            CosmosContainerSpec("attachments", documents=2, large_documents=2,
                                throughput=-4000),
        ]),
    ])


def reference_registry() -> RegistryContents:
    return RegistryContents(images=[
        ImageSpec(
            "samples/hello",
            tags=["1.0", "latest"],
            referrers=[COSIGN_SIGNATURE, SPDX_SBOM],
            untagged=1,
            locked=["1.0"],
        ),
        ImageSpec("samples/hello-copy", tags=["1.0"], layers_from="samples/hello"),
        ImageSpec("samples/multiarch", tags=["2.1"], platforms=["linux/amd64", "linux/arm64"]),
        ImageSpec("samples/many-tags", tags=[f"0.{n}" for n in range(22)]),
        ImageSpec("tools/empty-layers", tags=["v0"], layers=0),
    ])


def reference() -> Scenario:
    return Scenario("reference", 1, [
        ResourceSpec("keyvault", "kv-src-reference", "kv-tgt-reference", reference_vault()),
        ResourceSpec("storage", "srcstore1", "tgtstore1", reference_storage()),
        ResourceSpec("cosmos", "srccosmos1", "tgtcosmos1", reference_cosmos()),
        ResourceSpec("registry", "acrsrcreference", "acrtgtreference", reference_registry()),
        ResourceSpec("apimanagement", "apim-src-reference", "apim-tgt-reference",
                     ApimContents(key_vault="kv-src-reference")),
        ResourceSpec("appservice", "app-src-reference", "app-tgt-reference",
                     SiteContents(slots=("staging", "qa"), key_vault="kv-src-reference",
                                  storage="srcstore1", package_slot="qa")),
        ResourceSpec("appservice", "func-src-reference", "func-tgt-reference",
                     SiteContents(function_app=True, functions=3)),
        ResourceSpec("compute", "vm-src-reference-1", "vm-tgt-reference-1",
                     VmContents(disks_mib=(32, 24), extensions=(MONITOR, SCRIPT))),
        ResourceSpec("compute", "vm-src-reference-2", "vm-tgt-reference-2",
                     VmContents(disks_mib=(24,), extensions=(DEPENDENCY,))),
        ResourceSpec("sql", "sql-src-reference", "sql-tgt-reference", SqlContents()),
    ])


# The measured tenant (seeds/DATAPLANE_ANALYSIS_SUMMARY.md): 70 Key Vault items,
# 61 storage items, 17 databases, 16 images.
LARGE_IMAGES = 16
LARGE_VAULT = {"secrets": 50, "keys": 12, "certificates": 8}
LARGE_STORAGE = {"containers": 4, "blobs": 45, "tables": 6, "queues": 6}
LARGE_DATABASES = 17
LARGE_DOCUMENTS = 2000
LARGE_APIS = 5
"""APIs of the large scenario's API Management service per scale (6 operations each)."""
LARGE_SITES = 2
"""Sites per scale: a web app with a slot and a function app with 3 functions."""
LARGE_VMS = 1
"""VMs per scale: two data disks of 24 MiB (a few MiB written), two extensions."""
LARGE_SQL_ROWS = 500
"""Rows per scale in the main table of each of the large SQL server's two databases."""


def large(scale: int = 1) -> Scenario:
    """The measured tenant's composition times ``scale``."""
    resources: list[ResourceSpec] = []
    for copy in range(1, scale + 1):
        resources.append(ResourceSpec("keyvault", f"kv-src-large-{copy}", f"kv-tgt-large-{copy}",
                                      _large_vault()))
    # Storage and Cosmos DB accounts come from the sandbox's pools (``sandbox up
    # --cosmos-accounts``): the copies are spread over them.
    resources.append(ResourceSpec("storage", "srcstore2", "tgtstore2", _large_storage(scale)))
    for index, contents in enumerate(_large_cosmos(scale), start=2):
        resources.append(ResourceSpec("cosmos", f"srccosmos{index}", f"tgtcosmos{index}",
                                      contents))
    resources.append(ResourceSpec("registry", "acrsrclarge", "acrtgtlarge", RegistryContents(
        images=[ImageSpec(f"apps/app-{i:03d}", tags=[f"1.{i}"],
                          platforms=["linux/amd64", "linux/arm64"] if i % 8 == 0 else [])
                for i in range(LARGE_IMAGES * scale)])))
    resources.append(ResourceSpec("apimanagement", "apim-src-large", "apim-tgt-large",
                                  ApimContents(apis=LARGE_APIS * scale)))
    for copy in range(1, scale * LARGE_SITES // 2 + 1):
        resources.append(ResourceSpec("appservice", f"app-src-large-{copy}",
                                      f"app-tgt-large-{copy}",
                                      SiteContents(slots=("staging",), settings=20,
                                                   storage="srcstore2")))
        resources.append(ResourceSpec("appservice", f"func-src-large-{copy}",
                                      f"func-tgt-large-{copy}",
                                      SiteContents(function_app=True, functions=3)))
    for copy in range(1, scale * LARGE_VMS + 1):
        resources.append(ResourceSpec("compute", f"vm-src-large-{copy}", f"vm-tgt-large-{copy}",
                                      VmContents(disks_mib=(24, 24), extensions=(MONITOR,
                                                                               DEPENDENCY))))
    resources.append(ResourceSpec("sql", "sql-src-large", "sql-tgt-large",
                                  SqlContents(rows=LARGE_SQL_ROWS * scale)))
    return Scenario("large", scale, resources)


def _large_vault() -> VaultContents:
    n = LARGE_VAULT
    return VaultContents(
        secrets=[SecretSpec(f"secret-{i:03d}", versions=1 + i % 3, content_type="text/plain",
                            tags={"index": str(i)}) for i in range(n["secrets"])],
        keys=[KeySpec(f"key-{i:03d}", kty="EC" if i % 3 == 0 else "RSA",
                      size=None if i % 3 == 0 else 2048,
                      curve="P-256" if i % 3 == 0 else None) for i in range(n["keys"])],
        certificates=[CertificateSpec(f"cert-{i:03d}", subject=f"CN=host{i}.sandbox.example",
                                      exportable=i % 4 != 0)
                      for i in range(n["certificates"])],
    )


def _large_storage(scale: int) -> StorageContents:
    n = LARGE_STORAGE
    containers = []
    blobs_total = n["blobs"] * scale
    count = n["containers"] * scale
    for c in range(count):
        share = [i for i in range(blobs_total) if i % count == c]
        containers.append(ContainerSpec(f"large-{c:03d}", metadata={"index": str(c)}, blobs=[
            BlobSpec(f"blob-{i:04d}.dat", size=1024 * (1 + i % 64),
                     tags={"batch": str(i % 5)} if i % 2 else {}) for i in share]))
    return StorageContents(
        containers=containers,
        tables=[TableSpec(f"large{t:03d}", entities=20) for t in range(n["tables"] * scale)],
        queues=[QueueSpec(f"large-{q:03d}", messages=4) for q in range(n["queues"] * scale)],
    )


def _large_cosmos(scale: int) -> list[CosmosContents]:
    """The measured tenant's databases, plus one large container (LARGE_DOCUMENTS per scale
    in all: 20,000 at the benchmark's scale 10), over as many accounts as Azure needs for
    them: one up to scale 14, seven at scale 100."""
    small = [
        CosmosDatabaseSpec(f"db-{d:03d}", containers=[
            CosmosContainerSpec("items", partition_key="/pk", documents=10)])
        for d in range(LARGE_DATABASES * scale)
    ]
    big = LARGE_DOCUMENTS * scale - 10 * LARGE_DATABASES * scale
    return _by_account([*small, CosmosDatabaseSpec("telemetry", containers=[
        CosmosContainerSpec("events", partition_key=["/device", "/day"], documents=big,
                            custom_indexing=True, scripts=True, odd_ids=True)])])


COSMOS_ACCOUNT_LIMIT = 500
"""Databases and containers together in one Cosmos DB account: Azure's limit, which cannot
be raised (learn.microsoft.com/azure/cosmos-db/concepts-limits, "Resource limits"). A
scenario past it would describe a tenant that cannot exist."""


def _by_account(databases: list[CosmosDatabaseSpec]) -> list[CosmosContents]:
    """``databases`` in order, each account filled up to :data:`COSMOS_ACCOUNT_LIMIT`."""
    accounts: list[CosmosContents] = []
    current: list[CosmosDatabaseSpec] = []
    used = 0
    for database in databases:
        size = 1 + len(database.containers)
        if current and used + size > COSMOS_ACCOUNT_LIMIT:
            accounts.append(CosmosContents(databases=current))
            current, used = [], 0
        current.append(database)
        used += size
    accounts.append(CosmosContents(databases=current))
    return accounts


SCENARIOS = {"reference": reference, "large": large}


def get(name: str, scale: int = 1) -> Scenario:
    if name == "reference":
        return reference()
    if name == "large":
        return large(scale)
    raise KeyError(f"unknown scenario {name!r}: use one of {', '.join(SCENARIOS)}")
