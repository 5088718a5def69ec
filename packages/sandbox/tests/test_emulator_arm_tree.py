"""The ARM resource tree: nested types served from their declaration alone
(``emulator/arm/tree.py``), through the official azure-mgmt-* SDKs.

API Management's named values are declared (``emulator/apimanagement/arm.py``): list with
``nextLink``, create with an ETag, read without the secret, the secret through
``listValue``, If-Match, delete; Cosmos DB's role definitions and assignments, hand-written
before, are declarations now too (their tests are in ``test_emulator_providers.py``).
"""

from __future__ import annotations

import pytest
from arm_testing import mgmt_client
from atg_dataplane_sandbox.emulator import EmulatorHandle
from atg_dataplane_sandbox.emulator.testing import arm_kwargs, credential
from atg_dataplane_sandbox.topology import Topology
from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.mgmt.apimanagement import ApiManagementClient

RG, SERVICE = "rg-apim", "apim-tree"


@pytest.fixture(scope="module")
def apim(emu: EmulatorHandle, topo: Topology) -> ApiManagementClient:
    client = mgmt_client(emu, topo, ApiManagementClient, RG)
    _create_service(client, SERVICE)
    return client


def _value(name: str, value: str, secret: bool) -> dict[str, object]:
    return {"display_name": name, "value": value, "secret": secret}


def test_named_values_are_served_from_their_declaration(apim: ApiManagementClient) -> None:
    named = apim.named_value
    created = named.begin_create_or_update(
        RG, SERVICE, "db-password", _value("db-password", "s3cr3t-value", True)
    ).result()
    assert created.display_name == "db-password" and created.secret is True
    assert created.value is None  # a secret is never echoed
    # read: no secret, an ETag; the secret through its list* action
    got = named.get(RG, SERVICE, "db-password")
    assert got.value is None and got.secret is True
    assert named.get_entity_tag(RG, SERVICE, "db-password") is True
    assert named.list_value(RG, SERVICE, "db-password").value == "s3cr3t-value"
    # a plain value is shown; lists page with nextLink (pages of 5): 7 items, all listed
    for i in range(6):
        named.begin_create_or_update(
            RG, SERVICE, f"plain-{i}", _value(f"plain-{i}", str(i), False)
        ).result()
    listed = {item.name: item for item in named.list_by_service(RG, SERVICE)}
    assert len(listed) == 7
    assert listed["plain-3"].value == "3" and listed["db-password"].value is None


def test_if_match_guards_updates_and_deletes(apim: ApiManagementClient) -> None:
    named = apim.named_value
    named.begin_create_or_update(RG, SERVICE, "guarded", _value("guarded", "v1", True)).result()
    etag = _etag(apim, "guarded")
    with pytest.raises(HttpResponseError) as exists:  # a create-only PUT of an existing one
        named.begin_create_or_update(
            RG, SERVICE, "guarded", _value("guarded", "v2", True), headers={"If-None-Match": "*"}
        ).result()
    assert exists.value.status_code == 412 and exists.value.error.code == "PreconditionFailed"
    with pytest.raises(HttpResponseError) as stale:
        named.begin_update(RG, SERVICE, "guarded", '"stale"', {"value": "v2"}).result()
    assert stale.value.status_code == 412
    named.begin_update(RG, SERVICE, "guarded", etag, {"value": "v2"}).result()
    assert named.list_value(RG, SERVICE, "guarded").value == "v2"
    new_etag = _etag(apim, "guarded")
    assert new_etag != etag
    with pytest.raises(HttpResponseError) as old:
        named.delete(RG, SERVICE, "guarded", etag)
    assert old.value.status_code == 412
    named.delete(RG, SERVICE, "guarded", new_etag)
    with pytest.raises(ResourceNotFoundError):
        named.get(RG, SERVICE, "guarded")


def test_a_reader_sees_the_value_but_not_the_secret(
    emu: EmulatorHandle, topo: Topology, apim: ApiManagementClient
) -> None:
    apim.named_value.begin_create_or_update(
        RG, SERVICE, "readable", _value("readable", "hidden", True)
    ).result()
    src = topo.tenant("source")
    reader = ApiManagementClient(
        credential(emu, "source", "limited"), src.subscription_id, **arm_kwargs(emu)
    )
    assert reader.named_value.get(RG, SERVICE, "readable").value is None
    with pytest.raises(HttpResponseError) as denied:
        reader.named_value.list_value(RG, SERVICE, "readable")
    assert denied.value.status_code == 403
    assert denied.value.error.code == "AuthorizationFailed"


def test_validation_and_missing_parents_answer_as_azure(apim: ApiManagementClient) -> None:
    with pytest.raises(HttpResponseError) as bad:
        apim.named_value.begin_create_or_update(
            RG, SERVICE, "no-value", {"display_name": "no-value"}
        ).result()
    assert bad.value.status_code == 400 and bad.value.error.code == "ValidationError"
    with pytest.raises(ResourceNotFoundError):
        apim.named_value.get(RG, "no-such-service", "x")
    with pytest.raises(HttpResponseError) as version:
        apim.named_value.get(RG, SERVICE, "db-password", api_version="2015-01-01")
    assert version.value.status_code == 400


