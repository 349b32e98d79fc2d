"""The helper process: imports the hook's modules once, then forks one child per hook (see __init__).

The parent never opens the store or runs git (a forked SQLite connection or PostgreSQL socket is
not safe to share); it accepts, checks the peer's uid, and forks. The child reads the request,
refuses a client of another version, interpreter or package (and then tells the parent to leave,
as it does when the code on disk changed since the helper started), takes over the client's
descriptors, cwd, argv and environment, and runs `hookrun.serve`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from typing import Any

from . import DISABLE_ENV, IDLE_SECONDS, LOCK, MAGIC, SOCKET

WARM = (
    "switchman.hookrun",
    "switchman.state",
    "switchman.gates.commit",
    "switchman.gates.merge",
    "switchman.gates.push",
    "switchman.gates.history",
    "switchman.gates.spooled",
    "switchman.checkpoint.writer",
    "switchman.receipts.record",
    "switchman.receipts.notes",
    "switchman.receipts.envelope",
    "switchman.render",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
)
STARTED = 0.0
SERVED = 0
PREWARM_EVERY_S = 1.0  # at most this often the parent recompiles the scope matchers
STAMP_EVERY_S = 1.0  # how stale the "code on disk changed" answer may be
BOUND_INODE = -1  # the socket file this helper created
LOCK_FD = -1  # the flock that makes this the repository's one helper (children close it)


def package_dir() -> str:
    import switchman

    return os.path.dirname(os.path.abspath(switchman.__file__))


def code_stamp(pkg: str) -> tuple[int, int]:
    """(newest mtime, file count) of the package's modules: a changed install retires the helper."""
    newest, count = 0, 0
    for folder, _, names in os.walk(pkg):
        for name in names:
            if name.endswith(".py"):
                with contextlib.suppress(OSError):
                    newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime_ns)
                    count += 1
    return newest, count


def identity() -> tuple[bytes, bytes, bytes]:
    from switchman import __version__

    return __version__.encode(), sys.executable.encode(), package_dir().encode()


def _warm(common: str) -> None:
    import importlib

    for name in WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with contextlib.suppress(Exception):  # noqa: BLE001 - warming is an optimisation only
        from switchman.repo import RepoPaths  # noqa: F401
        from switchman.store import postgres_config

        if postgres_config.selected(_state_dir(common)) is not None:
            importlib.import_module("psycopg")
            importlib.import_module("switchman.store.postgres")


def _state_dir(common: str) -> str:
    return os.path.join(os.path.dirname(common), ".switchman") if os.path.basename(common) == ".git" else os.path.join(common, "switchman")


def _prewarm(common: str) -> None:
    """Compile the scope matchers the next hooks will need (SQLite only; read-only, closed again:
    nothing of the store is shared across fork). Keyed by pattern list, so a stale entry is only
    unused, never wrong."""
    with contextlib.suppress(Exception):  # noqa: BLE001 - warming is an optimisation only
        from switchman.ops.claims import warm_scopes
        from switchman.store import postgres_config
        from switchman.store.sqlite import open_read_only

        state = _state_dir(common)
        if postgres_config.selected(state) is not None or not os.path.exists(os.path.join(state, "switchman.db")):
            return
        store = open_read_only(state)
        try:
            warm_scopes(store)
        finally:
            store.close()


def _bind(common: str) -> socket.socket:
    path = os.path.join(common, SOCKET)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)  # the socket is born 0600: no window in which another user can connect
    try:
        if len(path.encode()) < 100:
            sock.bind(path)
        else:
            fd = os.open(common, os.O_RDONLY)
            try:
                sock.bind(f"/proc/self/fd/{fd}/{SOCKET}")
            finally:
                os.close(fd)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    global BOUND_INODE
    BOUND_INODE = os.stat(path).st_ino
    sock.listen(64)
    return sock


def main(argv: list[str]) -> None:
    """`python -E -c '...server.main(sys.argv[1:])' COMMON_DIR` (started by the client)."""
    global STARTED, LOCK_FD
    import fcntl

    common = os.path.realpath(argv[0])
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return
    lock_fd = os.open(os.path.join(common, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + 2.0
    while True:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                return  # another helper serves this repository
            time.sleep(0.05)
    LOCK_FD = lock_fd
    os.ftruncate(lock_fd, 0)
    os.write(lock_fd, f"{os.getpid()}\n".encode())
    _warm(common)
    _prewarm(common)
    import gc

    gc.collect()
    gc.freeze()  # what is warm now is never scanned again: a child's GC would copy those pages
    pkg = package_dir()
    stamp = code_stamp(pkg)
    me = identity()
    idle = float(os.environ.get("SWITCHMAN_HELPER_IDLE", "") or IDLE_SECONDS)
    sock = _bind(common)
    STARTED = time.time()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: _leave(common, sock))
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} helper {os.getpid()} serving {common} (idle exit {idle:g} s)\n")
    sys.stderr.flush()
    _serve(common, sock, idle, me, pkg, stamp)


