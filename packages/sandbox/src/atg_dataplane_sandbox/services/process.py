"""Start, find and stop the sandbox's background processes by pid file.

Every process runs in its own session (so its pid is its process group id),
writes to ``logs/<name>.log`` and is recorded in ``pids/<name>.pid``. A pid
counts as ours only while its command line still mentions the sandbox
directory, so a recycled pid is never killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from atg_dataplane_sandbox.services.layout import SandboxLayout


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


_exit_codes: dict[int, int] = {}
"""Exit status of children of this process that ended (see :func:`exit_code`)."""


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            _exit_codes[pid] = os.waitstatus_to_exitcode(status)


def _running_child(pid: int) -> bool:
    """True if ``pid`` is a child of this process that has not exited."""
    if pid in _exit_codes:
        return False
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    if done == pid:
        _exit_codes[pid] = os.waitstatus_to_exitcode(status)
    return done == 0


def exit_code(pid: int) -> int | None:
    """How a child started by this process ended (negative: killed by that signal), if known."""
    _reap(pid)
    return _exit_codes.get(pid)


def log_tail(layout: SandboxLayout, name: str, lines: int = 1) -> str:
    """The last non-empty line(s) of ``logs/<name>.log``, for one-line error messages."""
    try:
        text = layout.log_file(name).read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join([line for line in text.splitlines() if line.strip()][-lines:])


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """True if ``pid`` runs (not a zombie) and, when given, its command line contains ``marker``."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _is_zombie(pid):
        return False
    return marker is None or marker in _cmdline(pid)


def read_pid(layout: SandboxLayout, name: str) -> int | None:
    try:
        return int(layout.pid_file(name).read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(layout: SandboxLayout, name: str) -> int | None:
    """The pid of the sandbox process ``name`` if it is alive, else None."""
    pid = read_pid(layout, name)
    if pid is not None and pid_alive(pid, str(layout.root)):
        return pid
    return None


def start(
    layout: SandboxLayout,
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` detached in its own session, logging to ``logs/<name>.log``."""
    layout.make_dirs()
    full_env = dict(os.environ)
    full_env.update(env or {})
    with open(layout.log_file(name), "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(cwd or layout.root),
            start_new_session=True,
            close_fds=True,
        )
    layout.pid_file(name).write_text(f"{proc.pid}\n")
    # The Popen object is dropped on purpose: the process outlives this one.
    # Python would warn about a still-running child; forget it instead.
    proc.returncode = 0
    return proc.pid


def stop(layout: SandboxLayout, name: str, timeout: float = 10.0) -> bool:
    """Stop the process group of ``name`` (TERM, then KILL); remove its pid file.

    Returns True if a running process was stopped.
    """
    pid = running_pid(layout, name)
    if pid is None:
        # A child of ours that is still starting may not show its command line yet.
        own = read_pid(layout, name)
        pid = own if own is not None and _running_child(own) else None
    stopped = False
    if pid is not None:
        stopped = True
        _signal_group(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
    with contextlib.suppress(FileNotFoundError):
        layout.pid_file(name).unlink()
    return stopped


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _group_alive(pgid: int) -> bool:
    # killpg(pgid, 0) also answers for zombies: look at the live members instead.
    return bool(group_members(pgid))


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not _group_alive(pid):
            return True
        time.sleep(0.05)
    _reap(pid)
    return not _group_alive(pid)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids in process group ``pgid``: lets tests prove nothing is left."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members
