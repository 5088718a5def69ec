"""A side's wire that loses chosen answers: the tests' way to aim the sandbox's ``lost``
and ``drop`` faults at one request of a kind instead of a random share of all.

Every request still reaches the real service through the real SDK; only what comes back
is dropped, so a plugin's handling of an unknown outcome (was the write applied?) can be
tested deterministically::

    wire = AnswersLost.on(target, {"the swap": lambda r: "/attachDetachDataDisks" in r.url},
                          monkeypatch)
    ...  # the plugin's call
    assert wire.lost == ["the swap"]

Lay it before the side's first client is made: a client keeps the transport it was made
with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ServiceResponseError

from atg_dataplane.context import ResourceBinding

Wanted = Callable[[Any], bool]
"""Whether a request (azure-core's ``HttpRequest``: ``method``, ``url``, ``data``) is one
whose answer is lost."""


class AnswersLost:
    """A transport that drops the answer of the first request each rule matches, after
    the service applied it (``lost``); a rule whose label starts with ``dropped:`` breaks
    the connection before the request is sent (``drop``: nothing applied). The client
    cannot tell the two apart: both raise ``ServiceResponseError``."""

    def __init__(self, inner: Any, rules: dict[str, Wanted]) -> None:
        self.inner = inner
        self.rules = dict(rules)
        self.lost: list[str] = []
        """Labels of the rules that fired, in order."""

    @classmethod
    def on(
        cls, binding: ResourceBinding, rules: dict[str, Wanted], monkeypatch: Any
    ) -> AnswersLost:
        """Lay the wire under ``binding``'s side (``monkeypatch``: pytest's fixture)."""
        wire = cls(binding.context.transport(), rules)
        monkeypatch.setattr(binding.context, "transport", lambda: wire)
        return wire

    def send(self, request: Any, **kwargs: Any) -> Any:
        for label, wanted in list(self.rules.items()):
            if label.startswith("dropped:") and wanted(request):
                del self.rules[label]
                self.lost.append(label)
                raise ServiceResponseError(f"connection broken: {label} was not answered")
        response = self.inner.send(request, **kwargs)
        for label, wanted in list(self.rules.items()):
            if not label.startswith("dropped:") and wanted(request):
                del self.rules[label]
                self.lost.append(label)
                raise ServiceResponseError(f"connection broken: the answer to {label} was lost")
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
