"""What the sandbox's API Management does beyond the resource tree's rules
(``emulator/apimanagement/arm.py``), through azure-mgmt-apimanagement: revisions and
releases, OpenAPI imports, schemas (long-running), tag and group links, built-in groups,
users (no password shown) and certificates (a PFX parsed, never shown again)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from arm_testing import mgmt_client
from atg_dataplane_sandbox.certs import client_pfx
from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.topology import Topology
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.apimanagement import ApiManagementClient
from cryptography.hazmat.primitives import hashes

RG, SERVICE = "rg-apim-more", "apim-more"
OPENAPI = {
    "openapi": "3.0.1",
    "info": {"title": "Pets", "description": "pets for sale"},
    "paths": {
        "/pets": {"get": {"operationId": "listPets", "summary": "List pets"}, "post": {}},
        "/pets/{petId}": {"get": {"operationId": "getPet"}},
    },
}


def _text(response: Any, *_: Any) -> str:
    """What the service answered, as sent (``cls=`` of an SDK call)."""
    return str(response.http_response.text())


@pytest.fixture(scope="module")
def apim(emu: EmulatorHandle, topo: Topology) -> ApiManagementClient:
    client = mgmt_client(emu, topo, ApiManagementClient, RG)
    client.api_management_service.begin_create_or_update(
        RG,
        SERVICE,
        {
            "location": "eastus",
            "sku": {"name": "Developer", "capacity": 1},
            "publisher_email": "ops@example.com",
            "publisher_name": "Ops",
        },
    ).result()
    client.api.begin_create_or_update(
        RG, SERVICE, "orders", {"display_name": "Orders", "path": "orders"}
    ).result()
    client.api_operation.create_or_update(
        RG,
        SERVICE,
        "orders",
        "list",
        {"display_name": "List", "method": "GET", "url_template": "/"},
    )
    return client


def test_a_revision_is_current_only_once_released(apim: ApiManagementClient) -> None:
    service_id = apim.api_management_service.get(RG, SERVICE).id
    rev = apim.api.begin_create_or_update(
        RG,
        SERVICE,
        "orders;rev=2",
        {"source_api_id": f"{service_id}/apis/orders", "api_revision_description": "v2 work"},
    ).result()
    assert rev.path == "orders" and rev.api_revision == "2" and rev.is_current is False
    copied = apim.api_operation.list_by_api(RG, SERVICE, "orders;rev=2")
    assert [op.name for op in copied] == ["list"]  # a revision starts as a copy
    listed = {api.name: api.is_current for api in apim.api.list_by_service(RG, SERVICE)}
    assert listed["orders"] is True and listed["orders;rev=2"] is False
    apim.api_release.create_or_update(
        RG, SERVICE, "orders", "go-live", {"api_id": "/apis/orders;rev=2", "notes": "ship it"}
    )
    assert apim.api.get(RG, SERVICE, "orders;rev=2").is_current is True
    assert apim.api.get(RG, SERVICE, "orders").is_current is False
    release = apim.api_release.get(RG, SERVICE, "orders", "go-live")
    assert release.api_id.endswith("/apis/orders;rev=2") and release.notes == "ship it"
    with pytest.raises(HttpResponseError) as orphan:  # no API to make a revision of
        apim.api.begin_create_or_update(RG, SERVICE, "ghost;rev=2", {}).result()
    assert orphan.value.status_code == 400
    with pytest.raises(HttpResponseError) as foreign:  # a release of another API's revision
        apim.api_release.create_or_update(
            RG, SERVICE, "orders", "bad", {"api_id": "/apis/ghost"}
        )
    assert foreign.value.status_code == 400


def test_an_openapi_import_makes_the_operations(apim: ApiManagementClient) -> None:
    api = apim.api.begin_create_or_update(
        RG,
        SERVICE,
        "pets",
        {"path": "pets", "format": "openapi+json", "value": json.dumps(OPENAPI)},
    ).result()
    assert api.display_name == "Pets" and api.description == "pets for sale"
    operations = {op.name: op for op in apim.api_operation.list_by_api(RG, SERVICE, "pets")}
    assert set(operations) == {"listpets", "getpet", "post-pets"}
    assert operations["getpet"].url_template == "/pets/{petId}"
    assert [p.name for p in operations["getpet"].template_parameters] == ["petId"]
    assert operations["listpets"].display_name == "List pets"
    with pytest.raises(HttpResponseError) as wsdl:
        apim.api.begin_create_or_update(
            RG, SERVICE, "soap", {"path": "soap", "format": "wsdl", "value": "<definitions/>"}
        ).result()
    assert wsdl.value.status_code == 400 and "not emulated" in str(wsdl.value)


def test_schemas_are_long_running_and_tags_link(apim: ApiManagementClient) -> None:
    poller = apim.api_schema.begin_create_or_update(
        RG,
        SERVICE,
        "orders",
        "order",
        {
            "content_type": "application/vnd.oai.openapi.components+json",
            "components": {"schemas": {"Order": {"type": "object"}}},
        },
        polling_interval=0.05,
    )
    assert poller.result().content_type.endswith("components+json")
    assert [s.name for s in apim.api_schema.list_by_api(RG, SERVICE, "orders")] == ["order"]

    apim.tag.create_or_update(RG, SERVICE, "public", {"display_name": "Public"})
    apim.tag.assign_to_api(RG, SERVICE, "orders", "public")
    assert apim.tag.get_entity_state_by_api(RG, SERVICE, "orders", "public") is True
    assert [t.name for t in apim.tag.list_by_api(RG, SERVICE, "orders")] == ["public"]
    apim.product.create_or_update(RG, SERVICE, "gold", {"display_name": "Gold"})
    apim.tag.assign_to_product(RG, SERVICE, "gold", "public")
    assert apim.tag.get_by_product(RG, SERVICE, "gold", "public").display_name == "Public"
    with pytest.raises(ResourceNotFoundError):  # a tag the service lacks
        apim.tag.assign_to_api(RG, SERVICE, "orders", "nope")


def test_an_api_that_goes_leaves_no_product_link(apim: ApiManagementClient) -> None:
    apim.api.begin_create_or_update(
        RG, SERVICE, "short-lived", {"display_name": "Short", "path": "short"}
    ).result()
    apim.product.create_or_update(RG, SERVICE, "silver", {"display_name": "Silver"})
    apim.product_api.create_or_update(RG, SERVICE, "silver", "short-lived")
    apim.api.begin_delete(RG, SERVICE, "short-lived", if_match="*").result()
    assert list(apim.product_api.list_by_product(RG, SERVICE, "silver")) == []


def test_users_groups_and_built_in_groups(apim: ApiManagementClient) -> None:
    groups = {g.name: g for g in apim.group.list_by_service(RG, SERVICE)}
    assert {"administrators", "developers", "guests"} <= set(groups)
    assert groups["developers"].built_in is True
    with pytest.raises(HttpResponseError) as builtin:
        apim.group.create_or_update(RG, SERVICE, "developers", {"display_name": "Mine"})
    assert builtin.value.status_code == 400
    user = apim.user.create_or_update(
        RG,
        SERVICE,
        "ada",
        {"email": "ada@example.com", "first_name": "Ada", "last_name": "L", "password": "pw-1"},
    )
    assert user.state == "active" and user.identities[0].id == "ada@example.com"
    raw = apim.user.get(RG, SERVICE, "ada", cls=_text)
    assert "pw-1" not in raw  # a password is never shown
    with pytest.raises(HttpResponseError) as twice:
        apim.user.create_or_update(
            RG, SERVICE, "ada2", {"email": "ADA@example.com", "first_name": "A", "last_name": "L"}
        )
    assert twice.value.status_code == 409
    apim.group_user.create(RG, SERVICE, "developers", "ada")
    assert apim.group_user.check_entity_exists(RG, SERVICE, "developers", "ada") is True
    assert [u.name for u in apim.group_user.list(RG, SERVICE, "developers")] == ["ada"]


def test_an_uploaded_certificate_is_parsed_and_never_shown(apim: ApiManagementClient) -> None:
    pfx, cert = client_pfx("client.example", "pfx-pass", days=30)
    data = base64.b64encode(pfx).decode()
    made = apim.certificate.create_or_update(
        RG, SERVICE, "client", {"data": data, "password": "pfx-pass"}
    )
    assert made.subject == "CN=client.example"
    assert made.thumbprint == cert.fingerprint(hashes.SHA1()).hex().upper()
    raw = apim.certificate.get(RG, SERVICE, "client", cls=_text)
    assert data[:40] not in raw and "pfx-pass" not in raw
    with pytest.raises(HttpResponseError) as wrong:
        apim.certificate.create_or_update(
            RG, SERVICE, "bad", {"data": data, "password": "wrong"}
        )
    assert wrong.value.status_code == 400
    vaulted = apim.certificate.create_or_update(
        RG,
        SERVICE,
        "from-vault",
        {"key_vault": {"secret_identifier": "https://kv.example/secrets/tls"}},
    )
    assert vaulted.key_vault.secret_identifier.endswith("/secrets/tls")
    assert vaulted.key_vault.last_status.code == "Success"
