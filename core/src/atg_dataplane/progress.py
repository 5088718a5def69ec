"""The core's own progress listeners: a rich live display and JSON lines.

Both are ordinary ``dataplane_progress`` implementations registered as
built-in plugins, next to any dashboard a third-party plugin adds.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from atg_dataplane import display, hookimpl
from atg_dataplane.models import ProgressEvent


class JsonLinesProgress:
    """One JSON object per event on stdout (``--output json``)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    @hookimpl
    def dataplane_progress(self, event: ProgressEvent) -> None:
        line = json.dumps(event.to_dict(), default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


class RichProgress:
    """A live display per resource type: items, failures, bytes, rate, ETA."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or display.console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TextColumn("{task.fields[bytes]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._stats: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _task(self, rtype: str) -> TaskID:
        if rtype not in self._tasks:
            self._stats[rtype] = {"failed": 0, "bytes": 0, "done": 0, "total": 0}
            self._tasks[rtype] = self.progress.add_task(
                display.visible(rtype or "resources"), total=None, failed=0, bytes="0 B", rate=""
            )
        return self._tasks[rtype]

    @hookimpl
    def dataplane_progress(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.type == "run_started":
                self.progress.start()
                return
            if event.type == "run_finished":
                self.progress.stop()
                return
            task = self._task(event.resource_type)
            stats = self._stats[event.resource_type]
            if event.type == "resource_discovered":
                stats["total"] += event.items
            elif event.type in ("item_done", "item_skipped", "item_failed"):
                if not event.item_name:  # a resource-level failure (no counterpart)
                    stats["failed"] += 1
                    self.console.print(display.visible(event.reason), style="red", soft_wrap=True)
                else:
                    stats["done"] += 1
                    stats["bytes"] += event.bytes
                    if event.type == "item_failed":
                        stats["failed"] += 1
            elapsed = self.progress.tasks[task].elapsed or 0.0
            rate = f"{stats['done'] / elapsed:.1f} items/s" if elapsed > 0.5 else ""
            total = max(stats["total"], stats["done"]) or None
            self.progress.update(
                task,
                completed=stats["done"],
                total=total,
                failed=stats["failed"],
                bytes=_human_bytes(stats["bytes"]),
                rate=rate,
            )
