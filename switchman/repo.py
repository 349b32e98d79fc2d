"""Git plumbing for the hot path: one `rev-parse` answers every location question.

No GitPython here: hooks import this module on every commit. Paths from git are bytes decoded with
`os.fsdecode` (surrogateescape), so names with newlines or non-UTF-8 bytes survive round trips.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Mapping, Sequence

from .errors import EnvironmentProblem, SwitchmanError
from .records import Record

STATE_DIR_NAME = ".switchman"


class GitError(SwitchmanError):
    exit_code = 3
    code = "git_error"


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

    `subprocess` costs ~3 ms to import and ~1 ms more per call than a bare spawn; a hook runs
    a handful of git commands. The working directory is given to git as `-C DIR`, which git
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
        argv = ["git", "-C", os.fspath(cwd), *args] if cwd is not None else self.args
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
            self.pid = os.posix_spawnp(
                "git",
                argv,
                os.environ if env is None else env,
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
        return _Finished(run_git(args, cwd, env=env, check=False))
    try:
        return GitProcess(args, cwd, env=env)
    except FileNotFoundError as exc:
        raise EnvironmentProblem("git was not found on PATH", "install git 2.31 or newer") from exc


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
        try:
            if cwd is not None and not os.path.isdir(cwd):
                proc = _run_subprocess(args, cwd, env, input)  # the error subprocess gives for it
            else:
                proc = GitProcess(args, cwd, env=env, input=input).result()
        except FileNotFoundError as exc:
            raise EnvironmentProblem("git was not found on PATH", "install git 2.31 or newer") from exc
    if check and proc.returncode != 0:
        err = os.fsdecode(proc.stderr).strip().splitlines()
        msg = err[-1] if err else f"git {' '.join(args)} exited {proc.returncode}"
        raise GitError(msg.removeprefix("fatal: "), f"check the repository with `git {args[0]}`")
    return proc


def _run_subprocess(
    args: Sequence[str], cwd: str | os.PathLike[str], env: Mapping[str, str] | None, input: bytes | None
) -> GitResult:
    import subprocess

    proc = subprocess.run(["git", *args], cwd=cwd, env=dict(env) if env is not None else None, input=input, capture_output=True)
    return GitResult(list(proc.args), proc.returncode, proc.stdout, proc.stderr)


def git_out(args: Sequence[str], cwd: str | os.PathLike[str] | None = None, **kw: object) -> str:
    return os.fsdecode(run_git(args, cwd, **kw).stdout).rstrip("\n")  # type: ignore[arg-type]


class RepoPaths(Record):
    """Where things are, for the worktree containing `cwd`."""

    toplevel: str | None  # realpath of this worktree's top level; None in a bare repository
    git_dir: str  # this worktree's git dir (per-worktree markers live here)
    common_dir: str  # shared by all worktrees
    hooks_dir: str  # effective hooks dir (`--git-path hooks`, honours core.hooksPath)
    is_bare: bool

    @property
    def root(self) -> str:
        """The main worktree's top level (SPEC §1); the common dir itself for a bare repo."""
        if self.is_bare:
            return self.common_dir
        if os.path.basename(self.common_dir) == ".git":
            return os.path.dirname(self.common_dir)
        # `git init --separate-git-dir`: the main worktree is wherever git says it is.
        if self.git_dir == self.common_dir and self.toplevel:
            return self.toplevel
        first = git_out(["worktree", "list", "--porcelain"], self.common_dir).splitlines()
        for line in first:
            if line.startswith("worktree "):
                return os.path.realpath(line[len("worktree ") :])
        return self.common_dir

    @property
    def state_dir(self) -> str:
        # A bare repo, or a `--separate-git-dir` one (whose main worktree git cannot name from a
        # linked worktree), keeps its state in the common dir so every worktree finds the same.
        if self.is_bare or os.path.basename(self.common_dir) != ".git":
            return os.path.join(self.common_dir, "switchman")
        return os.path.join(self.root, STATE_DIR_NAME)

    @property
    def is_main_worktree(self) -> bool:
        return self.git_dir == self.common_dir


# post-commit: the new commit and its tree, and the paths it changed ("HEAD": nothing moves it
# during the hook, so the hook runner starts these before the gate module is imported).
HEAD_ARGS = ("rev-parse", "HEAD", "HEAD^{tree}", "HEAD^@")  # commit, tree, parents (issue 12)


def committed_paths_args(rev: str) -> list[str]:
    """`git diff-tree` listing the paths commit `rev` changed (against its first parent)."""
    return ["diff-tree", "--no-commit-id", "-r", "-z", "--name-only", "--root", "--no-renames", rev]


LOCATE_ARGS = (
    "rev-parse",
    "--path-format=absolute",
    "--is-bare-repository",
    "--git-dir",
    "--git-common-dir",
    "--git-path",
    "hooks",
    "--show-toplevel",
)


def locate(cwd: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> RepoPaths:
    """One `git rev-parse` for every location question (≈2 ms)."""
    proc = run_git(LOCATE_ARGS, cwd, env=env, check=False)
    lines = os.fsdecode(proc.stdout).split("\n")
    if len(lines) < 4 or lines[0] not in ("true", "false"):
        raise EnvironmentProblem(
            f"not a git repository: {os.path.abspath(cwd or os.getcwd())}",
            "run inside a git worktree or pass -C <dir>",
            code="not_a_repo",
        )
    is_bare = lines[0] == "true"
    toplevel = lines[4] if (proc.returncode == 0 and len(lines) > 4 and lines[4]) else None
    if toplevel is None and not is_bare:
        # Inside the .git directory of a non-bare repo: treat like the main worktree.
        common = os.path.realpath(lines[2])
        if os.path.basename(common) == ".git":
            toplevel = os.path.dirname(common)
    return RepoPaths(
        toplevel=os.path.realpath(toplevel) if toplevel else None,
        git_dir=os.path.realpath(lines[1]),
        common_dir=os.path.realpath(lines[2]),
        hooks_dir=os.path.abspath(lines[3]),
        is_bare=is_bare,
    )


class GitWorktree(Record):
    path: str  # realpath
    head: str | None
    branch: str | None  # short name, None when detached
    bare: bool
    prunable: bool
    locked: bool


def list_worktrees(cwd: str | os.PathLike[str]) -> list[GitWorktree]:
    """`git worktree list --porcelain -z`, parsed (paths may hold newlines)."""
    out = run_git(["worktree", "list", "--porcelain", "-z"], cwd, env=git_env(for_other_worktree=True)).stdout
    result: list[GitWorktree] = []
    cur: dict[str, object] = {}
    for raw in out.split(b"\0"):
        if not raw:
            if cur:
                result.append(_wt_from(cur))
                cur = {}
            continue
        text = os.fsdecode(raw)
        key, _, value = text.partition(" ")
        cur[key] = value if value else True
    if cur:
        result.append(_wt_from(cur))
    return result


def _wt_from(d: dict[str, object]) -> GitWorktree:
    branch = d.get("branch")
    if isinstance(branch, str) and branch.startswith("refs/heads/"):
        branch = branch[len("refs/heads/") :]
    path = str(d.get("worktree", ""))
    return GitWorktree(
        path=os.path.realpath(path) if os.path.exists(path) else path,
        head=d.get("HEAD") if isinstance(d.get("HEAD"), str) else None,  # type: ignore[arg-type]
        branch=branch if isinstance(branch, str) else None,
        bare="bare" in d,
        prunable="prunable" in d,
        locked="locked" in d,
    )
