"""Key Vault certificates: create from a policy (issuer Self: a real self-signed X.509),
import PFX/PEM, the pending operation the SDK polls, policy, versions, delete/recover/purge,
backup/restore, contacts and issuers. Each certificate version owns a managed key and a
managed secret of the same name and version."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.keyvault import (
    import_worker,
    keypool,
    keys,
    lifecycle,
    material,
    x509_build,
)
from atg_dataplane_sandbox.emulator.keyvault.vault import (
    VaultContext,
    new_version,
    now,
    path_not_found,
    read_attributes,
)

KIND = "certificates"


async def route(vc: VaultContext, rest: list[str], method: str) -> web.StreamResponse:
    low = [s.lower() for s in rest]
    if not rest:
        if method == "GET":
            return await list_certificates(vc)
        raise path_not_found(vc)
    if low[0] == "contacts":
        return await contacts(vc, method)
    if low[0] == "issuers":
        return await issuers(vc, rest[1] if len(rest) > 1 else None, method)
    if low[0] == "restore" and len(rest) == 1 and method == "POST":
        return await restore(vc)
    name = rest[0]
    if len(rest) == 1:
        if method == "GET":
            return await get_certificate(vc, name, "")
        if method == "PATCH":
            return await update_certificate(vc, name, "")
        if method == "DELETE":
            return await delete_certificate(vc, name)
    if len(rest) == 2:
        sub = low[1]
        if sub == "create" and method == "POST":
            return await create_certificate(vc, name)
        if sub == "import" and method == "POST":
            return await import_certificate(vc, name)
        if sub == "versions" and method == "GET":
            return await lifecycle.list_versions(vc, COLLECTION, name)
        if sub == "backup" and method == "POST":
            return await backup(vc, name)
        if sub == "policy":
            return await policy(vc, name, method)
        if sub == "pending":
            return await pending(vc, name, method)
        if method == "GET":
            return await get_certificate(vc, name, rest[1])
        if method == "PATCH":
            return await update_certificate(vc, name, rest[1])
    if len(rest) == 3 and low[1:] == ["pending", "merge"] and method == "POST":
        return await merge(vc, name)
    raise path_not_found(vc)


# -- shapes -------------------------------------------------------------------------------
def _policy_body(vc: VaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{vc.object_id(KIND, obj['name'])}/policy", **obj["policy"]}


def bundle(
    vc: VaultContext,
    obj: dict[str, Any],
    version: str,
    record: dict[str, Any],
    with_policy: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": vc.object_id(KIND, obj["name"], version),
        "kid": vc.object_id("keys", obj["name"], version),
        "sid": vc.object_id("secrets", obj["name"], version),
        "attributes": vc.attributes(record["attributes"]),
        "tags": record.get("tags") or {},
    }
    if record.get("cer"):  # a pending version (issuer Unknown) has no certificate yet
        der = base64.b64decode(record["cer"])
        body["x5t"] = material.b64u(hashlib.sha1(der).digest())
        body["cer"] = record["cer"]
    if with_policy:
        body["policy"] = _policy_body(vc, obj)
    if "pending" in obj:
        body["pending"] = {"id": f"{vc.object_id(KIND, obj['name'])}/pending"}
    body.update(vc.deleted_fields(KIND, obj))
    return body


def _item(vc: VaultContext, obj: dict[str, Any], version: str | None) -> dict[str, Any]:
    record = obj["versions"][version or obj["order"][-1]]
    body: dict[str, Any] = {
        "id": vc.object_id(KIND, obj["name"], version),
        "attributes": vc.attributes(record["attributes"]),
        "tags": record.get("tags") or {},
    }
    if record.get("cer"):
        body["x5t"] = material.b64u(hashlib.sha1(base64.b64decode(record["cer"])).digest())
    body.update(vc.deleted_fields(KIND, obj))
    return body


# A certificate's managed key and secret are deleted, recovered and purged along with it.
COLLECTION = lifecycle.Collection(KIND, shape=bundle, item=_item, managed=("keys", "secrets"))


def _operation_body(vc: VaultContext, obj: dict[str, Any]) -> dict[str, Any]:
    op = obj["pending"]
    body = {"id": f"{vc.object_id(KIND, obj['name'])}/pending", **op}
    if op["status"] == "completed":
        body["target"] = vc.object_id(KIND, obj["name"])
    return body


def _normalise_policy(
    raw: dict[str, Any], existing: dict[str, Any] | None = None
) -> dict[str, Any]:
    base = existing or {}
    key_props = {
        "exportable": True,
        "kty": "RSA",
        "key_size": 2048,
        "reuse_key": False,
        **(base.get("key_props") or {}),
        **(raw.get("key_props") or {}),
    }
    if key_props["kty"].upper().startswith("EC"):
        key_props.pop("key_size", None)
        key_props.setdefault("crv", "P-256")
    secret_props = {
        "contentType": x509_build.PFX,
        **(base.get("secret_props") or {}),
        **(raw.get("secret_props") or {}),
    }
    x509_props = {
        "subject": "CN=sandbox",
        "sans": {},
        "basic_constraints": {"ca": False},
        "validity_months": 12,
        "key_usage": ["digitalSignature", "keyEncipherment"],
        "ekus": ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"],
        **(base.get("x509_props") or {}),
        **(raw.get("x509_props") or {}),
    }
    stamp = now()
    return {
        "key_props": key_props,
        "secret_props": secret_props,
        "x509_props": x509_props,
        "lifetime_actions": raw.get("lifetime_actions", base.get("lifetime_actions"))
        or [{"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "AutoRenew"}}],
        "issuer": {"name": "Self", **(base.get("issuer") or {}), **(raw.get("issuer") or {})},
        "attributes": {
            "enabled": True,
            "created": (base.get("attributes") or {}).get("created", stamp),
            "updated": stamp,
        },
    }


# -- the managed key and secret of a version ----------------------------------------------
def _store_version(
    vc: VaultContext,
    name: str,
    obj: dict[str, Any] | None,
    key: material.PrivateKey,
    cert: x509.Certificate | None,
    body: dict[str, Any],
    policy: dict[str, Any],
    chain: list[x509.Certificate] | None = None,
) -> tuple[dict[str, Any], str]:
    """A new version: its managed key now; its certificate and managed secret now, or at merge
    time when ``cert`` is None (issuer ``Unknown``: the request waits for a CA)."""
    version = new_version()
    exportable = bool(policy["key_props"].get("exportable", True))
    attrs = read_attributes(body)
    key_body = {"attributes": {**attrs, "exportable": exportable}, "tags": body.get("tags")}
    kty = policy["key_props"].get("kty", "RSA").upper()
    key_record = keys.make_record(key, kty, key_body, managed=True)
    key_record["key_ops"] = material.default_ops(kty)
    vc.add_version("keys", name, key_record, version)
    record: dict[str, Any] = {"cer": None, "attributes": attrs, "tags": body.get("tags") or {}}
    if obj is None:
        obj = vc.live(KIND).setdefault(name.lower(), {"name": name, "versions": {}, "order": []})
    obj["versions"][version] = record
    obj["order"].append(version)
    obj["policy"] = policy
    if cert is not None:
        _issue(vc, name, version, record, key, cert, policy, chain)
    vc.touch()
    return obj, version


def _issue(
    vc: VaultContext,
    name: str,
    version: str,
    record: dict[str, Any],
    key: material.PrivateKey,
    cert: x509.Certificate,
    policy: dict[str, Any],
    chain: list[x509.Certificate] | None,
) -> None:
    """Attach the issued certificate to a version and create its managed secret."""
    attrs = record["attributes"]
    attrs["nbf"] = int(cert.not_valid_before_utc.timestamp())
    attrs["exp"] = int(cert.not_valid_after_utc.timestamp())
    record["cer"] = base64.b64encode(x509_build.der(cert)).decode()
    exportable = bool(policy["key_props"].get("exportable", True))
    content_type = policy["secret_props"]["contentType"]
    secret_record = {
        "value": x509_build.secret_value(cert, key if exportable else None, content_type, chain),
        "contentType": content_type,
        "tags": record.get("tags") or {},
        "attributes": dict(attrs),
        "managed": True,
        "kid": vc.object_id("keys", name, version),
    }
    vc.add_version("secrets", name, secret_record, version)


# -- handlers -------------------------------------------------------------------------------
async def create_certificate(vc: VaultContext, name: str) -> web.Response:
    vc.require(KIND, "create", name)
    body = vc.body if isinstance(vc.body, dict) else {}
    for kind in (KIND, "keys", "secrets"):
        vc.check_not_deleted(kind, name)
    existing = vc.live(KIND).get(name.lower())
    policy = _normalise_policy(body.get("policy") or {}, (existing or {}).get("policy"))
    issuer = policy["issuer"]["name"]
    request_id = uuid.uuid4().hex
    unknown = issuer.lower() == "unknown"
    if issuer.lower() != "self" and not unknown:
        if issuer.lower() in vc.data.get("issuers", {}):
            raise AzureError(
                400,
                "BadParameter",
                f"Issuer {issuer}: the sandbox has no CA "
                "providers; use 'Self', or 'Unknown' and merge a signed certificate.",
            )
        raise AzureError(400, "BadParameter", f"Issuer {issuer} is not registered in this vault.")
    kp = policy["key_props"]
    reuse = bool(kp.get("reuse_key")) and existing is not None
    if reuse:
        key_obj = vc.get("keys", name)
        key = material.from_pem(key_obj["versions"][key_obj["order"][-1]]["pem"])
    else:
        key = await keypool.new_key(
            vc.emu, kp.get("kty", "RSA"), kp.get("key_size"), kp.get("crv"), None
        )
    cert = None
    if not unknown:
        cert = await asyncio.get_running_loop().run_in_executor(
            None, x509_build.self_signed, key, policy["x509_props"]
        )
    obj, _ = _store_version(vc, name, existing, key, cert, body, policy)
    obj["pending"] = {
        "issuer": {"name": issuer},
        "csr": x509_build.csr(key, policy["x509_props"]),
        "cancellation_requested": False,
        "status": "inProgress",
        "status_details": (
            "Pending certificate created. Please Perform Merge to complete the request."
            if unknown
            else "Pending certificate created. Certificate request is in progress. This may "
            "take some time based on the issuer provider. Please check again later."
        ),
        "request_id": request_id,
    }
    answer = _operation_body(vc, obj)
    if not unknown:
        # The SDK polls ``pending`` next: it reports ``completed`` from then on.
        obj["pending"] = {**obj["pending"], "status": "completed"}
        del obj["pending"]["status_details"]
    vc.touch()
    return json_response(
        answer,
        status=202,
        headers={
            "Location": f"{vc.object_id(KIND, name)}/pending?api-version="
            f"{vc.request.query.get('api-version', '')}",
            "Retry-After": "0",
        },
    )


async def import_certificate(vc: VaultContext, name: str) -> web.Response:
    vc.require(KIND, "import", name)
    body = vc.body if isinstance(vc.body, dict) else {}
    for kind in (KIND, "keys", "secrets"):
        vc.check_not_deleted(kind, name)
    raw_policy = body.get("policy") or {}
    content_type = (raw_policy.get("secret_props") or {}).get("contentType")
    key, cert, chain, detected = await import_worker.parse_import(
        str(body.get("value", "")), body.get("pwd"), content_type
    )
    existing = vc.live(KIND).get(name.lower())
    size_or_curve: dict[str, Any] = (
        {"key_size": key.key_size}
        if isinstance(key, rsa.RSAPrivateKey)
        else {"crv": material.CURVE_NAMES[key.curve.name]}
    )
    derived: dict[str, dict[str, Any]] = {
        "key_props": {
            "exportable": True,
            "kty": material.kty_of(key),
            "reuse_key": False,
            **size_or_curve,
        },
        "secret_props": {"contentType": content_type or detected},
        "x509_props": x509_build.x509_props_of(cert),
        "issuer": {"name": "Unknown"},
    }
    merged: dict[str, Any] = {
        k: {**derived.get(k, {}), **(raw_policy.get(k) or {})} for k in derived
    }
    merged["lifetime_actions"] = raw_policy.get("lifetime_actions") or [
        {"trigger": {"lifetime_percentage": 80}, "action": {"action_type": "EmailContacts"}}
    ]
    policy = _normalise_policy(merged, (existing or {}).get("policy"))
    obj, version = _store_version(vc, name, existing, key, cert, body, policy, chain)
    return json_response(bundle(vc, obj, version, obj["versions"][version]))


async def get_certificate(vc: VaultContext, name: str, version: str) -> web.Response:
    vc.require(KIND, "get", name)
    obj = vc.get(KIND, name)
    version, record = vc.version(KIND, obj, version)
    return json_response(bundle(vc, obj, version, record))


async def update_certificate(vc: VaultContext, name: str, version: str) -> web.Response:
    vc.require(KIND, "update", name)
    obj = vc.get(KIND, name)
    version, record = vc.version(KIND, obj, version)
    body = vc.body if isinstance(vc.body, dict) else {}
    record["attributes"] = read_attributes(body, record["attributes"])
    if "tags" in body:
        record["tags"] = body["tags"] or {}
    if body.get("policy"):
        obj["policy"] = _normalise_policy(body["policy"], obj["policy"])
    vc.touch()
    return json_response(bundle(vc, obj, version, record))


async def list_certificates(vc: VaultContext) -> web.Response:
    vc.require(KIND, "list")
    include_pending = vc.request.query.get("includePending", "").lower() == "true"
    objs = [
        obj
        for _, obj in sorted(vc.live(KIND).items())
        if include_pending or obj["versions"][obj["order"][-1]].get("cer")
    ]
    return vc.page(objs, lambda obj: _item(vc, obj, None))


async def policy(vc: VaultContext, name: str, method: str) -> web.Response:
    obj = vc.get(KIND, name)
    if method == "GET":
        vc.require(KIND, "get", name)
    elif method == "PATCH":
        vc.require(KIND, "update", name)
        obj["policy"] = _normalise_policy(vc.body or {}, obj["policy"])
        vc.touch()
    else:
        raise path_not_found(vc)
    return json_response(_policy_body(vc, obj))


async def pending(vc: VaultContext, name: str, method: str) -> web.Response:
    obj = vc.live(KIND).get(name.lower())
    if obj is None or "pending" not in obj:
        raise AzureError(
            404, "PendingCertificateNotFound", "Pending certificate not found: " + name
        )
    if method == "GET":
        vc.require(KIND, "get", name)
        return json_response(_operation_body(vc, obj))
    if method == "DELETE":
        vc.require(KIND, "delete", name)
        answer = _operation_body(vc, obj)
        del obj["pending"]
        vc.touch()
        return json_response(answer)
    if method == "PATCH":
        vc.require(KIND, "update", name)
        body = vc.body if isinstance(vc.body, dict) else {}
        op = obj["pending"]
        if body.get("cancellation_requested") and op.get("status") == "inProgress":
            op.update(
                cancellation_requested=True,
                status="cancelled",
                status_details="Certificate request was cancelled.",
            )
            vc.touch()
        return json_response(_operation_body(vc, obj))
    raise path_not_found(vc)


async def merge(vc: VaultContext, name: str) -> web.Response:
    """Complete a pending (issuer ``Unknown``) request with the CA-signed certificate."""
    vc.require(KIND, "create", name)
    obj = vc.get(KIND, name)
    version = obj["order"][-1]
    record = obj["versions"][version]
    op = obj.get("pending")
    if record.get("cer") or op is None or op.get("status") != "inProgress":
        raise AzureError(
            403,
            "Forbidden",
            f"Pending certificate not found: {name}",
            inner_code="PendingCertificateNotFound",
        )
    body = vc.body if isinstance(vc.body, dict) else {}
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in body["x5c"]]
    except (KeyError, TypeError, ValueError):
        raise AzureError(
            400, "BadParameter", "x5c must hold base64 DER certificates, leaf first."
        ) from None
    key_obj = vc.get("keys", name)
    key = material.from_pem(key_obj["versions"][version]["pem"])
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if chain[0].public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise AzureError(
            400,
            "BadParameter",
            "Public key from x509 certificate and key of this instance doesn't match",
        )
    if body.get("attributes") or body.get("tags"):
        record["attributes"] = read_attributes(body, record["attributes"])
        record["tags"] = body.get("tags") or record.get("tags") or {}
    record["attributes"]["enabled"] = (body.get("attributes") or {}).get("enabled", True)
    _issue(vc, name, version, record, key, chain[0], obj["policy"], chain[1:])
    obj["pending"] = {**op, "status": "completed"}
    obj["pending"].pop("status_details", None)
    vc.touch()
    return json_response(bundle(vc, obj, version, record), status=201)


async def delete_certificate(vc: VaultContext, name: str) -> web.Response:
    return await lifecycle.delete(vc, COLLECTION, name)


async def backup(vc: VaultContext, name: str) -> web.Response:
    vc.require(KIND, "backup", name)
    obj = vc.get(KIND, name)
    bundle_obj = {
        "name": obj["name"],
        "certificate": obj,
        "key": vc.live("keys").get(name.lower()),
        "secret": vc.live("secrets").get(name.lower()),
    }
    return json_response(vc.seal(KIND, bundle_obj))


async def restore(vc: VaultContext) -> web.Response:
    vc.require(KIND, "restore")
    sealed = vc.unseal(KIND)
    name = sealed["name"]
    for kind, part in (("keys", "key"), ("secrets", "secret")):
        if sealed.get(part):
            vc.live(kind)[name.lower()] = sealed[part]
    obj = sealed["certificate"]
    vc.live(KIND)[name.lower()] = obj
    vc.touch()
    return json_response(bundle(vc, obj, *lifecycle.latest(obj)))


# -- contacts and issuers -----------------------------------------------------------------
async def contacts(vc: VaultContext, method: str) -> web.Response:
    url = f"{vc.url}/certificates/contacts"
    if method == "GET":
        vc.require(KIND, "managecontacts")
        if not vc.data.get("contacts"):
            raise AzureError(404, "ContactsNotFound", "Contacts not found")
    elif method == "PUT":
        vc.require(KIND, "managecontacts")
        vc.data["contacts"] = (vc.body or {}).get("contacts") or []
        vc.touch()
    elif method == "DELETE":
        vc.require(KIND, "managecontacts")
        answer = {"id": url, "contacts": vc.data.pop("contacts", [])}
        vc.touch()
        return json_response(answer)
    else:
        raise path_not_found(vc)
    return json_response({"id": url, "contacts": vc.data.get("contacts", [])})


async def issuers(vc: VaultContext, name: str | None, method: str) -> web.Response:
    store: dict[str, Any] = vc.data.setdefault("issuers", {})
    if name is None:
        vc.require(KIND, "listissuers")
        items = [
            {"id": f"{vc.url}/certificates/issuers/{i['name']}", "provider": i["provider"]}
            for _, i in sorted(store.items())
        ]
        return vc.page(items)
    key = name.lower()
    if method == "GET":
        vc.require(KIND, "getissuers")
    elif method in ("PUT", "PATCH"):
        vc.require(KIND, "setissuers")
        body: dict[str, Any] = vc.body if isinstance(vc.body, dict) else {}
        current: dict[str, Any] = (
            store.get(key, {"name": name}) if method == "PATCH" else {"name": name}
        )
        for field in ("provider", "credentials", "org_details"):
            if field in body:
                current[field] = body[field]
        stamp = now()
        current["attributes"] = {
            "enabled": (body.get("attributes") or {}).get("enabled", True),
            "created": current.get("attributes", {}).get("created", stamp),
            "updated": stamp,
        }
        store[key] = current
        vc.touch()
    elif method == "DELETE":
        vc.require(KIND, "deleteissuers")
    else:
        raise path_not_found(vc)
    issuer = store.get(key)
    if issuer is None:
        raise AzureError(404, "CertificateIssuerNotFound", f"Issuer not found: {name}")
    if method == "DELETE":
        del store[key]
        vc.touch()
    body = {
        "id": f"{vc.url}/certificates/issuers/{issuer['name']}",
        **{k: v for k, v in issuer.items() if k != "name"},
    }
    if "credentials" in body:
        body["credentials"] = {"account_id": (body["credentials"] or {}).get("account_id")}
    return json_response(body)
