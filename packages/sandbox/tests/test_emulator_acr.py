"""The ACR front (token exchange, /acr/v1 listings, /v2 proxy) over the real OCI registry, and
``importImage`` between registries, through azure-containerregistry and azure-mgmt-*."""

from __future__ import annotations

import hashlib
import io
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.emulator.testing import arm_kwargs, credential
from atg_dataplane_sandbox.topology import Topology

acr_mgmt = pytest.importorskip("azure.mgmt.containerregistry")
acr_data = pytest.importorskip("azure.containerregistry")
services = pytest.importorskip("atg_dataplane_sandbox.services")

from atg_dataplane_sandbox.services import registry  # noqa: E402
from atg_dataplane_sandbox.services.install import registry_binary  # noqa: E402
from azure.core.exceptions import (  # noqa: E402
    HttpResponseError,
    ResourceNotFoundError,
    ServiceResponseError,
)
from azure.mgmt.resource.resources import ResourceManagementClient  # noqa: E402
from faults_testing import FAST_RETRY, until_injected  # noqa: E402
from services_testing import emulator_over  # noqa: E402

pytestmark = pytest.mark.skipif(registry_binary() is None, reason="docker-registry missing")
AUDIENCE = "https://containerregistry.azure.net"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    directory = tmp_path_factory.mktemp("sandbox")
    with emulator_over(directory, "registry", registry, registry.start) as handle:
        yield handle


def _registry(emu: EmulatorHandle, topo: Topology, tenant: str, name: str) -> Any:
    t = topo.tenant(tenant)
    cred = credential(emu, tenant, "admin")
    ResourceManagementClient(
        cred, t.subscription_id, **arm_kwargs(emu)
    ).resource_groups.create_or_update("rg-acr", {"location": "eastus"})
    client = acr_mgmt.ContainerRegistryManagementClient(cred, t.subscription_id, **arm_kwargs(emu))
    return client.registries.begin_create(
        "rg-acr", name, {"location": "eastus", "sku": {"name": "Standard"}}
    ).result()


def _data_client(
    emu: EmulatorHandle, login_server: str, tenant: str, principal: str = "admin", **kwargs: Any
) -> Any:
    return acr_data.ContainerRegistryClient(
        f"https://{login_server}",
        credential(emu, tenant, principal),
        audience=AUDIENCE,
        connection_verify=str(emu.ca_path),
        **kwargs,
    )


def _push_image(client: Any, repo: str, tag: str, layer: bytes = b"layer bytes " * 100) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    config_digest, _ = client.upload_blob(repo, io.BytesIO(config))
    layer_digest, _ = client.upload_blob(repo, io.BytesIO(layer))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": len(layer),
            }
        ],
    }
    raw = json.dumps(manifest, indent=1).encode()  # odd formatting: bytes must be kept
    digest = client.set_manifest(
        repo, io.BytesIO(raw), tag=tag, media_type="application/vnd.oci.image.manifest.v1+json"
    )
    assert digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    return str(digest)


def test_acr_front_and_import(emu: EmulatorHandle, topo: Topology) -> None:
    src = _registry(emu, topo, "source", "srcacr")
    other = _registry(emu, topo, "source", "srcacr2")
    tgt = _registry(emu, topo, "target", "tgtacr")
    assert src.login_server in emu.describe()["acr"]["srcacr"]
    client = _data_client(emu, src.login_server, "source")
    digests = {f"app{i}": _push_image(client, f"team/app{i}", "v1") for i in range(3)}
    assert sorted(client.list_repository_names()) == ["team/app0", "team/app1", "team/app2"]
    tags = list(client.list_tag_properties("team/app0"))
    assert [(t.name, t.digest) for t in tags] == [("v1", digests["app0"])]
    props = client.get_manifest_properties("team/app0", "v1")
    assert props.digest == digests["app0"] and props.tags == ["v1"]
    downloaded = client.get_manifest("team/app0", "v1")
    assert downloaded.digest == digests["app0"]
    # the Reader cannot push (no AcrPush)
    reader = _data_client(emu, src.login_server, "source", "limited")
    with pytest.raises(HttpResponseError):
        _push_image(reader, "team/denied", "v1")
    # same-tenant import by resource id
    mgmt = acr_mgmt.ContainerRegistryManagementClient(
        credential(emu, "source", "admin"), topo.tenant("source").subscription_id, **arm_kwargs(emu)
    )
    mgmt.registries.begin_import_image(
        "rg-acr",
        "srcacr2",
        {
            "source": {"resourceId": src.id, "sourceImage": "team/app1:v1"},
            "targetTags": ["copied/app1:v1"],
            "mode": "NoForce",
        },
    ).result()
    copy = _data_client(emu, other.login_server, "source")
    assert copy.get_manifest_properties("copied/app1", "v1").digest == digests["app1"]
    # a repository of one registry is unknown to every other one and to its own neighbours
    assert copy.get_repository_properties("copied/app1").name == "copied/app1"
    for unknown in ("copied/app1", "team/app", "team", "team/../team/app0", "team/_layers"):
        with pytest.raises(ResourceNotFoundError):
            client.get_repository_properties(unknown)
    # cross-tenant import needs credentials of the source registry
    target_mgmt = acr_mgmt.ContainerRegistryManagementClient(
        credential(emu, "target", "admin"), topo.tenant("target").subscription_id, **arm_kwargs(emu)
    )
    with pytest.raises(HttpResponseError) as info:
        target_mgmt.registries.begin_import_image(
            "rg-acr",
            "tgtacr",
            {
                "source": {"registryUri": src.login_server, "sourceImage": "team/app2:v1"},
                "targetTags": ["team/app2:v1"],
            },
        ).result()
    assert info.value.status_code == 403
    password = _refresh_token(emu, src.login_server, "source", "replicator")
    target_mgmt.registries.begin_import_image(
        "rg-acr",
        "tgtacr",
        {
            "source": {
                "registryUri": src.login_server,
                "sourceImage": "team/app2:v1",
                "credentials": {
                    "username": "00000000-0000-0000-0000-000000000000",
                    "password": password,
                },
            },
            "targetTags": ["team/app2:v1"],
        },
    ).result()
    target = _data_client(emu, tgt.login_server, "target")
    assert target.get_manifest_properties("team/app2", "v1").digest == digests["app2"]
    # a source-tenant principal cannot use the target registry
    with pytest.raises(HttpResponseError):
        list(_data_client(emu, tgt.login_server, "source").list_repository_names())


