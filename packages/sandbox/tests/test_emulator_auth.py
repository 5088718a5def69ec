"""No emulated endpoint (other than the token and metadata endpoints) accepts a request
without a valid bearer token: missing, forged, expired or for another audience; nor a Cosmos
DB proxy one without the account's key or a valid token of its tenant. (The raw upstreams
behind the fronts refuse requests without the sandbox's upstream secret: see
``test_services_cosmos.py`` and ``test_services_registry.py``.)"""

from __future__ import annotations

import base64
import json
import os
import time
from email.utils import formatdate
from urllib.parse import quote

import jwt
import pytest
import requests
from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.emulator.cosmos import auth as cosmos_auth
from atg_dataplane_sandbox.emulator.testing import (
    ARM_SCOPE,
    arm_kwargs,
    credential,
    vault_kwargs,
)
from atg_dataplane_sandbox.services import SandboxLayout
from atg_dataplane_sandbox.services.accounts import account_key
from atg_dataplane_sandbox.services.upstream_auth import COSMOS_HEADER, cosmos_secret
from atg_dataplane_sandbox.topology import Topology
from azure.core import PipelineClient
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.keyvault.secrets import SecretClient
from azure.mgmt.cosmosdb import CosmosDBManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from vault_testing import create_vault


@pytest.fixture(scope="module")
def vault_url(emu: EmulatorHandle, topo: Topology) -> str:
    url = create_vault(emu, topo, "source", "rg-auth", "kv-auth")
    cred = credential(emu, "source", "admin")
    SecretClient(url, cred, **vault_kwargs(emu)).set_secret("present", "value")
    return url.rstrip("/")


def _send(emu: EmulatorHandle, method: str, url: str, token: str | None) -> tuple[int, str]:
    client = PipelineClient(url, transport=RequestsTransport(connection_verify=str(emu.ca_path)))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"value": "x", "location": "eastus"} if method in ("PUT", "POST", "PATCH") else None
    response = client.send_request(HttpRequest(method, url, headers=headers, json=body))
    return response.status_code, response.text()


def _endpoints(emu: EmulatorHandle, topo: Topology, vault_url: str) -> list[tuple[str, str]]:
    sub = f"{emu.arm_url}/subscriptions/{topo.tenant('source').subscription_id}"
    rg = f"{sub}/resourceGroups/rg-auth"
    vault = f"{rg}/providers/Microsoft.KeyVault/vaults/kv-auth"
    q = "?api-version=2024-11-01"
    return [
        ("GET", f"{emu.arm_url}/subscriptions{q}"),
        ("GET", f"{emu.arm_url}/tenants{q}"),
        ("GET", f"{sub}{q}"),
        ("GET", f"{sub}/resources{q}"),
        ("GET", f"{sub}/resourcegroups{q}"),
        ("PUT", f"{sub}/resourcegroups/rg-new{q}"),
        ("DELETE", f"{rg}{q}"),
        ("GET", f"{rg}/resources{q}"),
        ("GET", f"{vault}{q}"),
        ("PUT", f"{vault}{q}"),
        ("GET", f"{sub}/providers/Microsoft.KeyVault/vaults{q}"),
        ("POST", f"{rg}/providers/Microsoft.Storage/storageAccounts/acct/listKeys{q}"),
        ("GET", f"{rg}/providers/Microsoft.Authorization/permissions{q}"),
        ("GET", f"{sub}/providers/Microsoft.Authorization/roleAssignments{q}"),
        ("GET", f"{sub}/providers/Microsoft.Authorization/roleDefinitions{q}"),
        ("GET", f"{sub}/providers/Microsoft.KeyVault/locations/eastus/operationStatuses/x{q}"),
        ("GET", f"{emu.arm_url}/no/such/path{q}"),
        ("GET", f"{vault_url}/secrets?api-version=7.6"),
        ("GET", f"{vault_url}/secrets/present?api-version=7.6"),
        ("PUT", f"{vault_url}/secrets/new?api-version=7.6"),
        ("GET", f"{vault_url}/deletedsecrets?api-version=7.6"),
        ("GET", f"{vault_url}/keys?api-version=7.6"),
        ("POST", f"{vault_url}/keys/k/create?api-version=7.6"),
        ("GET", f"{vault_url}/certificates?api-version=7.6"),
        ("GET", f"{vault_url}/nothing-here?api-version=7.6"),
    ]


