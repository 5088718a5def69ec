"""The OCI registry as the sandbox runs it: TLS with the sandbox CA, relative URLs, delete on,
and HTTP Basic auth with the sandbox's upstream credentials (nobody else may call it)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from atg_dataplane_sandbox import certs
from atg_dataplane_sandbox.services import SandboxLayout, registry
from atg_dataplane_sandbox.services.accounts import PoolSizes
from atg_dataplane_sandbox.services.upstream_auth import registry_credentials
from services_testing import needs_emulators, running_services

pytestmark = needs_emulators

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxLayout, str]]:
    directory = tmp_path_factory.mktemp("svc-registry")
    with running_services(directory, PoolSizes(storage=1, cosmos=1)) as (layout, info):
        yield layout, info["registry"]["upstream"]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push_blob(session: requests.Session, base: str, repo: str, data: bytes) -> str:
    digest = _digest(data)
    started = session.post(f"{base}/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["Location"]
    assert location.startswith("/v2/"), "http.relativeurls must be on"
    done = session.put(f"{base}{location}", params={"digest": digest}, data=data,
                       headers={"Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text
    return digest


def test_push_pull_delete_keeps_manifest_bytes(running: tuple[SandboxLayout, str]) -> None:
    layout, base = running
    session = requests.Session()
    session.verify = str(layout.ca)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces session.verify
    session.auth = registry_credentials(layout.root)
    repo = "samples/hello"
    config = b'{"architecture":"amd64","os":"linux"}'
    layer = b"layer-bytes" * 1000
    config_digest = _push_blob(session, base, repo, config)
    layer_digest = _push_blob(session, base, repo, layer)
    # Odd spacing on purpose: the registry must store these exact bytes (digests depend on it).
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": len(layer)}],
    }, indent=3).encode()
    put = session.put(f"{base}/v2/{repo}/manifests/v1", data=manifest,
                      headers={"Content-Type": MANIFEST_TYPE})
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == _digest(manifest)

    got = session.get(f"{base}/v2/{repo}/manifests/v1", headers={"Accept": MANIFEST_TYPE})
    assert got.content == manifest
    assert session.get(f"{base}/v2/_catalog").json() == {"repositories": [repo]}
    assert session.get(f"{base}/v2/{repo}/tags/list").json()["tags"] == ["v1"]
    assert session.get(f"{base}/v2/{repo}/blobs/{layer_digest}").content == layer

    deleted = session.delete(f"{base}/v2/{repo}/manifests/{_digest(manifest)}")
    assert deleted.status_code == 202
    assert session.get(f"{base}/v2/{repo}/manifests/v1",
                       headers={"Accept": MANIFEST_TYPE}).status_code == 404
    assert any((layout.root / "registry").rglob("data")), "storage must be in DIR/registry"


def test_tls_is_verified_against_the_sandbox_ca(
    running: tuple[SandboxLayout, str], tmp_path: Path
) -> None:
    _, base = running
    other = certs.ensure_certs(tmp_path / "other-ca").ca
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{base}/v2/", verify=str(other), timeout=5)


def test_requests_without_the_upstream_credentials_are_refused(
    running: tuple[SandboxLayout, str],
) -> None:
    layout, base = running
    user, password = registry_credentials(layout.root)
    session = requests.Session()
    session.verify = str(layout.ca)
    session.trust_env = False
    attempts = {
        "none": {},
        "wrong password": {"auth": (user, "not-" + password)},
        "other user": {"auth": ("admin", password)},
        "bearer": {"headers": {"Authorization": "Bearer " + password}},
    }
    for method, path in [("GET", "/v2/"), ("GET", "/v2/_catalog"),
                         ("GET", "/v2/samples/hello/tags/list"),
                         ("POST", "/v2/samples/sneaky/blobs/uploads/"),
                         ("DELETE", "/v2/samples/hello/manifests/sha256:" + "0" * 64)]:
        for label, options in attempts.items():
            answer = session.request(method, base + path, timeout=10, **options)
            assert answer.status_code == 401, (label, method, path, answer.text)
    assert session.get(f"{base}/v2/", auth=(user, password), timeout=10).status_code == 200


def test_credentials_are_private(running: tuple[SandboxLayout, str]) -> None:
    layout, _ = running
    htpasswd = registry.htpasswd_file(layout)
    user, password = registry_credentials(layout.root)
    assert htpasswd.stat().st_mode & 0o777 == 0o600
    assert htpasswd.read_text().startswith(f"{user}:$2")  # bcrypt, never the password
    assert password not in htpasswd.read_text()
    assert (layout.secrets / "upstream" / "registry").stat().st_mode & 0o777 == 0o600
    settings = json.loads((layout.root / "registry-config.yml").read_text())
    assert settings["auth"]["htpasswd"]["path"] == str(htpasswd)


def test_config_is_private_and_listens_on_loopback(running: tuple[SandboxLayout, str]) -> None:
    layout, base = running
    config_file = layout.root / "registry-config.yml"
    assert config_file.stat().st_mode & 0o777 == 0o600
    settings = json.loads(config_file.read_text())
    assert settings["http"]["relativeurls"] is True
    assert settings["storage"]["delete"]["enabled"] is True
    assert settings["http"]["addr"].startswith("127.0.0.1:")
    assert base.startswith("https://127.0.0.1:")
    assert registry.healthy(layout, {"upstream": base})


def test_no_stray_distro_registry_on_port_5000() -> None:
    # The Debian package enables a service on :5000; `sandbox install` stops and disables it.
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        assert sock.connect_ex(("127.0.0.1", 5000)) != 0, "something listens on :5000"