def _refresh_token(emu: EmulatorHandle, login_server: str, tenant: str, principal: str) -> str:
    aad = credential(emu, tenant, principal).get_token(f"{AUDIENCE}/.default").token
    form = urllib.parse.urlencode(
        {"grant_type": "access_token", "service": login_server, "access_token": aad}
    ).encode()
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    with urllib.request.urlopen(
        f"https://{login_server}/oauth2/exchange", form, context=context
    ) as response:
        return str(json.loads(response.read())["refresh_token"])


def test_acr_front_refuses_unauthenticated_requests(emu: EmulatorHandle, topo: Topology) -> None:
    from azure.core import PipelineClient
    from azure.core.pipeline.transport import RequestsTransport
    from azure.core.rest import HttpRequest

    registry = _registry(emu, topo, "source", "authacr")
    base = f"https://{registry.login_server}"
    client = PipelineClient(base, transport=RequestsTransport(connection_verify=str(emu.ca_path)))
    aad = credential(emu, "target", "admin").get_token(f"{AUDIENCE}/.default").token
    for method, path in [
        ("GET", "/acr/v1/_catalog"),
        ("GET", "/acr/v1/repo/_tags"),
        ("GET", "/v2/repo/manifests/latest"),
        ("POST", "/v2/repo/blobs/uploads/"),
        ("GET", "/v2/_catalog"),
        ("DELETE", "/acr/v1/repo"),
    ]:
        for token in (None, "garbage", aad):  # an AAD token is not an ACR access token
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = client.send_request(HttpRequest(method, base + path, headers=headers))
            assert response.status_code == 401, (method, path)
            assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    # the exchange refuses a token of another tenant
    response = client.send_request(
        HttpRequest(
            "POST",
            base + "/oauth2/exchange",
            data={
                "grant_type": "access_token",
                "service": registry.login_server,
                "access_token": aad,
            },
        )
    )
    assert response.status_code == 401


def test_only_the_acr_front_gets_through_to_the_upstream(
    emu: EmulatorHandle, topo: Topology
) -> None:
    """The registry takes only the sandbox's upstream Basic credentials, which the front
    sends in place of the client's ACR token: straight to the registry, neither no
    credentials nor the client's tokens get anywhere, while the same push through the front
    works and no Basic challenge of the registry reaches the client."""
    front = _registry(emu, topo, "source", "upstreamacr")
    client = _data_client(emu, front.login_server, "source")
    digest = _push_image(client, "direct/app", "v1")
    upstream = json.loads((emu.directory / "services.json").read_text())["registry"]["upstream"]
    aad = credential(emu, "source", "admin").get_token(f"{AUDIENCE}/.default").token
    refresh = _refresh_token(emu, front.login_server, "source", "admin")
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    for path in ["/v2/", "/v2/_catalog", "/v2/upstreamacr/direct/app/manifests/v1",
                 f"/v2/upstreamacr/direct/app/blobs/{digest}"]:
        for authorization in (None, f"Bearer {aad}", f"Bearer {refresh}"):
            request = urllib.request.Request(upstream + path)
            if authorization:
                request.add_header("Authorization", authorization)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, context=context, timeout=10)
            assert refused.value.code == 401, (path, authorization)
    properties = client.get_manifest_properties("direct/app", "v1")
    assert properties.digest == digest
    # A client's Basic credentials are no key to the front either (ACR's challenge, not ours).
    anonymous = urllib.request.Request(f"https://{front.login_server}/v2/direct/app/tags/list")
    anonymous.add_header("Authorization", "Basic " + "YXRnLXNhbmRib3g6eA==")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, context=context, timeout=10)
    assert refused.value.headers["WWW-Authenticate"].startswith("Bearer realm=")


