"""API Management: a service in each tenant through ARM (azure-mgmt-apimanagement), the
source filled with what a real gateway holds: named values (one secret, a canary), a policy
fragment, a backend, a version set, APIs with operations, policies at every scope that
reference named values and the fragment, products linking APIs, a subscription (keys made
by the service); an API's life (a second revision released, a schema its operation uses,
an API imported from an OpenAPI document, tags on an API, an operation and a product);
and who uses it (a user in a group, certificates: one uploaded, one from Key Vault)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from azure.mgmt.apimanagement import ApiManagementClient

from atg_dataplane_sandbox.certs import client_pfx
from atg_dataplane_sandbox.scenarios import ApimContents, ResourceSpec
from atg_dataplane_sandbox.seeders.context import SeedContext

GLOBAL_POLICY = (
    "<policies><inbound><set-header name='x-environment' exists-action='override'>"
    "<value>{{environment}}</value></set-header></inbound><backend><forward-request />"
    "</backend><outbound /><on-error /></policies>"
)
API_POLICY = (
    "<policies><inbound><base /><include-fragment fragment-id='cors' />"
    "<set-backend-service backend-id='orders-backend' />"
    "<set-header name='x-backend-key' exists-action='override'><value>{{backend-key}}</value>"
    "</set-header></inbound><backend><base /></backend><outbound><base /></outbound>"
    "<on-error><base /></on-error></policies>"
)
OPERATION_POLICY = (
    "<policies><inbound><base /><rate-limit calls='10' renewal-period='60' /></inbound>"
    "<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>"
    "</policies>"
)
PRODUCT_POLICY = (
    "<policies><inbound><base /><quota calls='1000' renewal-period='3600' /></inbound>"
    "<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>"
    "</policies>"
)
FRAGMENT = (
    "<fragment><cors><allowed-origins><origin>{{environment}}.example</origin>"
    "</allowed-origins></cors></fragment>"
)


def create_service(ctx: SeedContext, side: str, name: str) -> ApiManagementClient:
    client = ctx.mgmt(ApiManagementClient, side)
    client.api_management_service.begin_create_or_update(
        ctx.resource_groups[side],
        name,
        {
            "location": ctx.location(side),
            "sku": {"name": "Developer", "capacity": 1},
            "publisher_email": "apis@sandbox.example",
            "publisher_name": "Sandbox",
        },
        polling_interval=0.1,
    ).result()
    return client


def seed(ctx: SeedContext, spec: ResourceSpec) -> dict[str, int]:
    contents: ApimContents = spec.contents
    create_service(ctx, "target", spec.target_name)
    client = create_service(ctx, "source", spec.source_name)
    rg, svc = ctx.resource_groups["source"], spec.source_name
    service_id = client.api_management_service.get(rg, svc).id
    secret = ctx.canaries.add(ctx.canaries.new())
    counts: dict[str, int] = {}

    def count(kind: str, n: int = 1) -> None:
        counts[kind] = counts.get(kind, 0) + n

    for name, value, is_secret in (("backend-key", secret, True), ("environment", "prod", False)):
        client.named_value.begin_create_or_update(
            rg,
            svc,
            name,
            {"display_name": name, "value": value, "secret": is_secret},
            polling_interval=0.1,
        ).result()
        count("named_value")
    client.policy_fragment.begin_create_or_update(
        rg, svc, "cors", {"value": FRAGMENT, "format": "rawxml"}, polling_interval=0.1
    ).result()
    count("policy_fragment")
    client.backend.create_or_update(
        rg, svc, "orders-backend", {"url": "https://orders.sandbox.example", "protocol": "http"}
    )
    count("backend")
    client.api_version_set.create_or_update(
        rg, svc, "orders-versions", {"display_name": "Orders", "versioning_scheme": "Segment"}
    )
    count("version_set")
    apis = [f"api-{i}" for i in range(contents.apis)]
    for i, api in enumerate(apis):
        body: dict[str, Any] = {
            "display_name": f"API {i}",
            "path": api,
            "protocols": ["https"],
            "service_url": f"https://{api}.sandbox.example",
        }
        if i == 0:
            body.update(
                api_version="v1", api_version_set_id=f"{service_id}/apiVersionSets/orders-versions"
            )
        client.api.begin_create_or_update(rg, svc, api, body, polling_interval=0.1).result()
        count("api")
        for j in range(contents.operations_per_api):
            client.api_operation.create_or_update(
                rg,
                svc,
                api,
                f"op-{j}",
                {
                    "display_name": f"Operation {j}",
                    "method": "GET" if j % 2 else "POST",
                    "url_template": f"/items/{j}",
                },
            )
            count("operation")
    client.api_policy.create_or_update(rg, svc, apis[0], "policy", {"value": API_POLICY})
    count("api_policy")
    client.api_operation_policy.create_or_update(
        rg, svc, apis[0], "op-0", "policy", {"value": OPERATION_POLICY}
    )
    count("operation_policy")
    for p in range(contents.products):
        product = f"product-{p}"
        client.product.create_or_update(
            rg,
            svc,
            product,
            {"display_name": f"Product {p}", "subscription_required": True, "state": "published"},
        )
        count("product")
        for api in apis[p :: contents.products]:
            client.product_api.create_or_update(rg, svc, product, api)
            count("product_api")
    client.product_policy.create_or_update(
        rg, svc, "product-0", "policy", {"value": PRODUCT_POLICY}
    )
    count("product_policy")
    client.policy.create_or_update(rg, svc, "policy", {"value": GLOBAL_POLICY})
    count("global_policy")
    client.subscription.create_or_update(
        rg, svc, "product-0-sub", {"display_name": "Product 0", "scope": "/products/product-0"}
    )
    count("subscription")
    _around(ctx, client, rg, svc, service_id, apis, count)
    _lifecycle(client, rg, svc, service_id, apis[0], count)
    _people(ctx, client, rg, svc, count)
    if contents.key_vault:
        uri = _vault_uri(ctx, contents.key_vault)
        client.certificate.create_or_update(
            rg,
            svc,
            "web-from-vault",
            {"key_vault": {"secret_identifier": f"{uri.rstrip('/')}/secrets/web-exportable"}},
        )
        count("certificate")
        client.named_value.begin_create_or_update(
            rg,
            svc,
            "db-password-kv",
            {
                "display_name": "db-password-kv",
                "secret": True,
                "key_vault": {"secret_identifier": f"{uri.rstrip('/')}/secrets/db-password"},
            },
            polling_interval=0.1,
        ).result()
        count("named_value")
    return counts


def _vault_uri(ctx: SeedContext, vault: str, timeout: float = 60.0) -> str:
    """The ``vaultUri`` of a source vault the scenario seeds beside this service (seeders
    run at once: wait for it)."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.keyvault import KeyVaultManagementClient

    vaults = ctx.mgmt(KeyVaultManagementClient, "source").vaults
    deadline = time.monotonic() + timeout
    while True:
        try:
            return str(vaults.get(ctx.resource_groups["source"], vault).properties.vault_uri)
        except ResourceNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _around(
    ctx: SeedContext, client: Any, rg: str, svc: str, service_id: str, apis: list[str], count: Any
) -> None:
    """What sits around the APIs: tags, a group given a product, a logger with the
    diagnostics that use it, a self-hosted gateway serving an API, an identity provider and
    an authorization server (their client secrets are canaries)."""
    client.tag.create_or_update(rg, svc, "public", {"display_name": "Public"})
    count("tag")
    client.group.create_or_update(
        rg, svc, "partners", {"display_name": "Partners", "description": "external partners"}
    )
    count("group")
    client.product_group.create_or_update(rg, svc, "product-0", "partners")
    count("product_group")
    client.logger.create_or_update(
        rg,
        svc,
        "insights",
        {
            "logger_type": "applicationInsights",
            "description": "request telemetry",
            "resource_id": "/subscriptions/x/resourceGroups/y/providers/microsoft.insights/"
            "components/insights",
        },
    )
    count("logger")
    logger_id = f"{service_id}/loggers/insights"
    client.diagnostic.create_or_update(
        rg, svc, "applicationinsights", {"logger_id": logger_id, "always_log": "allErrors"}
    )
    count("diagnostic")
    client.api_diagnostic.create_or_update(
        rg, svc, apis[0], "applicationinsights", {"logger_id": logger_id, "verbosity": "error"}
    )
    count("api_diagnostic")
    client.gateway.create_or_update(
        rg, svc, "edge", {"location_data": {"name": "edge-site"}, "description": "on-premises"}
    )
    count("gateway")
    client.gateway_api.create_or_update(rg, svc, "edge", apis[0])
    count("gateway_api")
    client.identity_provider.create_or_update(
        rg,
        svc,
        "aad",
        {
            "client_id": "6f5d2a4e-client",
            "client_secret": ctx.canaries.add(ctx.canaries.new()),
            "allowed_tenants": ["contoso.onmicrosoft.com"],
        },
    )
    count("identity_provider")
    client.authorization_server.create_or_update(
        rg,
        svc,
        "oauth",
        {
            "display_name": "OAuth",
            "client_registration_endpoint": "https://auth.example/reg",
            "authorization_endpoint": "https://auth.example/authorize",
            "token_endpoint": "https://auth.example/token",
            "grant_types": ["authorizationCode"],
            "client_id": "oauth-client",
            "client_secret": ctx.canaries.add(ctx.canaries.new()),
            "authorization_methods": ["GET"],
        },
    )
    count("authorization_server")


