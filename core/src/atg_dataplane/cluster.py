"""A replication spread over a Dask cluster (``replicate --executor dask``).

The driver (the process the user started) lists the resources and pairs them with their
targets, as the threads executor does, then sends each resource to the cluster as one
*shard*: a task that runs the same :class:`~atg_dataplane.engine.Engine` on that resource
inside a worker, with that worker's own sign-in. Nothing secret travels in a task: a shard
holds the config (which names secret *files* and *variables*, never a value: a config
with a secret given on the command line is refused), the two ARM resources and the run's
identifiers. A worker reads the config's files and the journal's fingerprint key from the
config's folder, which every worker must therefore see at the same path (a shared volume
on a real cluster; the same disk for ``local:N``).

Journal: each shard journals its items into a segment of its own
(``.atg-dataplane/shards/<run>/<shard>.db``, one writer at a time); when a shard ends the
driver merges the segment into the run's journal and, when nothing in it failed, records
the shard as done. A worker that dies loses nothing: Dask runs the shard again elsewhere
and the segment's finished items are passed over. A driver that dies loses nothing either:
the same command resumes the run, skips the shards recorded as done and lets the others
pass over what their segments hold. A lock per shard on the scheduler keeps a shard left
running by a killed driver from racing its replacement.

Progress: workers send their item events in batches on a Dask topic; the driver hands
them to its own progress hooks (the terminal display, JSON lines, a plugin's dashboard).

The threads executor never imports this module, nor Dask.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from atg_dataplane.config import ConfigError, ReplicationConfig
from atg_dataplane.context import Fingerprinter, ResourceBinding
from atg_dataplane.engine import Engine, RunSummary, bounded_append, emit_progress
from atg_dataplane.inventory import ResourcePair
from atg_dataplane.journal import Journal, JournalWriteError
from atg_dataplane.models import AzureResource, ReplicationMode
from atg_dataplane.options import check_options
from atg_dataplane.plugins import PluginHost, load_plugins
from atg_dataplane.redact import describe_error
from atg_dataplane.retry import RetrySettings
from atg_dataplane.runtime import open_runtime

log = logging.getLogger(__name__)

SHARDS_PER_WORKER = 4
"""Shards a ``local:N`` worker runs at once (each with its own item pool)."""
EVENT_BATCH = 200
EVENT_SECONDS = 0.5
"""Worker events are sent in batches of this many, or after this long."""
INSTALL_HINT = "pip install 'atg-dataplane[dask]'"


def parse_scheduler(text: str) -> tuple[str, Any]:
    """``local:N`` -> ``("local", N)``; ``tcp://host:port`` (or ``tls://``) -> the address."""
    text = (text or "").strip()
    if text.startswith("local:") and text[6:].isdigit() and int(text[6:]) > 0:
        return "local", int(text[6:])
    if text.startswith(("tcp://", "tls://")) and len(text) > 6:
        return "remote", text
    raise ConfigError(
        f"--scheduler {text!r} is not a scheduler: give local:N (N worker processes on this "
        "machine) or tcp://HOST:PORT (a running Dask scheduler)"
    )


def check_available() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError(f"--executor dask needs Dask distributed: {INSTALL_HINT}") from None


def shard_id(resource_id: str) -> str:
    return hashlib.sha256(resource_id.lower().encode()).hexdigest()[:16]


def segment_path(state_dir: Path | str, run_id: str, shard: str) -> Path:
    return Path(state_dir) / "shards" / run_id / f"{shard}.db"


@dataclass(frozen=True)
class Shard:
    """One resource's work, as sent to a worker: no credential, no secret value."""

    run_id: str
    shard_id: str
    mode: str
    config: ReplicationConfig
    state_dir: str
    resource_type: str
    source: AzureResource
    target: AzureResource
    concurrency: int
    topic: str
    plugin: str = ""
    """The plugin that serves the type on the driver: a worker must use the same one."""
    disabled: tuple[str, ...] = ()
    """Plugins disabled on the driver (``--disable``), disabled on the workers too."""

    def __repr__(self) -> str:
        # Dask prints a failed task's arguments: the resource's name, nothing of its body.
        return f"Shard({self.run_id}, {self.resource_type}, {self.source.name})"


def stop_event_name(run_id: str) -> str:
    return f"atg-dataplane/{run_id}/stop"


