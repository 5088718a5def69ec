"""A progress listener that keeps every event, for tests."""

from __future__ import annotations

import threading

from atg_dataplane import hookimpl
from atg_dataplane.models import ProgressEvent


class ProgressRecorder:
    """Register with ``host.register_builtin(recorder, "recorder")``; read ``events``."""

    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []
        self._lock = threading.Lock()

    @hookimpl
    def dataplane_progress(self, event: ProgressEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of_type(self, event_type: str) -> list[ProgressEvent]:
        with self._lock:
            return [e for e in self.events if e.type == event_type]

    @property
    def types(self) -> list[str]:
        with self._lock:
            return [e.type for e in self.events]