def _forged(
    topo: Topology, audience: str, key: rsa.RSAPrivateKey, exp: int, kid: str = "forged"
) -> str:
    p = topo.principal("source", "admin")
    claims = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{p.tenant_id}/",
        "exp": exp,
        "nbf": exp - 7200,
        "tid": p.tenant_id,
        "oid": p.object_id,
        "appid": p.client_id,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _signing_keys(emu: EmulatorHandle) -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey, str]:
    """The emulator's own signing key, a stranger's, and the ``kid`` its tokens carry."""
    own_key = serialization.load_pem_private_key(
        (emu.directory / "emulator-state" / "signing-key.pem").read_bytes(), password=None
    )
    assert isinstance(own_key, rsa.RSAPrivateKey)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(credential(emu).get_token(ARM_SCOPE).token)["kid"]
    return own_key, other_key, kid


def test_every_endpoint_refuses_bad_tokens(
    emu: EmulatorHandle, topo: Topology, vault_url: str
) -> None:
    own_key, other_key, kid = _signing_keys(emu)
    vault_token = (
        credential(emu, "source", "admin").get_token("https://vault.azure.net/.default").token
    )
    arm_token = credential(emu, "source", "admin").get_token(ARM_SCOPE).token
    for method, url in _endpoints(emu, topo, vault_url):
        is_vault = url.startswith(vault_url)
        audience = "https://vault.azure.net" if is_vault else "https://management.azure.com/"
        bad_tokens = {
            "none": None,
            "garbage": "not-a-jwt",
            "forged": _forged(topo, audience, other_key, int(time.time()) + 3600, kid),
            "expired": _forged(topo, audience, own_key, int(time.time()) - 60, kid),
            "audience": arm_token if is_vault else vault_token,
        }
        for label, token in bad_tokens.items():
            status, text = _send(emu, method, url, token)
            assert status == 401, (label, method, url, status, text)
    # and the good tokens work (so the 401s above are about the tokens)
    assert _send(emu, "GET", f"{vault_url}/secrets/present?api-version=7.6", vault_token)[0] == 200
    assert (
        _send(emu, "GET", f"{emu.arm_url}/subscriptions?api-version=2022-12-01", arm_token)[0]
        == 200
    )


def test_key_vault_answers_the_first_request_with_a_challenge(
    emu: EmulatorHandle, topo: Topology, vault_url: str
) -> None:
    client = PipelineClient(
        vault_url, transport=RequestsTransport(connection_verify=str(emu.ca_path))
    )
    response = client.send_request(HttpRequest("GET", f"{vault_url}/secrets?api-version=7.6"))
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    tenant = topo.tenant("source").tenant_id
    assert f'authorization="{emu.entra_url}/{tenant}"' in challenge
    assert 'resource="https://vault.azure.net"' in challenge


# ---------------------------------------------------------------- Cosmos DB (key or token)
COSMOS_ACCOUNT = "srccosmos1"


@pytest.fixture(scope="module")
def cosmos_url(emu: EmulatorHandle, topo: Topology) -> str:
    """The proxy of a Cosmos DB account whose server is not running: whatever the proxy lets
    through fails with 502, so every 401 below is the proxy's own answer."""
    layout = SandboxLayout(emu.directory)
    account_key(layout, "cosmos", COSMOS_ACCOUNT)
    services = {"cosmos": {"accounts": {
        COSMOS_ACCOUNT: {"endpoint": "https://127.0.0.1:9", "tenant": "source"}}}}
    (emu.directory / "services.json").write_text(json.dumps(services))
    cred = credential(emu, "source", "admin")
    subscription = topo.tenant("source").subscription_id
    ResourceManagementClient(cred, subscription, **arm_kwargs(emu)).resource_groups \
        .create_or_update("rg-auth-cosmos", {"location": "eastus"})
    mgmt = CosmosDBManagementClient(cred, subscription, **arm_kwargs(emu))
    created = mgmt.database_accounts.begin_create_or_update(
        "rg-auth-cosmos", COSMOS_ACCOUNT,
        {"location": "eastus", "properties": {"locations": [{"locationName": "eastus"}]}},
        polling_interval=0.05,
    ).result()
    return str(created.document_endpoint).rstrip("/")


