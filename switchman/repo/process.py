"""Running git: which binary (resolved once), in which environment, and the child processes.

Every git switchman runs goes through here: the git that started the hook (or the first `git`
on PATH outside GIT_EXEC_PATH), with GIT_EXEC_PATH removed from its environment and replace
objects and grafts off, spawned with `os.posix_spawn` (no `subprocess` on the hot path).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Mapping, Sequence

from ..errors import EnvironmentProblem, SwitchmanError


class GitError(SwitchmanError):
    exit_code = 3
    code = "git_error"


# Every git we run judges real objects: replace refs off (the env var, and a command-line config
# that outranks a repository's `core.useReplaceRefs=true`, which git 2.39 lets beat the env var),
# grafts off (a graft file that cannot exist: a path under /dev/null). A shallow file still
# applies: git sends nothing past it either.
_NO_REWRITE_ARGS = ("-c", "core.useReplaceRefs=false")
NO_GRAFTS = "/dev/null/switchman-no-grafts"

_git_binary: str | None = None


def _is_exe(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _git_from_path(environ: Mapping[str, str]) -> str | None:
    """The first `git` on PATH outside GIT_EXEC_PATH (git prepends that to a hook's PATH, and the
    committing process chooses it) and outside relative entries (the worktree an agent edits)."""
    exec_path = environ.get("GIT_EXEC_PATH", "")
    skip = os.path.realpath(exec_path) if exec_path else None
    for entry in environ.get("PATH", os.defpath).split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            continue
        if skip is not None and os.path.realpath(entry) == skip:
            continue
        candidate = os.path.join(entry, "git")
        if _is_exe(candidate):
            return candidate
    return None


def pin_hook_git() -> None:
    """In a hook: run every git as the binary of the git process that started the hook.

    The installed hook script `exec`s python, so our parent is that git (`/proc/<ppid>/exe` on
    Linux). Under the pre-commit framework (or without /proc) the parent is no git: the first
    `git` on PATH outside GIT_EXEC_PATH then (`git_binary`). Resolved once per process.
    """
    global _git_binary
    try:
        exe = os.readlink(f"/proc/{os.getppid()}/exe")
    except OSError:
        return
    if os.path.basename(exe) == "git" and os.path.isabs(exe) and _is_exe(exe):
        _git_binary = exe


def git_binary() -> str:
    """The absolute path of the git we run (resolved once); `git` if none is found on PATH."""
    global _git_binary
    if _git_binary is None:
        _git_binary = _git_from_path(os.environ) or "git"
    return _git_binary


def _child_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The environment a git child gets: GIT_EXEC_PATH removed (git finds its own), replace
    objects and grafts off."""
    child = dict(os.environ if env is None else env)
    child.pop("GIT_EXEC_PATH", None)
    child["GIT_NO_REPLACE_OBJECTS"] = "1"
    child["GIT_GRAFT_FILE"] = NO_GRAFTS
    return child


def git_missing(exc: BaseException | None = None) -> EnvironmentProblem:
    where = git_binary()
    what = "git was not found on PATH" if where == "git" else f"git ({where}) could not be run: {exc}"
    return EnvironmentProblem(what, "install git 2.31 or newer")


def no_directory(cwd: str | os.PathLike[str]) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"directory not found: {os.fsdecode(os.fspath(cwd))!r}",
        "run from an existing worktree (a moved worktree needs `git worktree repair`)",
    )


