"""Scrub credentials out of any text that may reach a log, error, journal or report."""

from __future__ import annotations

import logging
import re

from atg_dataplane.models import ItemError

_PATTERNS = [
    (re.compile(r"(?i)([?&]sig=)[^&\s\"']+"), r"\1REDACTED"),
    (
        re.compile(r"(?i)(sharedaccesssignature=|accountkey=|password=|client_secret=)[^;&\s\"']+"),
        r"\1REDACTED",
    ),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-_\.=]+"), r"\1REDACTED"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):[^@\s/]+@"), r"\1:REDACTED@"),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"), "REDACTED-JWT"),
]


def redact(text: str) -> str:
    """Remove SAS signatures, account keys, bearer tokens and JWTs from ``text``."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def describe_error(exc: BaseException) -> str:
    """One redacted line for an item failure, without values."""
    if isinstance(exc, ItemError):
        return redact(str(exc))
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) if error is not None else None
    message = str(getattr(exc, "message", "") or exc).strip().splitlines()
    first = message[0] if message else type(exc).__name__
    prefix = " ".join(str(p) for p in (status, code) if p)
    return redact(f"{prefix}: {first}" if prefix else f"{type(exc).__name__}: {first}")


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's rendered message, and shows the control
    and direction characters in it (a name's escape sequence) escaped."""

    def filter(self, record: logging.LogRecord) -> bool:
        from atg_dataplane.text import visible

        message = record.getMessage()
        cleaned = visible(redact(message), keep="\n\t")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