def _cosmos_send(
    emu: EmulatorHandle, method: str, url: str, authorization: str | None
) -> tuple[int, str]:
    headers = {"x-ms-date": formatdate(time.time(), usegmt=True), "x-ms-version": "2018-12-31",
               # The server's upstream secret is no key to the proxy.
               COSMOS_HEADER: cosmos_secret(emu.directory)}
    if authorization is not None:
        headers["authorization"] = authorization
    body = {"id": "x"} if method in ("PUT", "POST") else None
    response = requests.request(
        method, url, headers=headers, json=body, verify=str(emu.ca_path), timeout=10
    )
    return response.status_code, response.text


def _master(key: str, method: str, path: str) -> str:
    resource = cosmos_auth.resource_of(path)
    date = formatdate(time.time(), usegmt=True)
    text = cosmos_auth.string_to_sign(method, resource.type, resource.link, date)
    return quote(f"type=master&ver=1.0&sig={cosmos_auth.sign(key, text)}", safe="")


def _aad(token: str) -> str:
    return quote(f"type=aad&ver=1.0&sig={token}", safe="")


def test_every_cosmos_endpoint_refuses_bad_keys_and_tokens(
    emu: EmulatorHandle, topo: Topology, cosmos_url: str
) -> None:
    own_key, other_key, kid = _signing_keys(emu)
    cosmos = "https://cosmos.azure.com"
    wrong_key = base64.b64encode(os.urandom(64)).decode()
    tokens = {
        "forged": _forged(topo, cosmos, other_key, int(time.time()) + 3600, kid),
        "expired": _forged(topo, cosmos, own_key, int(time.time()) - 60, kid),
        "vault audience": credential(emu, "source", "admin")
        .get_token("https://vault.azure.net/.default").token,
        "other tenant": credential(emu, "target", "admin")
        .get_token(f"{cosmos}/.default").token,
    }
    paths = [
        ("GET", "/"), ("GET", "/dbs"), ("POST", "/dbs"), ("GET", "/dbs/db1"),
        ("DELETE", "/dbs/db1"), ("GET", "/dbs/db1/colls"), ("POST", "/dbs/db1/colls/c1/docs"),
        ("GET", "/dbs/db1/colls/c1/docs/d1"), ("PUT", "/dbs/db1/colls/c1/docs/d1"),
        ("DELETE", "/dbs/db1/colls/c1/docs/d1"), ("GET", "/dbs/db1/colls/c1/pkranges"),
        ("GET", "/offers"), ("POST", "/dbs/db1/colls/c1/sprocs/sp1"),
    ]
    arm_token = credential(emu, "source", "admin").get_token(ARM_SCOPE).token
    for method, path in paths:
        bad = {
            "none": None,
            "garbage": "not-a-signature",
            "bearer": f"Bearer {arm_token}",
            "wrong key": _master(wrong_key, method, path),
            "resource token": quote("type=resource&ver=1.0&sig=abc", safe=""),
            **{label: _aad(token) for label, token in tokens.items()},
        }
        for label, authorization in bad.items():
            status, text = _cosmos_send(emu, method, cosmos_url + path, authorization)
            assert status == 401, (label, method, path, status, text)
            assert json.loads(text)["code"] == "Unauthorized", (label, method, path, text)
    # The account's key gets past the proxy (to the server, which is not running here).
    key = account_key(SandboxLayout(emu.directory), "cosmos", COSMOS_ACCOUNT)
    assert _cosmos_send(emu, "GET", cosmos_url + "/dbs", _master(key, "GET", "/dbs"))[0] == 502
