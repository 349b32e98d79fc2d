"""Hook client for the warm helper, run as `python -E -S client.py HOOK [ARGS...]` (see __init__).

Standalone on purpose: with -S nothing but the interpreter's built-in modules is cheap, so this
file imports only `sys`, `posix` and `_socket` and repeats the few constants it needs from
`switchman.helper` (tests/test_helper.py keeps them equal). Every doubt ends in `fallback()`:
the hook runs in-process exactly as the installed script would run it without a helper.
"""

import _socket
import posix
import sys

SOCKET = "switchman-helper.sock"
LOG = "switchman-helper.log"
MAGIC = b"SWH1"
DISABLE_ENV = b"SWITCHMAN_NO_HELPER"
HOOKRUN = "import sys; sys.path[:1] = [] if sys.path[:1] == [''] else sys.path[:1]; from switchman.hookrun import main; sys.exit(main())"
STDIN_HOOKS = ("pre-push", "post-rewrite")  # read stdin: buffered here, so a retry still has it
SERVER = "import sys; from switchman.helper.server import main; main(sys.argv[1:])"


def _here() -> str:
    path = __file__ if __file__.startswith("/") else posix.getcwd() + "/" + __file__
    return path.rsplit("/", 1)[0]


def _version(pkg: str) -> bytes:
    try:
        fd = posix.open(pkg + "/__init__.py", posix.O_RDONLY)
        try:
            text = posix.read(fd, 4096)
        finally:
            posix.close(fd)
    except OSError:
        return b""
    start = text.find(b"__version__ = ")
    if start < 0:
        return b""
    line = text[start + 14 :].split(b"\n", 1)[0].strip()
    return line.strip(b"\"'")


def _read(path: bytes) -> bytes:
    fd = posix.open(path, posix.O_RDONLY)
    try:
        return posix.read(fd, 8192)
    finally:
        posix.close(fd)


def _common_dir(env: dict) -> bytes | None:
    """The git common dir from git's own files (a hook runs at the worktree's top level)."""
    git_dir = env.get(b"GIT_DIR")
    if env.get(b"GIT_COMMON_DIR") or env.get(b"GIT_WORK_TREE"):
        return None  # unusual set-ups: let the in-process path locate properly
    cwd = posix.getcwd().encode()
    if git_dir is None:
        dot = cwd + b"/.git"
        try:
            st = posix.stat(dot)
        except OSError:
            return None
        if st.st_mode & 0o170000 == 0o040000:
            git_dir = dot
        else:
            try:
                head = _read(dot)
            except OSError:
                return None
            if not head.startswith(b"gitdir: "):
                return None
            git_dir = head[8:].strip()
    if not git_dir.startswith(b"/"):
        git_dir = cwd + b"/" + git_dir
    try:
        common = _read(git_dir + b"/commondir").strip()
    except OSError:
        return git_dir
    return common if common.startswith(b"/") else git_dir + b"/" + common


def fallback(hook: str, args: list, stdin_data: bytes | None) -> None:
    """Run the hook in this interpreter, as the hook script does without a helper."""
    if stdin_data is not None:
        if hasattr(posix, "memfd_create"):
            fd = posix.memfd_create("switchman-stdin")
            posix.write(fd, stdin_data)
            posix.lseek(fd, 0, 0)
        else:  # no memfd: a pipe holds what a pre-push or post-rewrite hook is given (< 64 KiB)
            fd, w = posix.pipe()
            posix.write(w, stdin_data[:65536])
            posix.close(w)
        posix.dup2(fd, 0)
        posix.close(fd)
    exe = sys.executable
    posix.execv(exe, [exe, "-E", "-c", HOOKRUN, hook, *args])


def _spawn(common: bytes) -> None:
    """Start a helper for the next hook (detached; a second one started at once exits)."""
    try:
        log = posix.open(common + b"/" + LOG.encode(), posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT, 0o600)
    except OSError:
        return
    try:
        pid = posix.fork()
        if pid == 0:
            try:
                posix.setsid()
                if posix.fork() != 0:
                    posix._exit(0)
                null = posix.open("/dev/null", posix.O_RDONLY)
                posix.dup2(null, 0)
                posix.dup2(log, 1)
                posix.dup2(log, 2)
                exe = sys.executable
                posix.execv(exe, [exe, "-E", "-c", SERVER, common.decode("utf-8", "surrogateescape")])
            finally:
                posix._exit(0)
        posix.waitpid(pid, 0)
    except OSError:
        pass
    finally:
        posix.close(log)


def _address(common: bytes) -> tuple[bytes, int | None]:
    """The socket path, through /proc/self/fd when it is too long for sockaddr_un (108 bytes)."""
    path = common + b"/" + SOCKET.encode()
    if len(path) < 100:
        return path, None
    fd = posix.open(common, posix.O_RDONLY)
    return b"/proc/self/fd/%d/" % fd + SOCKET.encode(), fd


def main() -> None:
    hook, args = sys.argv[1], sys.argv[2:]
    env = dict(posix.environ)
    stdin_data = None
    if hook in STDIN_HOOKS:
        chunks = []
        while True:
            chunk = posix.read(0, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        stdin_data = b"".join(chunks)
    if env.get(DISABLE_ENV, b"") not in (b"", b"0"):
        fallback(hook, args, stdin_data)
    common = _common_dir(env)
    if common is None:
        fallback(hook, args, stdin_data)
    pkg = _here().rsplit("/", 1)[0]
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        address, dir_fd = _address(common)
        sock.connect(address)
        if dir_fd is not None:
            posix.close(dir_fd)
    except OSError:
        sock.close()
        _spawn(common)
        fallback(hook, args, stdin_data)
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    if int.from_bytes(creds[4:8], sys.byteorder) != posix.getuid():
        sock.close()
        fallback(hook, args, stdin_data)  # not our helper: never hand it our descriptors
    fields = [MAGIC, _version(pkg), sys.executable.encode(), pkg.encode(), posix.getcwd().encode(), b"%d" % len(args), hook.encode()]
    fields += [a.encode("utf-8", "surrogateescape") for a in args]
    fields += [k + b"=" + v for k, v in env.items()]
    meta = b"\0".join(fields)
    data = stdin_data if stdin_data is not None else b""
    frame = len(meta).to_bytes(8, "big") + meta + (b"1" if stdin_data is not None else b"0") + len(data).to_bytes(8, "big") + data
    fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
    try:
        sent = sock.sendmsg([frame[:65536]], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        if sent < len(frame):
            sock.sendall(frame[sent:])
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(64)
            if not chunk:
                break
            reply += chunk
    except OSError:
        reply = b""
    sock.close()
    if reply.startswith(b"REFUSE stale"):
        _spawn(common)  # the old helper is leaving: start one that matches this install
    if reply.startswith(b"EXIT "):
        try:
            code = int(reply[5:].strip())
        except ValueError:
            code = 1
        sys.stdout.flush()
        posix._exit(code)
    # Refused (another version, interpreter or package) or the helper died mid-hook: judge the
    # commit here. Everything the helper wrote was one transaction, so a retry records nothing twice.
    fallback(hook, args, stdin_data)


if __name__ == "__main__":
    main()