def test_deleting_the_service_deletes_its_named_values(
    emu: EmulatorHandle, topo: Topology, apim: ApiManagementClient
) -> None:
    _create_service(apim, "apim-gone")
    apim.named_value.begin_create_or_update(
        RG, "apim-gone", "kept", _value("kept", "x", False)
    ).result()
    apim.api_management_service.begin_delete(RG, "apim-gone").result()
    _create_service(apim, "apim-gone")
    assert list(apim.named_value.list_by_service(RG, "apim-gone")) == []


def _create_service(apim: ApiManagementClient, name: str) -> None:
    apim.api_management_service.begin_create_or_update(
        RG,
        name,
        {
            "location": "eastus",
            "sku": {"name": "Developer", "capacity": 1},
            "publisher_email": "ops@example.com",
            "publisher_name": "Ops",
        },
    ).result()


def _etag(apim: ApiManagementClient, name: str) -> str:
    found: dict[str, str] = {}
    apim.named_value.get(RG, SERVICE, name, cls=lambda _r, _d, headers: found.update(headers))
    return found["ETag"]


def test_apis_products_policies_and_subscriptions_are_declared_too(
    apim: ApiManagementClient,
) -> None:
    apim.named_value.begin_create_or_update(
        RG, SERVICE, "backend-key", _value("backend-key", "k3y", True)
    ).result()
    apim.backend.create_or_update(
        RG, SERVICE, "orders-backend", {"url": "https://orders.example", "protocol": "http"}
    )
    apim.api_version_set.create_or_update(
        RG, SERVICE, "orders-versions", {"display_name": "Orders", "versioning_scheme": "Segment"}
    )
    api = apim.api.begin_create_or_update(
        RG,
        SERVICE,
        "orders",
        {
            "display_name": "Orders",
            "path": "orders",
            "protocols": ["https"],
            "api_version_set_id": f"{_service_id(apim)}/apiVersionSets/orders-versions",
        },
    ).result()
    assert api.path == "orders"
    for op in ("list", "get", "create"):
        apim.api_operation.create_or_update(
            RG,
            SERVICE,
            "orders",
            op,
            {"display_name": op, "method": "GET", "url_template": f"/{op}"},
        )
    assert len(list(apim.api_operation.list_by_api(RG, SERVICE, "orders"))) == 3
    policy = (
        "<policies><inbound><set-header name='k'><value>{{backend-key}}</value>"
        "</set-header></inbound></policies>"
    )
    apim.api_policy.create_or_update(RG, SERVICE, "orders", "policy", {"value": policy})
    assert "{{backend-key}}" in apim.api_policy.get(RG, SERVICE, "orders", "policy").value
    with pytest.raises(HttpResponseError) as missing:  # a named value the service lacks
        apim.api_policy.create_or_update(
            RG, SERVICE, "orders", "policy", {"value": "<policies>{{nope}}</policies>"}
        )
    assert missing.value.status_code == 400 and "nope" in str(missing.value)

    apim.product.create_or_update(RG, SERVICE, "gold", {"display_name": "Gold"})
    apim.product_api.create_or_update(RG, SERVICE, "gold", "orders")
    assert apim.product_api.check_entity_exists(RG, SERVICE, "gold", "orders") is True
    assert [a.name for a in apim.product_api.list_by_product(RG, SERVICE, "gold")] == ["orders"]
    sub = apim.subscription.create_or_update(
        RG, SERVICE, "gold-sub", {"display_name": "Gold", "scope": "/products/gold"}
    )
    assert sub.primary_key is None  # never echoed
    keys = apim.subscription.list_secrets(RG, SERVICE, "gold-sub")
    assert keys.primary_key and keys.secondary_key and keys.primary_key != keys.secondary_key
    again = apim.subscription.create_or_update(
        RG, SERVICE, "gold-sub", {"display_name": "Gold 2", "scope": "/products/gold"}
    )
    assert again.display_name == "Gold 2"
    assert apim.subscription.list_secrets(RG, SERVICE, "gold-sub").primary_key == keys.primary_key

    etag = apim.api.get_entity_tag(RG, SERVICE, "orders")
    assert etag is True
    found: dict[str, str] = {}
    apim.api.get(RG, SERVICE, "orders", cls=lambda _r, _d, headers: found.update(headers))
    apim.api.begin_delete(RG, SERVICE, "orders", found["ETag"]).result()
    with pytest.raises(ResourceNotFoundError):  # its operations went with it
        apim.api_operation.get(RG, SERVICE, "orders", "list")


def _service_id(apim: ApiManagementClient) -> str:
    return apim.api_management_service.get(RG, SERVICE).id