@pytest.mark.parametrize("label", ["429", "503", "drop"])
def test_injected_faults_hit_v2_and_are_retried(
    emu: EmulatorHandle, topo: Topology, faults: Any, label: str
) -> None:
    """The registry is covered by fault service ``acr``: the ACR front answers ``/v2`` (and
    the token exchange) itself. 429 and 503 carry ``Retry-After``, so azure-core retries
    every request, uploads too; a dropped connection is retried only for idempotent methods,
    so under ``drop`` the image is pushed first and only its manifest is put again (and a call
    whose token exchange, a POST, was dropped is made again: see :func:`_token_post_dropped`)."""
    registry = _registry(emu, topo, "source", f"fault{label}acr")
    client = _data_client(emu, registry.login_server, "source", **FAST_RETRY)
    layer = f"layer of {label} ".encode() * 100
    _push_image(client, "faulty/app", "base", layer)
    manifest = client.get_manifest("faulty/app", "base")
    layer_digest = manifest.manifest["layers"][0]["digest"]
    faults(f"acr:{label}=0.3,retry_after=0")

    def roundtrip(i: int) -> None:
        for _ in range(10):
            try:
                return checked_roundtrip(i)
            except ServiceResponseError as exc:
                if label != "drop" or not _token_post_dropped(exc):
                    raise
        pytest.fail("ten token exchanges in a row were dropped")

    def checked_roundtrip(i: int) -> None:
        if label == "drop":
            client.set_manifest("faulty/app", manifest.manifest, tag=f"v{i}")
        else:
            _push_image(client, "faulty/app", f"v{i}", layer)
        assert client.get_manifest_properties("faulty/app", f"v{i}").digest
        blob = client.download_blob("faulty/app", layer_digest)
        assert b"".join(blob) == layer

    until_injected(emu, "acr", label, roundtrip)

    faults("acr:503=1")
    with pytest.raises(HttpResponseError) as info:
        _data_client(emu, registry.login_server, "source", retry_total=0).download_blob(
            "faulty/app", layer_digest
        )
    assert info.value.status_code == 503
    assert "/v2/faulty/app/blobs/" in urllib.parse.unquote(info.value.response.request.url)


def _token_post_dropped(error: ServiceResponseError) -> bool:
    """True when the request whose connection was dropped is the SDK's token exchange: a POST,
    which azure-core never repeats after a drop (the plugin declares it safe to repeat; this
    bare client cannot), so the call fails although nothing of ``/v2`` did."""
    sent = getattr(error.inner_exception, "request", None)  # requests' PreparedRequest
    return sent is not None and sent.method == "POST" and "/oauth2/" in str(sent.url)


def test_attributes_locks_tags_and_untagged_manifests(emu: EmulatorHandle, topo: Topology) -> None:
    """ACR's data plane beyond distribution's: every manifest of a repository (untagged ones
    too), tag and manifest attributes that lock writes and deletes, tag delete."""
    registry = _registry(emu, topo, "source", "attracr")
    client = _data_client(emu, registry.login_server, "source")
    first = _push_image(client, "app/web", "1.0", b"one " * 50)
    second = _push_image(client, "app/web", "2.0", b"two " * 50)
    _push_image(client, "app/web", "2.0", b"three " * 50)  # 2.0 moves: second is untagged
    listed = {m.digest: m.tags for m in client.list_manifest_properties("app/web")}
    assert listed[first] == ["1.0"] and listed[second] == [] and len(listed) == 3

    tag = client.update_tag_properties("app/web", "1.0", can_write=False, can_delete=False)
    assert (tag.can_write, tag.can_delete, tag.can_read) == (False, False, True)
    with pytest.raises(HttpResponseError) as info:  # a locked tag cannot be moved
        _push_image(client, "app/web", "1.0", b"four " * 50)
    assert info.value.status_code == 405
    with pytest.raises(HttpResponseError):
        client.delete_tag("app/web", "1.0")
    manifest = client.update_manifest_properties("app/web", second, can_delete=False)
    assert manifest.can_delete is False and manifest.can_write is True
    assert client.get_manifest_properties("app/web", second).can_delete is False

    client.delete_tag("app/web", "2.0")
    assert sorted(t.name for t in client.list_tag_properties("app/web")) == ["1.0"]
    assert client.get_manifest_properties("app/web", first).tags == ["1.0"]