def secret_free(config: ReplicationConfig) -> ReplicationConfig:
    """The config, if no secret value is in it (only names of secret files and variables),
    else a :class:`ConfigError`: it would be pickled into every task."""
    for side in (config.source, config.target):
        if side.credential.client_secret:
            raise ConfigError(
                "--executor dask does not take a client secret on the command line (it would "
                "travel in every task): use --sp-client-secret-file or --sp-client-secret-env"
            )
    return config


# -- the worker's side ------------------------------------------------------------------
_runtimes: dict[str, list[Any]] = {}
"""Run id -> [runtime, shards using it]: a worker signs in once per run, and closes the
session when its last shard of the run ends (two runs may share a cluster)."""
_runtimes_lock = threading.Lock()


@contextlib.contextmanager
def _worker_runtime(shard: Shard) -> Iterator[Any]:
    """The worker's session for a run, with its own credentials, shared by the run's
    shards it runs at once (its connection pools sized for all of them)."""
    from distributed import get_worker

    with _runtimes_lock:
        entry = _runtimes.get(shard.run_id)
        if entry is None:
            host = load_plugins(disabled=shard.disabled)
            host.check_selection()
            config = replace(shard.config, options=check_options(host, shard.config.options))
            shards_at_once = max(1, int(get_worker().state.nthreads))
            runtime = open_runtime(host, config, concurrency=shard.concurrency * shards_at_once,
                                   retry=config.retry)
            entry = _runtimes[shard.run_id] = [runtime, 0]
        entry[1] += 1
    try:
        yield entry[0]
    finally:
        with _runtimes_lock:
            entry[1] -= 1
            if entry[1] == 0:
                _runtimes.pop(shard.run_id, None)
                entry[0].close()


class _StopWatch:
    """Ends a shard's run when the driver asks every shard of the run to stop (Ctrl-C):
    the engine stops taking items and ends its retry waits, as it does on one machine."""

    def __init__(self, run_id: str, engine: Engine) -> None:
        from distributed import Event

        self._event = Event(stop_event_name(run_id))
        self._engine = engine
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="atg-shard-stop", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            try:
                if self._event.wait(timeout=1):
                    self._engine._stopping()
                    return
            except Exception:  # the scheduler is going away: the shard ends anyway
                if self._done.wait(1):
                    return

    def close(self) -> None:
        self._done.set()


