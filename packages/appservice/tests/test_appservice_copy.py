"""The plugin against the sandbox's web app and function app (the reference scenario's),
through the core's engine and verifier: template, then replication, verify 100 %, a
re-run writes nothing, a setting only the target has survives both, the canaries never
leave the tenants; and what the target holds, read back through azure-mgmt-web and Kudu."""

from __future__ import annotations

import contextlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from atg_dataplane import ReplicationMode, ResourceBinding
from atg_dataplane.testing import PairRun
from azure.core.exceptions import ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.web import WebSiteManagementClient
from azure.storage.blob import BlobClient

pytestmark = pytest.mark.sandbox
GROUPS = {"source": "rg-source-data", "target": "rg-target-data"}
TEMPLATE, REPLICATION = ReplicationMode.TEMPLATE, ReplicationMode.REPLICATION
TARGET_ONLY = "TARGET_ONLY_SETTING"


def _client(sandbox: Any, side: str) -> WebSiteManagementClient:
    client: WebSiteManagementClient = sandbox.mgmt(WebSiteManagementClient, side)
    return client


def _binding(sandbox: Any, side: str, site: str) -> ResourceBinding:
    from atg_dataplane_appservice.plugin import dataplane_resource_types

    found = _client(sandbox, side).web_apps.get(GROUPS[side], site)
    binding: ResourceBinding = sandbox.binding(side, found.id, dataplane_resource_types()[0])
    return binding


def _run(sandbox: Any, app: str, tmp_path: Path) -> PairRun:
    source = _binding(sandbox, "source", f"{app}-src-reference")
    target = _binding(sandbox, "target", f"{app}-tgt-reference")
    return PairRun("appservice", source, target, tmp_path)


@pytest.fixture(scope="module")
def seeded(sandbox: Any) -> Any:
    sandbox.seed("reference")
    return sandbox


def _not_matching(report: Any) -> list[Any]:
    return [v for v in report.verdicts if v.status != "matching"]


def _settings(sandbox: Any, side: str, site: str, slot: str | None = None) -> dict[str, str]:
    apps = _client(sandbox, side).web_apps
    if slot:
        return dict(apps.list_application_settings_slot(GROUPS[side], site, slot).properties)
    return dict(apps.list_application_settings(GROUPS[side], site).properties)


def _as_terraform_leaves_it(sandbox: Any) -> None:
    """The target web app as the seed made it (the conformance tests may have copied)."""
    apps, group = _client(sandbox, "target").web_apps, GROUPS["target"]
    platform = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true;Tenant=target",
        TARGET_ONLY: "set by the target's own deployment",
    }
    apps.update_application_settings(group, "app-tgt-reference", {"properties": platform})
    apps.update_connection_strings(group, "app-tgt-reference", {"properties": {}})
    for slot in ("staging", "qa"):
        apps.update_application_settings_slot(group, "app-tgt-reference", slot, {"properties": {}})


