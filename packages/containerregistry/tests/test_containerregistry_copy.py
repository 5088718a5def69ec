"""A registry copied into a registry of the other tenant: both paths (server-side import and
pull/push), every tag at the same digest, referrers after their subject, untagged manifests
on request, locks, moved tags, a broken image, and template mode."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from containerregistry_testing import (
    OCI_INDEX,
    OCI_MANIFEST,
    REPLICATION,
    Run,
    client_manifest_bytes,
    digest_of,
    push_image,
    push_referrer,
    put_manifest,
    referrers,
)

pytestmark = pytest.mark.sandbox
SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM = "application/spdx+json"


def _seed(world: Any) -> tuple[Any, dict[str, Any]]:
    """A source registry with what real registries hold."""
    source = world.registry("source")
    client = world.admin(source)
    shared = [b"shared layer " * 300]
    app = push_image(client, "team/app", ["1.0", "latest"], [*shared, b"app " * 200])
    push_image(client, "team/app", [], [b"an old build " * 100])  # untagged
    signature = push_referrer(client, "team/app", app, SIGNATURE)
    sbom = push_referrer(client, "team/app", app, SBOM)
    sig_of_sbom = push_referrer(client, "team/app", sbom, SIGNATURE)
    push_image(client, "team/worker", ["2.0"], shared)  # shares a layer with the app
    amd = push_image(client, "team/multi", [], [b"amd64 " * 100])
    arm = push_image(client, "team/multi", [], [b"arm64 " * 100])
    index = b'{"schemaVersion":2,"mediaType":"%s","manifests":[' % OCI_INDEX.encode()
    index += b",".join(
        b'{"mediaType":"%s","digest":"%s","size":%d,"platform":{"os":"linux",'
        b'"architecture":"%s"}}'
        % (
            OCI_MANIFEST.encode(),
            d.encode(),
            len(client_manifest_bytes(client, "team/multi", d)),
            arch,
        )
        for d, arch in ((amd, b"amd64"), (arm, b"arm64"))
    )
    index += b"]}"
    multi = put_manifest(client, "team/multi", index, OCI_INDEX, ["3.0"])
    client.update_tag_properties("team/app", "1.0", can_write=False, can_delete=False)
    return source, {
        "app": app,
        "referrers": {signature, sbom, sig_of_sbom},
        "multi": multi,
        "children": {amd, arm},
    }


def _tags(client: Any, repository: str) -> dict[str, str]:
    return {t.name: t.digest for t in client.list_tag_properties(repository)}


def _assert_copied(world: Any, source: Any, target: Any, seeded: dict[str, Any]) -> None:
    src, dst = world.admin(source), world.admin(target)
    for repository in ("team/app", "team/worker", "team/multi"):
        assert _tags(dst, repository) == _tags(src, repository), repository
    got = {r["digest"] for r in referrers(dst, "team/app", seeded["app"])}
    sbom = next(r for r in referrers(src, "team/app", seeded["app"]) if r["artifactType"] == SBOM)
    got |= {r["digest"] for r in referrers(dst, "team/app", sbom["digest"])}
    assert got == seeded["referrers"]
    for child in seeded["children"]:  # the platform images came with their index
        assert client_manifest_bytes(dst, "team/multi", child) == client_manifest_bytes(
            src, "team/multi", child
        )
    locked = dst.get_tag_properties("team/app", "1.0")
    assert (locked.can_write, locked.can_delete) == (False, False)


@pytest.mark.parametrize("server_side", [True, False], ids=["import", "pull-push"])
def test_a_registry_is_copied_whole(world: Any, tmp_path: Path, server_side: bool) -> None:
    source, seeded = _seed(world)
    target = world.registry("target")
    run = Run(source, target, tmp_path)
    options = {"containerregistry.server_side": server_side}
    summary = run.replicate(REPLICATION, options)
    assert summary.result.failed == 0, summary.result.errors
    kinds = summary.by_resource[source.resource.id]["manifest"]
    assert kinds.replicated == 6 and kinds.skipped == 1  # the untagged build is reported
    if server_side:
        assert summary.client_bytes == 0 or all(
            "pull and push" not in w for w in summary.result.warnings
        )
    _assert_copied(world, source, target, seeded)
    report = run.verify(REPLICATION, options)
    assert report.fidelity == 100.0, [v for v in report.verdicts if v.status != "matching"]
    assert run.replicate(REPLICATION, options).result.replicated == 0

    # With the option, the untagged build comes too.
    untagged = {**options, "containerregistry.untagged": True}
    assert run.replicate(REPLICATION, untagged).result.replicated == 1
    assert run.verify(REPLICATION, untagged).fidelity == 100.0


def test_import_moves_no_bytes_through_this_process(world: Any, tmp_path: Path) -> None:
    source, _ = _seed(world)
    target = world.registry("target")
    summary = Run(source, target, tmp_path).replicate(REPLICATION)
    images = [
        r for r in summary.by_resource[source.resource.id]["manifest"].reasons if "pull" in r
    ]
    assert images == []  # no image fell back to pull and push
    # Referrers are pushed (import does not carry them): their few bytes only.
    assert summary.client_bytes < 2048


def test_tags_elsewhere_are_moved_and_a_locked_one_is_refused(world: Any, tmp_path: Path) -> None:
    source = world.registry("source")
    src = world.admin(source)
    wanted = push_image(src, "svc/api", ["stable", "canary"])
    target = world.registry("target")
    dst = world.admin(target)
    push_image(dst, "svc/api", ["stable"])  # an older image at "stable"
    summary = Run(source, target, tmp_path).replicate(REPLICATION)
    assert summary.result.failed == 0, summary.result.errors
    assert _tags(dst, "svc/api") == {"stable": wanted, "canary": wanted}

    older = push_image(src, "svc/api", ["next"])
    newer = push_image(dst, "svc/api", ["next"])
    dst.update_tag_properties("svc/api", "next", can_write=False)
    summary = Run(source, target, tmp_path).replicate(REPLICATION)
    assert summary.result.failed == 1
    assert any("locked" in e and "--write-enabled true" in e for e in summary.result.errors)
    assert _tags(dst, "svc/api")["next"] == newer != older


def _index(client: Any, repository: str, children: list[str], tags: list[str]) -> str:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": child,
                "size": len(client_manifest_bytes(client, repository, child)),
                "platform": {"os": "linux", "architecture": f"arch{i}"},
            }
            for i, child in enumerate(children)
        ],
    }
    return put_manifest(client, repository, json.dumps(body).encode(), OCI_INDEX, tags)


@pytest.mark.parametrize("where", ["image", "index-child"])
def test_a_broken_image_fails_alone(world: Any, tmp_path: Path, where: str) -> None:
    source = world.registry("source")
    src = world.admin(source)
    lost = b"a layer the registry lost " * 100
    if where == "image":
        broken = push_image(src, "svc/broken", ["1"], [lost])
    else:  # a multi-arch index whose second platform image lost a layer
        children = [push_image(src, "svc/broken", [], [os.urandom(64)])]
        children.append(push_image(src, "svc/broken", [], [lost]))
        broken = _index(src, "svc/broken", children, ["1"])
    fine = push_image(src, "svc/fine", ["1"])
    # The registry's storage loses the layer (as a failed garbage collection would).
    data = Path(world.sandbox.dir) / "registry/docker/registry/v2/blobs/sha256"
    shutil.rmtree(data / digest_of(lost)[7:9] / digest_of(lost)[7:])
    target = world.registry("target")
    summary = Run(source, target, tmp_path).replicate(REPLICATION)
    assert summary.result.failed == 1 and summary.result.replicated == 1
    assert any(
        "svc/broken" in e and "missing in the source registry" in e for e in summary.result.errors
    ), summary.result.errors
    dst = world.admin(target)
    assert _tags(dst, "svc/fine") == {"1": fine}
    assert "svc/broken" not in list(dst.list_repository_names()) or broken not in _tags(
        dst, "svc/broken"
    ).values()


def test_template_mode_creates_nothing_and_says_so_once(world: Any, tmp_path: Path) -> None:
    from atg_dataplane import ReplicationMode

    source, _ = _seed(world)
    target = world.registry("target")
    summary = Run(source, target, tmp_path).replicate(ReplicationMode.TEMPLATE)
    kinds = summary.by_resource[source.resource.id]
    assert list(kinds) == ["registry"] and kinds["registry"].skipped == 1
    (reason,) = kinds["registry"].reasons
    assert "cannot hold an empty repository" in reason and "3 repositories" in reason
    assert list(world.admin(target).list_repository_names()) == []
    assert summary.result.failed == 0 and REPLICATION.value == "replication"