class _Forwarder:
    """A shard's progress events, sent to the driver in batches on the run's topic."""

    def __init__(self, topic: str) -> None:
        from distributed import get_worker

        self._worker = get_worker()
        self._topic = topic
        self._batch: list[dict[str, Any]] = []
        self._sent = time.monotonic()
        self._lock = threading.Lock()

    def send(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._batch.append(event)
            due = len(self._batch) >= EVENT_BATCH or time.monotonic() - self._sent > EVENT_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._batch = self._batch, []
            self._sent = time.monotonic()
        if batch:
            self._worker.log_event(self._topic, {"events": batch})


class _ShardEngine(Engine):
    """The engine on a worker: item events go to the driver; the driver announces the run."""

    def __init__(self, *args: Any, forward: _Forwarder, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._forward = forward

    def emit(self, event_type: str, **fields: Any) -> None:
        if event_type in ("run_started", "run_finished"):
            return
        self._forward.send({"type": event_type, **fields})


def run_shard(shard: Shard) -> dict[str, Any]:
    """Run one shard on a worker; return its summary (counts and redacted reasons). An
    error is raised as one redacted line: Dask logs and ships a task's error."""
    try:
        return _run_shard(shard)
    except Exception as exc:
        raise RuntimeError(describe_error(exc)) from None


def _run_shard(shard: Shard) -> dict[str, Any]:
    from distributed import Lock

    with Lock(f"atg-dataplane/{shard.run_id}/{shard.shard_id}"), _worker_runtime(
        shard
    ) as runtime:
        owner = runtime.host.owner(shard.resource_type)
        node = os.uname().nodename
        if owner is None:
            raise ConfigError(
                f"no plugin for {shard.resource_type} is installed on worker {node}: "
                "install the same plugins on every worker"
            )
        if shard.plugin and owner[0] != shard.plugin:
            raise ConfigError(
                f"{shard.resource_type} is served by plugin {owner[0]} on worker {node} and "
                f"by {shard.plugin} on the driver: install the same plugins on every worker"
            )
        plugin, spec = owner
        pair = ResourcePair(
            source=ResourceBinding(shard.source, runtime.source),
            target=ResourceBinding(shard.target, runtime.target),
            spec=spec,
            plugin=plugin,
        )
        key = Journal.read_fingerprint_key(Path(shard.state_dir) / "journal.db")
        journal = Journal(segment_path(shard.state_dir, shard.run_id, shard.shard_id))
        forward = _Forwarder(shard.topic)
        engine = _ShardEngine(
            runtime.host,
            mode=ReplicationMode(shard.mode),
            journal=journal,
            run_id=shard.run_id,
            options=runtime.config.options,
            concurrency=shard.concurrency,
            fingerprinter=Fingerprinter(key),
            retry=runtime.source.retry,
            forward=forward,
        )
        watch = _StopWatch(shard.run_id, engine)
        try:
            summary = engine.run([pair])
        finally:
            watch.close()
            forward.flush()
            journal.close()
        return summary.to_dict()


# -- the driver's side ------------------------------------------------------------------
class ClusterEngine:
    """The driver of a run on a Dask cluster: the same ``run(pairs) -> RunSummary`` as
    :class:`~atg_dataplane.engine.Engine`."""

    def __init__(
        self,
        host: PluginHost,
        *,
        mode: ReplicationMode,
        journal: Journal,
        run_id: str,
        config: ReplicationConfig,
        state_dir: Path,
        scheduler: str,
        concurrency: int,
        retry: RetrySettings | None = None,
        notify: Any = None,
    ) -> None:
        self.host = host
        self.mode = mode
        self.journal = journal
        self.run_id = run_id
        self.config = secret_free(config)
        self.state_dir = state_dir
        self.scheduler = parse_scheduler(scheduler)
        self.concurrency = max(1, concurrency)
        self.retry = retry or RetrySettings()
        self.notify = notify
        self.summary = RunSummary(run_id=run_id, mode=mode)
        self.abandoned = False
        self.resumed_shards = 0
        self._lock = threading.Lock()

    def emit(self, event_type: str, **fields: Any) -> None:
        emit_progress(self.host, self.run_id, self.mode, event_type, **fields)

    def _on_events(self, event: tuple[float, Any]) -> None:
        for fields in (event[1] or {}).get("events", ()):
            try:
                fields = dict(fields)
                self.emit(fields.pop("type"), **fields)
            except Exception:  # a worker of another version: its event, not the batch
                log.debug("an event from a worker was not understood: %s", sorted(fields))

    def _connect(self) -> tuple[Any, Any]:
        check_available()
        from distributed import Client, LocalCluster

        kind, where = self.scheduler
        cluster = None
        if kind == "local":
            cluster = LocalCluster(
                n_workers=where,
                threads_per_worker=SHARDS_PER_WORKER,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.WARNING,
            )
            where = cluster
        try:
            client = Client(where, timeout=30)
        except (OSError, TypeError, ValueError) as exc:
            if cluster is not None:
                cluster.close()
            raise ConfigError(
                f"cannot reach the Dask scheduler {where}: {describe_error(exc)}; start it "
                "(dask scheduler) or check the address"
            ) from None
        return client, cluster

    def _shard(self, pair: ResourcePair, topic: str) -> Shard:
        assert pair.target is not None
        return Shard(
            run_id=self.run_id,
            shard_id=shard_id(pair.source.resource.id),
            mode=self.mode.value,
            config=self.config,
            state_dir=str(self.state_dir),
            resource_type=pair.spec.resource_type,
            source=pair.source.resource,
            target=pair.target.resource,
            concurrency=self.concurrency,
            topic=topic,
            plugin=pair.plugin,
            disabled=tuple(r.name for r in self.host.records if r.status == "disabled"),
        )

    def run(self, pairs: Iterable[ResourcePair]) -> RunSummary:
        from distributed import Event, as_completed

        started = time.monotonic()
        self.journal.fingerprint_key()  # made now: the workers read it, never make it
        self.journal.flush_wal()
        client, cluster = self._connect()
        topic = f"atg-dataplane/{self.run_id}/{uuid.uuid4().hex[:8]}"
        client.subscribe_topic(topic, self._on_events)
        stop = Event(stop_event_name(self.run_id), client=client)
        stop.clear()  # a stop asked of an earlier attempt of this run
        self.emit("run_started")
        done = self.journal.finished_shards(self.run_id)
        futures: dict[Any, ResourcePair] = {}
        try:
            for pair in pairs:
                if pair.target is None:
                    self._missing(pair)
                    continue
                shard = self._shard(pair, topic)
                if shard.shard_id in done:
                    self._resumed(pair, done[shard.shard_id])
                    continue
                self.journal.seed_segment(
                    segment_path(self.state_dir, self.run_id, shard.shard_id),
                    self.run_id,
                    pair.source.resource.id,
                )
                key = f"atg-shard-{shard.shard_id}-{uuid.uuid4().hex[:8]}"
                futures[client.submit(run_shard, shard, key=key, pure=False)] = pair
            if self.resumed_shards and self.notify is not None:
                self.notify(f"{self.resumed_shards} shard(s) done before resume: passed over")
            for future in as_completed(list(futures)):
                self._settle(future, futures.pop(future))
        except KeyboardInterrupt:
            self.summary.interrupted = True
            self._stop_shards(stop, futures)
            client.cancel(list(futures))
            raise
        finally:
            self.summary.result.duration = time.monotonic() - started
            client.unsubscribe_topic(topic)
            client.close()
            if cluster is not None:
                cluster.close()
            self.emit("run_finished", result=self.summary.result)
        if not self.summary.interrupted:
            shutil.rmtree(self.state_dir / "shards" / self.run_id, ignore_errors=True)
        return self.summary

    def _stop_shards(self, stop: Any, futures: dict[Any, ResourcePair]) -> None:
        """Ctrl-C: every shard stops taking items and ends its retry waits; the items in
        flight get the grace period, as on one machine; what finishes is taken in."""
        from distributed import wait

        grace = self.retry.stop_grace_seconds
        log.warning("stopping: the shards on the cluster get up to %g s to finish the items "
                    "in flight (the next run replays the rest)", grace)
        try:
            stop.set()
            finished = wait(list(futures), timeout=grace).done
            for future in finished:
                self._settle(future, futures.pop(future))
        except (KeyboardInterrupt, TimeoutError):
            self.abandoned = True
        except Exception as exc:  # a cluster gone already: the segments keep what is done
            log.warning("the shards could not be stopped: %s", describe_error(exc))

    def _settle(self, future: Any, pair: ResourcePair) -> None:
        """Take in a finished shard: merge its segment and counts; a clean one is done."""
        rid = pair.source.resource.id
        sid = shard_id(rid)
        segment = segment_path(self.state_dir, self.run_id, sid)
        failure: Exception | None = None
        result = None
        try:
            result = None if future.status == "cancelled" else future.result()
        except Exception as error:
            failure = error
        try:
            # What a failed or stopped shard finished is in its segment too.
            self.journal.merge_segment(segment, self.run_id)
        except JournalWriteError as error:
            failure = failure or error
        if failure is not None:
            reason = (
                f"the shard of {pair.source.resource.name} failed on the cluster: "
                f"{describe_error(failure)}; run the same command again to copy it"
            )
            with self._lock:
                self.summary.failed_resources.append(reason)
                bounded_append(self.summary.result.errors, reason)
            self.emit(
                "item_failed", resource_id=rid, resource_type=pair.spec.resource_type,
                reason=reason,
            )
            return
        if result is None:
            return
        with self._lock:
            self.summary.absorb(result)
        ok = not (result["result"]["failed"] or result["failed_resources"] or
                  result["missing_targets"] or result["interrupted"])
        if ok:
            self.journal.finish_shard(self.run_id, sid, rid, _kinds(result, rid))
            segment.unlink(missing_ok=True)
            for extra in ("-wal", "-shm"):
                Path(str(segment) + extra).unlink(missing_ok=True)

    def _missing(self, pair: ResourcePair) -> None:
        rid = pair.source.resource.id
        with self._lock:
            self.summary.missing_targets.append(pair.problem)
            bounded_append(self.summary.result.errors, pair.problem)
        self.emit(
            "item_failed", resource_id=rid, resource_type=pair.spec.resource_type,
            reason=pair.problem,
        )

    def _resumed(self, pair: ResourcePair, kinds: Mapping[str, int]) -> None:
        """A shard the interrupted run finished: its items count as done before resume."""
        rid = pair.source.resource.id
        self.resumed_shards += 1
        with self._lock:
            for kind, count in kinds.items():
                self.summary.by_resource[rid][kind].skipped += count
                self.summary.result.discovered += count
                self.summary.result.skipped += count
        self.emit(
            "resource_discovered", resource_id=rid, resource_type=pair.spec.resource_type,
            items=0, reason="done before resume",
        )


def _kinds(summary: Mapping[str, Any], rid: str) -> dict[str, int]:
    """Items per kind a shard finished (for the count of a resumed run)."""
    kinds = summary["resources"].get(rid, {})
    return {
        kind: int(c["replicated"]) + int(c["unchanged"]) + int(c["skipped"])
        for kind, c in kinds.items()
    }

