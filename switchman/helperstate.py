"""The warm helper's state on disk (switchman/helper/): `helper status|stop`, doctor, uninstall.

The helper's state is on disk: LOCK holds its pid while it runs (an flock we can probe), SOCKET
is where it listens. Stopping is SIGTERM to that pid, after checking that the pid really holds the
lock (a pid from an old lock file may belong to an unrelated process by now).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from .records import Record

SOCKET = "switchman-helper.sock"  # in the git common dir, mode 0600
LOCK = "switchman-helper.lock"  # held by the running server: one per repository
LOG = "switchman-helper.log"
DISABLE_ENV = "SWITCHMAN_NO_HELPER"


class HelperState(Record):
    state: str  # running | starting | stopped | stale_socket | disabled
    pid: int | None
    socket: str
    log: str
    detail: str


def _holder(common_dir: str) -> int | None:
    """The pid of the running helper (it holds LOCK), or None."""
    import fcntl

    path = os.path.join(common_dir, LOCK)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 64).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def status(common_dir: str) -> HelperState:
    sock = os.path.join(common_dir, SOCKET)
    log = os.path.join(common_dir, LOG)
    pid = _holder(common_dir)
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return HelperState("disabled", pid, sock, log, f"{DISABLE_ENV}=1: hooks run in-process")
    if pid is not None and not os.path.exists(sock):
        return HelperState("starting", pid if pid > 0 else None, sock, log, f"pid {pid} is importing the hook's modules")
    if pid is not None:
        return HelperState("running", pid if pid > 0 else None, sock, log, f"pid {pid}, socket {sock}")
    if os.path.exists(sock):
        return HelperState("stale_socket", None, sock, log, f"{sock} is left from a helper that is gone")
    return HelperState("stopped", None, sock, log, "not running: the next hook starts it")


def stop(common_dir: str, timeout: float = 3.0) -> HelperState:
    """Stop the helper if one runs; remove a stale socket. Idempotent."""
    pid = _holder(common_dir)
    if pid is not None and pid > 0:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _holder(common_dir) is not None and time.monotonic() < deadline:
            time.sleep(0.02)
    if _holder(common_dir) is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(common_dir, SOCKET))
    return status(common_dir)
