"""The run journal: every item's state, so a killed run resumes with nothing lost.

SQLite from the standard library, WAL mode, one row per item per run, written
after the plugin returns. A run killed between a write into the target and
its journal row replays that item, and the plugin's idempotency turns the
replay into ``unchanged``: nothing is lost and nothing is duplicated.

The journal holds no values: names, kinds, statuses, byte counts, reasons
(redacted) and keyed fingerprints. The fingerprint key lives in it, so the
file is created with mode 0600.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atg_dataplane.config import ConfigError
from atg_dataplane.redact import redact

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, identity TEXT NOT NULL, mode TEXT NOT NULL,
    status TEXT NOT NULL, started REAL NOT NULL, finished REAL, summary TEXT
);
CREATE TABLE IF NOT EXISTS items (
    run_id TEXT NOT NULL, resource_id TEXT NOT NULL, item_key TEXT NOT NULL,
    kind TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0, fingerprint TEXT, reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 1, updated REAL NOT NULL,
    PRIMARY KEY (run_id, resource_id, item_key)
);
CREATE TABLE IF NOT EXISTS shards (
    run_id TEXT NOT NULL, shard_id TEXT NOT NULL, resource_id TEXT NOT NULL,
    kinds TEXT NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (run_id, shard_id)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id TEXT NOT NULL, resource_id TEXT NOT NULL, item_key TEXT NOT NULL,
    value TEXT NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (run_id, resource_id, item_key)
);
"""

FINAL_OK = ("replicated", "unchanged", "skipped")
SCHEMA_VERSION = 2
"""The journal layout this version writes and reads (1: before the version was kept)."""
RESET_HINT = "move it aside with replicate --reset-journal (it is kept, never deleted)"


class JournalError(ConfigError):
    """The journal or its folder cannot be used: one line naming the file and the fix."""


class JournalWriteError(RuntimeError):
    """A journal write failed during a run (a full disk): the run stops; what is done is
    journalled and the same command resumes it."""


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    identity: str
    mode: str
    status: str
    started: float
    finished: float | None