def test_web_app_template_then_replication_then_nothing(seeded: Any, tmp_path: Path) -> None:
    _as_terraform_leaves_it(seeded)
    run = _run(seeded, "app", tmp_path)
    template = run.replicate(TEMPLATE)
    assert template.result.failed == 0, template.result.errors[:5]
    report = run.verify(TEMPLATE)
    assert report.fidelity == 100.0, _not_matching(report)
    target = _settings(seeded, "target", "app-tgt-reference")
    source = _settings(seeded, "source", "app-src-reference")
    assert target["API_TOKEN"] == "atg-dataplane-template-placeholder"
    assert target[TARGET_ONLY] == "set by the target's own deployment"  # merged, not replaced
    assert target["AzureWebJobsStorage"].endswith("Tenant=target")  # the platform's own
    # references point at the target's own resources in template mode already
    vault_host = source["DB_PASSWORD"].split("SecretUri=")[1].split("/secrets/")[0]
    assert vault_host not in target["DB_PASSWORD"]
    assert target["DB_PASSWORD"].startswith("@Microsoft.KeyVault(SecretUri=https://")
    assert target["DB_PASSWORD"].endswith("/secrets/db-password)")  # no version
    assert "/tgtstore1/" in target["MEDIA_URL"]
    strings = _client(seeded, "target").web_apps.list_connection_strings(
        GROUPS["target"], "app-tgt-reference"
    )
    assert "AccountName=tgtstore1;" in strings.properties["storage"].value
    sticky = _client(seeded, "target").web_apps.list_slot_configuration_names(
        GROUPS["target"], "app-tgt-reference"
    )
    assert sticky.properties.app_setting_names == ["SLOT_NAME"]
    assert _settings(seeded, "target", "app-tgt-reference", "staging")["SLOT_NAME"] == (
        "atg-dataplane-template-placeholder"
    )
    package = _settings(seeded, "target", "app-tgt-reference", "qa")["WEBSITE_RUN_FROM_PACKAGE"]
    assert package.endswith("/tgtstore1/packages/app-qa.zip")  # the path only: no SAS yet

    replication = run.replicate(REPLICATION)
    assert replication.result.failed == 0, replication.result.errors[:5]
    report = run.verify(REPLICATION)
    assert report.fidelity == 100.0, _not_matching(report)
    kinds = report.by_type()["Microsoft.Web/sites"]["by_kind"]
    assert kinds["code"]["matching"] == 2  # the site and staging; qa runs from a package
    assert kinds["storage_mount"]["matching"] == 1
    target = _settings(seeded, "target", "app-tgt-reference")
    assert target["API_TOKEN"] == source["API_TOKEN"] and target[TARGET_ONLY]
    qa = _settings(seeded, "target", "app-tgt-reference", "qa")
    assert qa["SLOT_NAME"] == "qa"
    # the package: copied into the target's account, read through a SAS of its own
    source_package = _settings(seeded, "source", "app-src-reference", "qa")[
        "WEBSITE_RUN_FROM_PACKAGE"
    ]
    package = qa["WEBSITE_RUN_FROM_PACKAGE"]
    assert "/tgtstore1/packages/app-qa.zip?" in package and "sig=" in package
    assert BlobClient.from_blob_url(
        package, connection_verify=str(seeded.ca_bundle)
    ).download_blob().readall() == BlobClient.from_blob_url(
        source_package, connection_verify=str(seeded.ca_bundle)
    ).download_blob().readall()
    web = _client(seeded, "target")
    site = web.web_apps.get(GROUPS["target"], "app-tgt-reference")
    host = next(s.name for s in site.host_name_ssl_states if s.host_type == "Repository")
    zipped_url = f"https://{host}/api/zip/site/wwwroot/"
    answer = web.send_request(HttpRequest("GET", zipped_url), stream=True)
    with zipfile.ZipFile(io.BytesIO(answer.read())) as zipped:
        assert "index.html" in zipped.namelist()

    again = run.replicate(REPLICATION)
    assert again.result.replicated == 0 and again.result.failed == 0
    # every setting of the site and its slots but the platform's own, read through the SDK
    expected = sum(
        len([k for k in _settings(seeded, "source", "app-src-reference", slot)
             if k != "AzureWebJobsStorage"])
        for slot in (None, "staging", "qa")
    )
    assert kinds["app_setting"] == {"matching": expected}

    # the seeded canaries: in both tenants, never in the journal
    seeded_values = json.loads((seeded.dir / "seeded-canaries.json").read_text())["values"]
    canaries = set(re.findall(r"atgcanary-[0-9a-f]{24}", " ".join(seeded_values)))
    assert re.findall(r"atgcanary-[0-9a-f]{24}", source["API_TOKEN"])[0] in canaries
    journal = run.journal.path.read_bytes()
    assert not any(token.encode() in journal for token in canaries)
    for url in (source_package, package):  # nor the SAS signatures
        signature = parse_qs(urlsplit(url).query)["sig"][0]
        assert signature.encode() not in journal and quote(signature).encode() not in journal