PETS = {
    "openapi": "3.0.1",
    "info": {"title": "Pets", "description": "imported from an OpenAPI document"},
    "paths": {
        "/pets": {"get": {"operationId": "listPets", "summary": "List pets"}},
        "/pets/{petId}": {"get": {"operationId": "getPet", "summary": "Get a pet"}},
    },
}


def _lifecycle(
    client: Any, rg: str, svc: str, service_id: str, api: str, count: Any
) -> None:
    """An API's life: a schema one of its operations uses, a second revision (with an
    operation of its own) released, tags on the API, an operation and a product, and an
    API imported from an OpenAPI document."""
    client.api_schema.begin_create_or_update(
        rg,
        svc,
        api,
        "order",
        {
            "content_type": "application/vnd.oai.openapi.components+json",
            "components": {"schemas": {"Order": {"type": "object", "required": ["id"]}}},
        },
        polling_interval=0.1,
    ).result()
    count("schema")
    client.api_operation.create_or_update(
        rg,
        svc,
        api,
        "create-order",
        {
            "display_name": "Create order",
            "method": "POST",
            "url_template": "/orders",
            "request": {
                "representations": [
                    {"content_type": "application/json", "schema_id": "order", "type_name": "Order"}
                ]
            },
        },
    )
    count("operation")
    revision = f"{api};rev=2"
    client.api.begin_create_or_update(
        rg,
        svc,
        revision,
        {"source_api_id": f"{service_id}/apis/{api}", "api_revision_description": "v2"},
        polling_interval=0.1,
    ).result()
    count("api")
    operations = len(list(client.api_operation.list_by_api(rg, svc, revision)))
    count("operation", operations)  # a revision starts as a copy of its API
    count("schema", len(list(client.api_schema.list_by_api(rg, svc, revision))))
    for kind in ("api_policy", "operation_policy", "api_diagnostic"):  # copied too
        count(kind)
    client.api_operation.create_or_update(
        rg,
        svc,
        revision,
        "cancel-order",
        {"display_name": "Cancel order", "method": "DELETE", "url_template": "/orders/{id}",
         "template_parameters": [{"name": "id", "type": "string", "required": True}]},
    )
    count("operation")
    client.api_release.create_or_update(
        rg, svc, api, "v2-live", {"api_id": f"{service_id}/apis/{revision}", "notes": "v2"}
    )
    count("release")
    client.tag.assign_to_api(rg, svc, api, "public")
    client.tag.assign_to_operation(rg, svc, api, "op-0", "public")
    client.tag.assign_to_product(rg, svc, "product-0", "public")
    for kind in ("api_tag", "operation_tag", "product_tag"):
        count(kind)
    client.api.begin_create_or_update(
        rg,
        svc,
        "pets",
        {"path": "pets", "format": "openapi+json", "value": json.dumps(PETS)},
        polling_interval=0.1,
    ).result()
    count("api")
    count("operation", len(PETS["paths"]))


