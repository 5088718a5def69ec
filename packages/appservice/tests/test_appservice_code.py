"""Pure logic around code and packages: where the run's ARM token may go (only App
Service's SCM hosts), what is reported instead of copied, and how a blob URL splits."""

from __future__ import annotations

import pytest
from atg_dataplane import ItemError
from atg_dataplane.counterparts import STORAGE_ACCOUNTS
from atg_dataplane.testing import offline_binding
from atg_dataplane_appservice import code, packages
from azure.mgmt.web import models

CONTEXT = offline_binding("source", "Microsoft.Web/sites", {STORAGE_ACCOUNTS: []}).context


def _site(*hosts: tuple[str, str]) -> models.Site:
    states = [models.HostNameSslState(name=name, host_type=kind) for name, kind in hosts]
    return models.Site(location="eastus", host_name_ssl_states=states)


def test_the_token_goes_only_to_kudu_hosts() -> None:
    site = _site(("shop.azurewebsites.net", "Standard"), ("shop.scm.azurewebsites.net",
                                                          "Repository"))
    assert code.scm_url(site, CONTEXT) == "https://shop.scm.azurewebsites.net"
    hostile = _site(("collector.example.com", "Repository"))
    with pytest.raises(ItemError, match="not an App Service"):
        code.scm_url(hostile, CONTEXT)
    with pytest.raises(ItemError, match="no SCM"):
        code.scm_url(_site(("shop.azurewebsites.net", "Standard")), CONTEXT)


def test_what_is_not_copied_through_kudu_says_why_without_quoting_secrets() -> None:
    image = models.SiteConfigResource(linux_fx_version="DOCKER|contoso.azurecr.io/shop:1")
    assert "contoso.azurecr.io/shop:1" in code.not_copyable(image, {})
    compose = models.SiteConfigResource(linux_fx_version="COMPOSE|cGFzc3dvcmQ6IGh1bnRlcjI=")
    reason = code.not_copyable(compose, {})
    assert "Compose" in reason and "cGFzc3dvcmQ" not in reason
    windows = models.SiteConfigResource(windows_fx_version="DOCKER|mcr.microsoft.com/iis")
    assert "container image" in code.not_copyable(windows, {})
    elsewhere = {code.PACKAGE_SETTING: "https://downloads.example.com/app.zip"}
    assert "outside the source tenant" in code.not_copyable(models.SiteConfigResource(), elsewhere)


def test_blob_urls_split_below_their_account_endpoint() -> None:
    # a container named like its account stays a container
    assert packages._parts("https://media.blob.core.windows.net/media/a/b.zip?sv=1",
                           "https://media.blob.core.windows.net/") == ("media", "a/b.zip")
    assert packages._parts("https://127.0.0.1:1/media/pkg/app.zip",
                           "https://127.0.0.1:1/media/") == ("pkg", "app.zip")
    assert packages.is_blob_sas("https://a.blob.core.windows.net/c/b.zip?sv=1&sr=b&sig=x")
    assert not packages.is_blob_sas("https://a.blob.core.windows.net/c?sv=1&sr=c&sig=x")
    assert not packages.is_blob_sas("https://a.blob.core.windows.net/c/b.zip")