def _leave(common: str, sock: socket.socket) -> None:
    path = os.path.join(common, SOCKET)
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == BOUND_INODE:  # only our own: a newer helper may have bound one
            os.unlink(path)
    os._exit(0)


def _serve(common: str, sock: socket.socket, idle: float, me: tuple[bytes, bytes, bytes], pkg: str, stamp: tuple[int, int]) -> None:
    global SERVED
    checked, stale, warmed = [time.monotonic()], [False], [time.monotonic()]
    sock.settimeout(idle)
    while True:
        try:
            conn, _ = sock.accept()
        except TimeoutError:
            _leave(common, sock)
            return
        except InterruptedError:
            continue
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        if int.from_bytes(creds[4:8], sys.byteorder) != os.getuid():
            conn.close()  # another user: never serve it, never read what it sends
            continue
        SERVED += 1
        now = time.monotonic()
        if now - checked[0] > STAMP_EVERY_S:  # a stat of every module: not on every hook
            checked[0] = now
            stale[0] = stale[0] or code_stamp(pkg) != stamp
        pid = os.fork()
        if pid == 0:
            sock.close()
            os.close(LOCK_FD)
            import gc

            gc.disable()  # a hook lives milliseconds: no collection pauses, no copied pages
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                code = _child(conn, me, stale[0])
            except BaseException:  # noqa: BLE001 - the client then runs the hook itself
                code = None
            os._exit(0 if code is None else code)
        conn.close()
        if now - warmed[0] > PREWARM_EVERY_S:  # while the child works: the next hook's matchers
            warmed[0] = now
            _prewarm(common)


def _recv_exact(conn: socket.socket, n: int, first: bytes = b"") -> bytes:
    buf = bytearray(first)
    while len(buf) < n:
        chunk = conn.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            raise ConnectionError("client closed")
        buf += chunk
    return bytes(buf)


def _child(conn: socket.socket, me: tuple[bytes, bytes, bytes], code_changed: bool) -> int | None:
    conn.settimeout(10.0)
    data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
    try:
        if len(data) < 8:
            data = _recv_exact(conn, 8, data)
        size = int.from_bytes(data[:8], "big")
        frame = _recv_exact(conn, 8 + size + 9, data)
        meta = frame[8 : 8 + size]
        has_stdin = frame[8 + size : 9 + size] == b"1"
        n_stdin = int.from_bytes(frame[9 + size : 17 + size], "big")
        stdin_data = _recv_exact(conn, 17 + size + n_stdin, frame)[17 + size :]
        fields = meta.split(b"\0")
        magic, version, exe, client_pkg, cwd, argc = fields[:6]
        if magic != MAGIC or (version, exe, client_pkg) != me or code_changed:
            stale = code_changed or version != me[0]
            conn.sendall(b"REFUSE stale\n" if stale else b"REFUSE identity\n")
            if stale:
                os.kill(os.getppid(), signal.SIGTERM)
            return None
        n = int(argc)
        hook = os.fsdecode(fields[6])
        args = [os.fsdecode(a) for a in fields[7 : 7 + n]]
        env = dict(item.split(b"=", 1) for item in fields[7 + n :] if b"=" in item)
        if len(fds) != 3:
            return None
        _adopt(fds, has_stdin, stdin_data, cwd, env)
    except (OSError, ValueError, ConnectionError):
        return None
    _watch(conn)
    from switchman import hookrun

    code = hookrun.serve([hook, *args])
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        sys.stderr.flush()
    with contextlib.suppress(OSError):
        conn.sendall(b"EXIT %d\n" % code)
    return code


def _adopt(fds: list[int], has_stdin: bool, stdin_data: bytes, cwd: bytes, env: dict[bytes, bytes]) -> None:
    """Become the client: its descriptors, directory and environment, fresh randomness."""
    import random

    if has_stdin:
        r = os.memfd_create("switchman-stdin")
        os.write(r, stdin_data)
        os.lseek(r, 0, os.SEEK_SET)
        os.dup2(r, 0)
        os.close(r)
    else:
        os.dup2(fds[0], 0)
    os.dup2(fds[1], 1)
    os.dup2(fds[2], 2)
    for fd in fds:
        os.close(fd)
    os.chdir(cwd)
    os.environ.clear()
    for k, v in env.items():
        os.environb[k] = v
    random.seed()  # forks share the parent's generator: retry jitter must differ per hook
    from switchman import faults

    faults.reload()  # SWITCHMAN_FAULT is read at import: read the client's


def _watch(conn: Any) -> None:
    """Die with the client: a closed connection (the hook's process is gone) ends this child.
    The client closes only after it read the exit code, so the answer is never cut short."""
    import threading

    def wait() -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(None)
            while conn.recv(64):
                pass
        os._exit(1)

    threading.Thread(target=wait, daemon=True).start()