def test_function_app_keys_and_code(seeded: Any, tmp_path: Path) -> None:
    run = _run(seeded, "func", tmp_path)
    with contextlib.suppress(ResourceNotFoundError):  # the conformance tests may have copied it
        _client(seeded, "target").web_apps.delete_host_secret(
            GROUPS["target"], "func-tgt-reference", "functionKeys", "partner"
        )
    template = run.replicate(TEMPLATE)
    assert template.result.failed == 0, template.result.errors[:5]
    assert run.verify(TEMPLATE).fidelity == 100.0
    web = _client(seeded, "target").web_apps
    source = _client(seeded, "source").web_apps
    tgt, src = (GROUPS["target"], "func-tgt-reference"), (GROUPS["source"], "func-src-reference")
    partner = web.list_host_keys(*tgt).function_keys["partner"]
    assert partner != source.list_host_keys(*src).function_keys["partner"]  # made anew

    replication = run.replicate(REPLICATION)
    assert replication.result.failed == 0, replication.result.errors[:5]
    report = run.verify(REPLICATION)
    assert report.fidelity == 100.0, _not_matching(report)
    kinds = report.by_type()["Microsoft.Web/sites"]["by_kind"]
    counts = seeded.seed("reference").counts
    assert kinds["function_key"]["matching"] == counts["function_key"]
    assert kinds["host_key"]["matching"] == counts["host_key"]
    assert [f.name.split("/")[-1] for f in web.list_functions(*tgt)] == ["fn-0", "fn-1", "fn-2"]
    assert web.list_host_keys(*tgt).master_key == source.list_host_keys(*src).master_key
    assert web.list_function_keys(*tgt, "fn-0").as_dict()["caller"] == (
        source.list_function_keys(*src, "fn-0").as_dict()["caller"]
    )
    again = run.replicate(REPLICATION)
    assert again.result.replicated == 0 and again.result.failed == 0


def test_a_key_copy_whose_answers_are_lost_still_ends_in_one_attempt(
    seeded: Any, monkeypatch: Any
) -> None:
    """Keys are listed with POST actions and written with a PUT of one named key: all
    safe to send again, so an answer lost on either side costs a repeat of that request,
    not the item's attempt (a third of all answers broken failed a host key this way)."""
    from atg_dataplane.testing import AnswersLost
    from atg_dataplane_appservice import keys

    def key_write(request: Any) -> bool:
        return request.method == "PUT" and "/host/default/functionKeys/" in request.url

    def listed(request: Any) -> bool:
        return request.method == "POST" and "/host/default/listkeys" in request.url

    source = _binding(seeded, "source", "func-src-reference")
    target = _binding(seeded, "target", "func-tgt-reference")
    on_source = AnswersLost.on(source, {"the source's list": listed}, monkeypatch)
    on_target = AnswersLost.on(
        target, {"the target's list": listed, "the key's write": key_write}, monkeypatch
    )
    web = _client(seeded, "target").web_apps
    with contextlib.suppress(ResourceNotFoundError):  # so that the item has a write to do
        web.delete_host_secret(GROUPS["target"], "func-tgt-reference", "functionKeys", "partner")
    [item] = [i for i in keys.host_key_items(source, None, ()) if i.name.endswith("/partner")]

    outcome = keys.replicate(item, source, target, True)

    assert outcome.status == "replicated"
    assert on_source.lost == ["the source's list"]
    assert on_target.lost == ["the target's list", "the key's write"]
    theirs = _client(seeded, "source").web_apps.list_host_keys(
        GROUPS["source"], "func-src-reference").function_keys["partner"]
    assert web.list_host_keys(GROUPS["target"], "func-tgt-reference").function_keys[
        "partner"] == theirs
