"""Pure logic: what an entity must be written after, and the canonical form both sides are
compared on. (The engine's side of ``after``, a policy failing when a named value it needs
failed, is tested in core/tests/test_engine.py.)"""

from __future__ import annotations

from atg_dataplane_apimanagement.entities import (
    BY_NAME,
    FOREIGN_GROUP,
    FOREIGN_USER,
    NO_PASSWORD,
    NO_PFX,
    builtin,
    canonical,
    not_copyable,
    rebase,
)
from atg_dataplane_apimanagement.entities import after as needs

SERVICE = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ApiManagement/service/apim"


def test_a_policy_needs_its_scope_and_what_it_names() -> None:
    policy = (
        "<policies><inbound><include-fragment fragment-id='cors' />"
        '<set-backend-service backend-id="orders" /><value>{{Backend Key}}</value>'
        "<value>{{unknown}}</value></inbound></policies>"
    )
    found = needs(
        BY_NAME["operation_policy"],
        ("orders", "list"),
        {"value": policy},
        {"backend key": "backend-key"},
    )
    assert found == (
        "api:orders",
        "operation:orders/list",
        "named_value:backend-key",  # by display name; one the service lacks is not waited on
        "policy_fragment:cors",
        "backend:orders",
    )


def test_apis_links_and_subscriptions_need_what_they_point_at() -> None:
    api = {"apiVersionSetId": f"{SERVICE}/apiVersionSets/v"}
    assert needs(BY_NAME["api"], ("orders",), api, {}, SERVICE) == ("version_set:v",)
    assert needs(BY_NAME["product_api"], ("gold", "orders"), {}, {}) == (
        "product:gold",
        "api:orders",
    )
    sub = {"scope": "/products/gold"}
    assert needs(BY_NAME["subscription"], ("s1",), sub, {}) == ("product:gold",)


def test_the_canonical_form_is_the_same_in_both_tenants() -> None:
    other = SERVICE.replace("/s/", "/t/").replace("/apim", "/apim-target")
    source = {
        "apiVersionSetId": f"{SERVICE}/apiVersionSets/v",
        "value": "<policies>\n  <inbound>\n    <base />\n  </inbound>\n</policies>",
        "provisioningState": "Succeeded",
        "isCurrent": True,
    }
    target = rebase(source, SERVICE, other)
    assert target["apiVersionSetId"] == f"{other}/apiVersionSets/v"
    assert canonical(source, SERVICE) == canonical(target | {"isCurrent": False}, other)
    assert canonical(source, SERVICE)["value"] == "<policies><inbound><base /></inbound></policies>"


def test_ids_are_made_relative_at_any_depth_and_urls_are_not_references() -> None:
    nested = {"apiVersionSet": {"id": f"{SERVICE}/apiVersionSets/v", "name": "v"}}
    assert canonical(nested, SERVICE) == {"apiVersionSet": {"id": "/apiVersionSets/v", "name": "v"}}
    operation = {"urlTemplate": "/groups/admins", "displayName": "list admins"}
    assert needs(BY_NAME["operation"], ("orders", "admins"), operation, {}, SERVICE) == (
        "api:orders",
    )
    backend = {"url": "https://x", "credentials": {"header": {"x-key": ["{{Backend Key}}"]}}}
    assert needs(BY_NAME["backend"], ("b",), backend, {"backend key": "backend-key"}) == (
        "named_value:backend-key",
    )


def test_revisions_releases_and_schemas_come_after_what_they_name() -> None:
    assert needs(BY_NAME["api"], ("orders;rev=2",), {"apiRevision": "2"}, {}) == (
        "api:orders",  # a revision is made from its API
    )
    release = {"apiId": f"{SERVICE}/apis/orders;rev=2", "notes": "v2"}
    assert needs(BY_NAME["release"], ("orders", "live"), release, {}, SERVICE) == (
        "api:orders",
        "api:orders;rev=2",
    )
    operation = {
        "request": {"representations": [{"contentType": "application/json", "schemaId": "o"}]},
        "responses": [{"representations": [{"schemaId": "err"}]}],
    }
    assert needs(BY_NAME["operation"], ("orders;rev=2", "create"), operation, {}) == (
        "api:orders;rev=2",
        "schema:orders;rev=2/o",
        "schema:orders;rev=2/err",
    )
    assert needs(BY_NAME["operation_tag"], ("orders", "list", "public"), {}, {}) == (
        "api:orders",
        "operation:orders/list",
        "tag:public",
    )
    assert needs(BY_NAME["group_user"], ("partners", "ada"), {}, {}) == (
        "group:partners",
        "user:ada",
    )


def test_what_each_service_has_of_its_own_and_what_it_never_gives_back() -> None:
    group, user, certificate = BY_NAME["group"], BY_NAME["user"], BY_NAME["certificate"]
    assert builtin(group, ("developers",), {"builtIn": True, "type": "system"})
    assert not builtin(group, ("partners",), {"type": "custom"})
    assert builtin(user, ("1",), {}) and not builtin(user, ("ada",), {})
    assert not_copyable(certificate, {"thumbprint": "AB"}) == NO_PFX  # uploaded
    vaulted = {"keyVault": {"secretIdentifier": "https://v/secrets/c"}}
    assert not_copyable(certificate, vaulted) == ""
    assert not_copyable(user, {"email": "ada@example.com"}) == NO_PASSWORD


def test_what_names_the_source_tenants_directory_is_not_copied() -> None:
    user, group = BY_NAME["user"], BY_NAME["group"]
    entra = {"identities": [{"provider": "Aad", "id": "00000000-aaaa"}], "email": "a@x"}
    assert not_copyable(user, entra) == FOREIGN_USER
    assert not_copyable(user, {"identities": [{"provider": "Basic", "id": "a@x"}]}) == NO_PASSWORD
    assert not_copyable(group, {"type": "external", "externalId": "aad://x/groups/y"}) == (
        FOREIGN_GROUP
    )