def run_identity(*parts: Any) -> str:
    """What makes two invocations "the same command" for automatic resume."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            if not os.access(folder, os.W_OK) or not os.access(self.path, os.R_OK | os.W_OK):
                raise PermissionError(13, "not writable")
        except OSError as exc:
            raise JournalError(
                f"cannot use the state folder {str(folder)!r} ({exc.strerror or exc}): keep the "
                "config in a folder you can write to (the journal lives beside it)"
            ) from None
        self._lock_file: Any = None
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            with self._lock:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(SCHEMA)
                self._check_version()
        except sqlite3.Error as exc:
            raise JournalError(
                f"the journal {str(self.path)!r} cannot be read ({exc}): {RESET_HINT}"
            ) from None

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        found = int(row[0]) if row and str(row[0]).isdigit() else None
        if found is not None and found > SCHEMA_VERSION:
            self._db.close()
            raise JournalError(
                f"the journal {str(self.path)!r} was written by a newer atg-dataplane (journal "
                f"schema {found}; this one reads up to {SCHEMA_VERSION}): upgrade atg-dataplane, "
                f"or {RESET_HINT}"
            )
        if found != SCHEMA_VERSION:
            self._db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    @staticmethod
    def move_aside(path: Path) -> Path | None:
        """Rename a journal (and its WAL files) to ``journal.db.broken-<time>``; None when
        there is none. Nothing is deleted."""
        path = Path(path)
        if not path.exists():
            return None
        aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
        path.rename(aside)
        for suffix in ("-wal", "-shm"):
            extra = Path(str(path) + suffix)
            if extra.exists():
                extra.rename(Path(str(aside) + suffix))
        return aside

    def lock(self) -> None:
        """Hold the journal for this process: two runs on one journal would race."""
        import fcntl

        self._lock_file = open(self.path.with_suffix(".lock"), "a+")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise ConfigError(
                f"another atg-dataplane run is using {self.path}: wait for it to finish"
            ) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._lock_file is not None:
                self._lock_file.close()  # releases the flock
                self._lock_file = None

    # -- meta -----------------------------------------------------------------
    def fingerprint_key(self) -> bytes:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='fingerprint_key'").fetchone()
            if row:
                return bytes.fromhex(row[0])
            key = secrets.token_bytes(32)
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES('fingerprint_key', ?)", (key.hex(),)
            )
            return key

    @staticmethod
    def read_fingerprint_key(path: Path) -> bytes:
        """The fingerprint key of the journal at ``path``, read without writing (a worker
        of a cluster run reads the driver's)."""
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                row = db.execute("SELECT value FROM meta WHERE key='fingerprint_key'").fetchone()
            finally:
                db.close()
        except sqlite3.Error as exc:
            row, problem = None, str(exc)
        else:
            problem = "it holds no fingerprint key"
        if not row:
            raise JournalError(
                f"cannot read the journal {str(path)!r} ({problem}): every worker must see the "
                "config's folder at the same path as the driver"
            )
        return bytes.fromhex(row[0])

    # -- runs -----------------------------------------------------------------
    def start_run(self, identity: str, mode: str) -> RunRecord:
        run = RunRecord(
            run_id=time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6],
            identity=identity,
            mode=mode,
            status="running",
            started=time.time(),
            finished=None,
        )
        self._write(
            "INSERT INTO runs(run_id, identity, mode, status, started) VALUES(?,?,?,?,?)",
            (run.run_id, identity, mode, run.status, run.started),
        )
        return run

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT run_id, identity, mode, status, started, finished FROM runs WHERE run_id=?",
                (run_id,),
            ).fetchone()
        return RunRecord(*row) if row else None

    def unfinished_run(self, identity: str) -> RunRecord | None:
        """The latest run of the same command that did not finish (to resume)."""
        with self._lock:
            row = self._db.execute(
                "SELECT run_id, identity, mode, status, started, finished FROM runs "
                "WHERE identity=? ORDER BY started DESC LIMIT 1",
                (identity,),
            ).fetchone()
        if row and row[3] != "finished":
            return RunRecord(*row)
        return None

    def last_finished_mode(self) -> str | None:
        last = self.last_finished_run()
        return last[1] if last else None

    def last_finished_run(self) -> tuple[str, str] | None:
        """``(run id, mode)`` of the run that finished last, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT run_id, mode FROM runs WHERE status='finished' "
                "ORDER BY finished DESC LIMIT 1"
            ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def reopen_run(self, run_id: str) -> None:
        self._write("UPDATE runs SET status='running' WHERE run_id=?", (run_id,))

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        self._write(
            "UPDATE runs SET status=?, finished=?, summary=? WHERE run_id=?",
            (status, time.time(), json.dumps(summary), run_id),
        )

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        """One write; a failure (a full disk) raises :class:`JournalWriteError`."""
        try:
            with self._lock:
                self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise JournalWriteError(
                f"the journal {str(self.path)!r} could not be written ({exc}): free some space "
                "and run the same command again to resume (what is done is kept)"
            ) from None

    # -- items ----------------------------------------------------------------
    def done_keys(self, run_id: str, resource_id: str) -> set[str]:
        """Items of a resource already finished in this run (skipped on resume)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT item_key FROM items WHERE run_id=? AND resource_id=? AND status IN "
                f"({','.join('?' * len(FINAL_OK))})",
                (run_id, resource_id, *FINAL_OK),
            ).fetchall()
        return {r[0] for r in rows}

    def record(
        self,
        run_id: str,
        resource_id: str,
        item_key: str,
        *,
        kind: str,
        name: str,
        status: str,
        nbytes: int = 0,
        fingerprint: str | None = None,
        reason: str = "",
        attempts: int = 1,
    ) -> None:
        """Record an item's outcome; ``attempts`` (the calls it took) add up across runs.

        A write that fails (a full disk) raises :class:`JournalWriteError`."""
        self._write(
            "INSERT INTO items(run_id, resource_id, item_key, kind, name, status, bytes, "
            "fingerprint, reason, attempts, updated) VALUES(?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(run_id, resource_id, item_key) DO UPDATE SET status=excluded.status, "
            "bytes=excluded.bytes, fingerprint=excluded.fingerprint, reason=excluded.reason, "
            "attempts=items.attempts+excluded.attempts, updated=excluded.updated",
            (
                run_id,
                resource_id,
                item_key,
                kind,
                name,
                status,
                nbytes,
                fingerprint,
                redact(reason),
                max(1, attempts),
                time.time(),
            ),
        )
        if status in FINAL_OK:
            self._write(
                "DELETE FROM checkpoints WHERE run_id=? AND resource_id=? AND item_key=?",
                (run_id, resource_id, item_key),
            )

    # -- shards of a cluster run ------------------------------------------------------
    def flush_wal(self) -> None:
        """Write what the WAL holds into the file itself, for readers on other hosts (a
        cluster's workers over a shared volume read the fingerprint key)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def seed_segment(self, segment: Path, run_id: str, resource_id: str) -> None:
        """Give a shard's segment what this journal knows of its resource in the run (items
        done, checkpoints), so a shard resumes what another executor or a merged earlier
        attempt did."""
        Journal(segment).close()  # made with the schema, private
        self._attached(segment, [
            ("INSERT OR IGNORE INTO segment.items SELECT * FROM items "
             "WHERE run_id=? AND resource_id=?", (run_id, resource_id)),
            ("INSERT OR IGNORE INTO segment.checkpoints SELECT * FROM checkpoints "
             "WHERE run_id=? AND resource_id=?", (run_id, resource_id)),
        ])

    def merge_segment(self, segment: Path, run_id: str) -> None:
        """Take in the items and checkpoints a shard journalled in its own segment (which
        started from this journal's: its counts are the whole count)."""
        if not segment.exists():
            return
        final = ",".join(f"'{status}'" for status in FINAL_OK)
        self._attached(segment, [
            ("INSERT INTO items SELECT * FROM segment.items WHERE run_id=? "
             "ON CONFLICT(run_id, resource_id, item_key) DO UPDATE SET "
             "status=excluded.status, bytes=excluded.bytes, fingerprint=excluded.fingerprint, "
             "reason=excluded.reason, attempts=excluded.attempts, updated=excluded.updated",
             (run_id,)),
            ("INSERT OR REPLACE INTO checkpoints SELECT * FROM segment.checkpoints "
             "WHERE run_id=?", (run_id,)),
            ("DELETE FROM checkpoints WHERE run_id=? AND EXISTS (SELECT 1 FROM segment.items "
             "AS done WHERE done.run_id=checkpoints.run_id AND "
             "done.resource_id=checkpoints.resource_id AND done.item_key=checkpoints.item_key "
             f"AND done.status IN ({final}))", (run_id,)),
        ])

    def merge_leftovers(self, folder: Path, run_id: str) -> list[Path]:
        """Merge the segments a cluster run left in ``folder`` (its driver was killed);
        return those that could not be read (moved aside)."""
        broken = []
        for segment in sorted(folder.glob("*.db")):
            try:
                self.merge_segment(segment, run_id)
            except JournalWriteError:
                aside = segment.with_suffix(f".broken-{int(time.time())}")
                segment.rename(aside)
                broken.append(aside)
        return broken

    def _attached(self, segment: Path, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Run ``statements`` in one transaction with ``segment`` attached as ``segment``."""
        try:
            with self._lock:
                self._db.execute("ATTACH DATABASE ? AS segment", (str(segment),))
                try:
                    self._db.execute("BEGIN")
                    try:
                        for sql, params in statements:
                            self._db.execute(sql, params)
                        self._db.execute("COMMIT")
                    except BaseException:
                        self._db.execute("ROLLBACK")
                        raise
                finally:
                    self._db.execute("DETACH DATABASE segment")
        except sqlite3.Error as exc:
            raise JournalWriteError(
                f"the shard journal {str(segment)!r} could not be merged with "
                f"{str(self.path)!r} ({exc}): run the same command again to resume (what is "
                "done is kept)"
            ) from None

    def finish_shard(
        self, run_id: str, shard_id: str, resource_id: str, kinds: dict[str, int]
    ) -> None:
        """A shard ended with nothing failed: a resumed run passes over it."""
        self._write(
            "INSERT OR REPLACE INTO shards(run_id, shard_id, resource_id, kinds, updated) "
            "VALUES(?,?,?,?,?)",
            (run_id, shard_id, resource_id, json.dumps(kinds), time.time()),
        )

    def finished_shards(self, run_id: str) -> dict[str, dict[str, int]]:
        """Shard id -> items per kind, of the shards of ``run_id`` that are done."""
        with self._lock:
            rows = self._db.execute(
                "SELECT shard_id, kinds FROM shards WHERE run_id=?", (run_id,)
            ).fetchall()
        return {str(r[0]): json.loads(r[1]) for r in rows}

    # -- checkpoints inside one item ----------------------------------------------------
    def checkpoint(self, run_id: str, resource_id: str, item_key: str) -> str | None:
        """How far an unfinished item of this run got (the plugin's own words), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM checkpoints WHERE run_id=? AND resource_id=? AND item_key=?",
                (run_id, resource_id, item_key),
            ).fetchone()
        return str(row[0]) if row else None

    def save_checkpoint(self, run_id: str, resource_id: str, item_key: str, value: str) -> None:
        """Keep how far an item got, so a stopped run resumes it there (a continuation
        token, an offset: never a value). A write that fails raises
        :class:`JournalWriteError`."""
        self._write(
            "INSERT INTO checkpoints(run_id, resource_id, item_key, value, updated) "
            "VALUES(?,?,?,?,?) ON CONFLICT(run_id, resource_id, item_key) DO UPDATE SET "
            "value=excluded.value, updated=excluded.updated",
            (run_id, resource_id, item_key, value, time.time()),
        )

    def items(self, run_id: str) -> Iterator[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT resource_id, item_key, kind, name, status, bytes, reason, attempts "
                "FROM items WHERE run_id=? ORDER BY resource_id, item_key",
                (run_id,),
            ).fetchall()
        for row in rows:
            yield dict(
                zip(
                    (
                        "resource_id",
                        "item_key",
                        "kind",
                        "name",
                        "status",
                        "bytes",
                        "reason",
                        "attempts",
                    ),
                    row,
                    strict=True,
                )
            )