def _people(ctx: SeedContext, client: Any, rg: str, svc: str, count: Any) -> None:
    """A developer in the partners group (her password is a canary: never readable, so
    never copied), an Entra user in an external group (both name the source tenant's
    directory: not copied), and an uploaded client certificate (its PFX is never readable
    either)."""
    client.user.create_or_update(
        rg,
        svc,
        "ada",
        {
            "email": "ada@partners.example",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "note": "partner developer",
            "password": ctx.canaries.add(ctx.canaries.new()),
        },
    )
    count("user")
    client.group_user.create(rg, svc, "partners", "ada")
    count("group_user")
    # what names the source tenant's directory: an Entra user and an external group
    tenant = ctx.tenant("source").tenant_id
    client.user.create_or_update(
        rg,
        svc,
        "grace",
        {
            "email": "grace@contoso.example",
            "first_name": "Grace",
            "last_name": "Hopper",
            "identities": [{"provider": "Aad", "id": "5d2f7a3e-0000-4000-8000-00000000face"}],
        },
    )
    count("user")
    client.group.create_or_update(
        rg,
        svc,
        "entra-admins",
        {
            "display_name": "Entra admins",
            "type": "external",
            "external_id": f"aad://{tenant}/groups/6e1a9b2c-0000-4000-8000-0000000000ad",
        },
    )
    count("group")
    client.group_user.create(rg, svc, "entra-admins", "grace")
    count("group_user")
    password = ctx.canaries.add(ctx.canaries.new())
    client.certificate.create_or_update(
        rg, svc, "client-cert", {"data": _pfx(password), "password": password}
    )
    count("certificate")


def _pfx(password: str) -> str:
    """A client certificate's PFX, base64 as API Management takes an upload."""
    pfx, _ = client_pfx("client.sandbox.example", password)
    return base64.b64encode(pfx).decode()