def git_env(*, for_other_worktree: bool = False, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a git child process.

    Inside a hook git exports GIT_DIR / GIT_INDEX_FILE / GIT_WORK_TREE for *this* worktree. They
    must be kept when asking about the commit in progress (GIT_INDEX_FILE is what `commit -a`
    commits) and stripped when running git against another worktree.
    """
    env = dict(os.environ)
    if for_other_worktree:
        for key in (
            "GIT_DIR",
            "GIT_INDEX_FILE",
            "GIT_WORK_TREE",
            "GIT_PREFIX",
            "GIT_COMMON_DIR",
            "GIT_OBJECT_DIRECTORY",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        ):
            env.pop(key, None)
    if extra:
        env.update(extra)
    return env


class GitResult:
    """What `run_git` returns: the attributes of `subprocess.CompletedProcess` callers use."""

    __slots__ = ("args", "returncode", "stdout", "stderr")

    def __init__(self, args: list[str], returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return f"GitResult(args={self.args!r}, returncode={self.returncode!r})"


class GitProcess:
    """A git child started with `os.posix_spawnp` (no `subprocess` import, no fork of Python).

    `subprocess` is slow to import and adds per-call cost over a bare spawn, and a hook runs
    a handful of git commands (figures: benchmarks/README.md). The working directory is given to git as `-C DIR`, which git
    applies before anything else (so relative GIT_DIR / GIT_INDEX_FILE resolve as with a chdir).
    `result()` reads stdout and stderr together (poll), feeding `input` as the pipe drains.
    """

    __slots__ = ("args", "pid", "_in", "_out", "_err", "_input", "_result")

    def __init__(
        self,
        args: Sequence[str],
        cwd: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
        big_pipe: bool = False,
    ) -> None:
        self.args = ["git", *args]
        binary = git_binary()
        where = ("-C", os.fspath(cwd)) if cwd is not None else ()
        argv = [binary, *_NO_REWRITE_ARGS, *where, *args]
        self._result: GitResult | None = None
        self._input = input
        fds: list[int] = []
        try:
            actions: list[tuple[int, ...]] = []
            self._in = -1
            if input is not None:
                r, w = os.pipe()
                fds += [r, w]
                actions.append((os.POSIX_SPAWN_DUP2, r, 0))
                self._in = w
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            fds += [out_r, out_w, err_r, err_w]
            if big_pipe:  # let git finish writing before we read (a prefetch runs ahead of us)
                _grow_pipe(out_w)
            actions += [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
            spawn = os.posix_spawn if os.path.isabs(binary) else os.posix_spawnp
            self.pid = spawn(
                binary,
                argv,
                _child_env(env),
                file_actions=actions,
                setsigdef=_DEFAULT_SIGNALS,
            )
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        # Close the child's ends: EOF arrives when git exits.
        for fd in fds:
            if fd not in (self._in, out_r, err_r):
                os.close(fd)
        self._out, self._err = out_r, err_r

    def result(self) -> GitResult:
        if self._result is not None:
            return self._result
        out: list[bytes] = []
        err: list[bytes] = []
        sinks = {self._out: out, self._err: err}
        data = memoryview(self._input) if self._input is not None else None
        poller = select.poll()
        poller.register(self._out, select.POLLIN)
        poller.register(self._err, select.POLLIN)
        if self._in >= 0:
            if data:
                os.set_blocking(self._in, False)
                poller.register(self._in, select.POLLOUT)
            else:
                os.close(self._in)
                self._in = -1
        try:
            open_fds = len(sinks) + (1 if self._in >= 0 else 0)
            while open_fds:
                for fd, event in poller.poll():
                    if fd == self._in:
                        try:
                            n = os.write(fd, data[:65536])  # type: ignore[index]
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:
                            n = len(data)  # type: ignore[arg-type]
                        data = data[n:]  # type: ignore[index]
                        if not data:
                            poller.unregister(fd)
                            os.close(fd)
                            self._in = -1
                            open_fds -= 1
                        continue
                    chunk = os.read(fd, 1 << 20) if event & (select.POLLIN | select.POLLHUP | select.POLLERR) else b""
                    if chunk:
                        sinks[fd].append(chunk)
                    else:
                        poller.unregister(fd)
                        open_fds -= 1
        finally:
            for fd in (self._in, self._out, self._err):
                if fd >= 0:
                    os.close(fd)
            self._in = self._out = self._err = -1
            _, status = os.waitpid(self.pid, 0)
        self._result = GitResult(self.args, os.waitstatus_to_exitcode(status), b"".join(out), b"".join(err))
        return self._result


def _grow_pipe(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (OSError, ImportError):
        pass


# What subprocess's restore_signals=True gives a child: Python ignores SIGPIPE/SIGXFSZ.
_DEFAULT_SIGNALS = tuple(getattr(signal, n) for n in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, n))

# Git commands started ahead of need (the pre-commit hook starts `diff-index` and `write-tree`
# before it has located the repository or opened the store): (args, cwd realpath) -> process.
_prefetched: dict[tuple[tuple[str, ...], str], GitProcess] = {}


def prefetch_git(args: Sequence[str]) -> None:
    """Start `git ARGS` now, in the current directory with the inherited environment.

    A later `run_git(ARGS, cwd, env=None)` whose cwd is this directory takes its result
    instead of running git again. Only for read-mostly commands whose answer cannot change
    before it is asked for (the hook itself does not touch the index or refs in between).
    """
    try:
        key = (tuple(args), os.path.realpath(os.getcwd()))
        if key not in _prefetched:
            _prefetched[key] = GitProcess(args, None, big_pipe=True)
    except OSError:
        pass  # not worth failing over: run_git will run it


def discard_prefetched() -> None:
    """Forget prefetched commands nobody asked for (their answers may be stale by the next run)."""
    while _prefetched:
        _, proc = _prefetched.popitem()
        with contextlib.suppress(OSError):
            proc.result()


def _take_prefetched(args: Sequence[str], cwd: str | os.PathLike[str] | None) -> GitResult | None:
    try:
        where = os.path.realpath(os.fspath(cwd) if cwd is not None else os.getcwd())
    except OSError:
        return None
    proc = _prefetched.pop((tuple(args), where), None)
    return proc.result() if proc is not None else None


class _Finished:
    """A git command that already ran (prefetched, or run synchronously): `result()` returns it."""

    __slots__ = ("_result",)

    def __init__(self, result: GitResult) -> None:
        self._result = result

    def result(self) -> GitResult:
        return self._result


def start_git(
    args: Sequence[str],
    cwd: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> GitProcess | _Finished:
    """Start `git ARGS` and return at once; `.result()` waits for it (like `run_git(check=False)`).

    For work that can run beside Python's own (the commit gate starts `write-tree` and collects
    the tree id when it writes its audit row). A matching prefetched command is handed over.
    """
    if _prefetched and env is None:
        try:
            key = (tuple(args), os.path.realpath(os.fspath(cwd) if cwd is not None else os.getcwd()))
        except OSError:
            key = None
        proc = _prefetched.pop(key, None) if key is not None else None
        if proc is not None:
            return proc
    if cwd is not None and not os.path.isdir(cwd):
        raise no_directory(cwd)
    try:
        return GitProcess(args, cwd, env=env)
    except FileNotFoundError as exc:
        raise git_missing(exc) from exc


def run_git(
    args: Sequence[str],
    cwd: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> GitResult:
    proc: GitResult | None = None
    if _prefetched and env is None and input is None:
        proc = _take_prefetched(args, cwd)
    if proc is None:
        if cwd is not None and not os.path.isdir(cwd):
            raise no_directory(cwd)
        try:
            proc = GitProcess(args, cwd, env=env, input=input).result()
        except FileNotFoundError as exc:  # only the git binary itself: the cwd was checked above
            raise git_missing(exc) from exc
    if check and proc.returncode != 0:
        err = os.fsdecode(proc.stderr).strip().splitlines()
        msg = err[-1] if err else f"git {' '.join(args)} exited {proc.returncode}"
        raise GitError(msg.removeprefix("fatal: "), f"check the repository with `git {args[0]}`")
    return proc


def git_out(args: Sequence[str], cwd: str | os.PathLike[str] | None = None, **kw: object) -> str:
    return os.fsdecode(run_git(args, cwd, **kw).stdout).rstrip("\n")  # type: ignore[arg-type]
