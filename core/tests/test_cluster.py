"""The pure parts of a cluster run (``atg_dataplane.cluster``): the scheduler's spelling,
the refusal of a secret that would travel in every task, what a shard carries, how a
shard's journal segment and counts join the run's. The run itself, on a real local
cluster against the sandbox, is in ``tests/test_e2e_dask.py``."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
from atg_dataplane.cluster import Shard, parse_scheduler, secret_free, shard_id
from atg_dataplane.config import ConfigError, load_config
from atg_dataplane.engine import RunSummary
from atg_dataplane.journal import Journal, JournalError
from atg_dataplane.models import AzureResource, ReplicationMode

CONFIG = {
    "source": {"tenant_id": "t-src", "subscription_id": "s-src",
               "credential": {"client_id": "c1", "client_secret_file": "secret.txt"}},
    "target": {"tenant_id": "t-dst", "subscription_id": "s-dst",
               "credential": {"client_id": "c2", "client_secret_env": "TARGET_SECRET"}},
}


def test_schedulers_are_local_n_or_an_address() -> None:
    assert parse_scheduler("local:3") == ("local", 3)
    assert parse_scheduler(" tcp://10.0.0.4:8786 ") == ("remote", "tcp://10.0.0.4:8786")
    assert parse_scheduler("tls://sched:8786") == ("remote", "tls://sched:8786")
    for bad in ("", "local:0", "local:x", "yarn", "tcp://"):
        with pytest.raises(ConfigError, match=r"local:N .* tcp://HOST:PORT"):
            parse_scheduler(bad)


def test_a_shard_carries_no_secret_and_pickles(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(CONFIG))
    config = secret_free(load_config(path))
    resource = AzureResource(id="/subscriptions/s/rg/x/providers/T/v1", type="T", name="v1",
                             properties={"vaultUri": "https://v1"}, tags={"env": "test"})
    shard = Shard(run_id="r1", shard_id=shard_id(resource.id), mode="replication",
                  config=config, state_dir=str(tmp_path), resource_type="T",
                  source=resource, target=resource, concurrency=8, topic="atg/r1")
    again = pickle.loads(pickle.dumps(shard))
    assert again == shard and again.source.properties["vaultUri"] == "https://v1"
    with pytest.raises(TypeError):  # still read-only after the trip
        again.source.properties["vaultUri"] = "x"  # type: ignore[index]
    leaked = replace(config, target=replace(
        config.target, credential=replace(config.target.credential, client_secret="s3cr3t")))
    with pytest.raises(ConfigError, match="--sp-client-secret-file") as refused:
        secret_free(leaked)
    assert "s3cr3t" not in str(refused.value)


def test_shard_ids_are_stable_and_case_blind() -> None:
    assert shard_id("/Subscriptions/A/x") == shard_id("/subscriptions/a/X")
    assert shard_id("/subscriptions/a/x") != shard_id("/subscriptions/a/y")


def test_a_segment_starts_from_the_run_and_merges_back(tmp_path: Path) -> None:
    main = Journal(tmp_path / "journal.db")
    key = main.fingerprint_key()
    main.flush_wal()
    assert Journal.read_fingerprint_key(tmp_path / "journal.db") == key
    run = main.start_run("identity", "replication").run_id
    # What an earlier attempt (on threads, or a shard merged before) did for the resource.
    main.record(run, "/r", "a", kind="secret", name="a", status="failed", reason="busy")
    main.record(run, "/r", "d", kind="secret", name="d", status="replicated")
    main.save_checkpoint(run, "/r", "c", "offset=3")
    main.save_checkpoint(run, "/r", "e", "offset=1")
    main.record(run, "/other", "x", kind="secret", name="x", status="replicated")
    path = tmp_path / "shards" / run / "s1.db"
    main.seed_segment(path, run, "/r")
    segment = Journal(path)
    assert segment.done_keys(run, "/r") == {"d"}  # the shard passes over what is done
    assert segment.done_keys(run, "/other") == set()
    assert segment.checkpoint(run, "/r", "c") == "offset=3"
    segment.record(run, "/r", "a", kind="secret", name="a", status="replicated", nbytes=3)
    segment.record(run, "/r", "b", kind="secret", name="b", status="unchanged")
    segment.save_checkpoint(run, "/r", "c", "offset=7")
    segment.record(run, "/r", "e", kind="secret", name="e", status="replicated")
    segment.record("another-run", "/r", "z", kind="secret", name="z", status="replicated")
    segment.close()
    main.merge_segment(path, run)
    assert main.done_keys(run, "/r") == {"a", "b", "d", "e"}
    assert main.checkpoint(run, "/r", "c") == "offset=7"
    assert main.checkpoint(run, "/r", "e") is None  # finished in the shard: no leftover
    attempts = {row["item_key"]: row["attempts"] for row in main.items(run)}
    assert attempts["a"] == 2  # the failed attempt and the shard's, not the shard's alone
    assert main.done_keys("another-run", "/r") == set()
    main.merge_segment(tmp_path / "missing.db", run)  # nothing to take in
    assert main.finished_shards(run) == {}
    main.finish_shard(run, "s1", "/r", {"secret": 2})
    assert main.finished_shards(run) == {"s1": {"secret": 2}}
    main.close()


def test_a_killed_drivers_segments_count_whichever_executor_resumes(tmp_path: Path) -> None:
    main = Journal(tmp_path / "journal.db")
    run = main.start_run("identity", "replication").run_id
    folder = tmp_path / "shards" / run
    main.seed_segment(folder / "s1.db", run, "/r")
    left = Journal(folder / "s1.db")
    left.record(run, "/r", "a", kind="secret", name="a", status="replicated")
    left.close()
    (folder / "s2.db").write_bytes(b"not a journal")
    broken = main.merge_leftovers(folder, run)
    assert main.done_keys(run, "/r") == {"a"}
    assert [p.name.split(".")[0] for p in broken] == ["s2"]
    assert not (folder / "s2.db").exists() and broken[0].exists()  # kept, aside
    main.close()


def test_a_journal_without_its_key_names_the_shared_folder(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="same path as the driver"):
        Journal.read_fingerprint_key(tmp_path / "nowhere.db")
    Journal(tmp_path / "empty.db").close()
    with pytest.raises(JournalError, match="holds no fingerprint key"):
        Journal.read_fingerprint_key(tmp_path / "empty.db")


def test_summaries_of_shards_add_up() -> None:
    total = RunSummary(run_id="r", mode=ReplicationMode.REPLICATION)
    for name, failed in (("one", 0), ("two", 1)):
        shard = RunSummary(run_id="r", mode=ReplicationMode.REPLICATION)
        shard.result.discovered, shard.result.replicated = 3, 2
        shard.result.failed = failed
        shard.result.errors.append(f"secret {name}: refused")
        shard.client_bytes = 10
        kind = shard.by_resource[f"/{name}"]["secret"]
        kind.replicated, kind.bytes = 2, 5
        kind.add_reason(name, "refused")
        total.absorb(json.loads(json.dumps(shard.to_dict())))  # as it crosses the wire
    result = total.result
    assert (result.discovered, result.replicated, result.failed) == (6, 4, 1)
    assert result.errors == ["secret one: refused", "secret two: refused"]
    assert total.client_bytes == 20 and not total.interrupted
    assert total.by_resource["/two"]["secret"].grouped == {
        "refused": {"count": 1, "names": ["two"]}}
    assert total.by_resource["/one"]["secret"].bytes == 5
