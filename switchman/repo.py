"""Git plumbing for the hot path: one `rev-parse` answers every location question.

No GitPython here: hooks import this module on every commit. Paths from git are bytes decoded with
`os.fsdecode` (surrogateescape), so names with newlines or non-UTF-8 bytes survive round trips.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import EnvironmentProblem, SwitchmanError

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


def run_git(
    args: Sequence[str],
    cwd: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input,
            capture_output=True,
        )
    except FileNotFoundError as exc:
        raise EnvironmentProblem("git was not found on PATH", "install git 2.31 or newer") from exc
    if check and proc.returncode != 0:
        err = os.fsdecode(proc.stderr).strip().splitlines()
        msg = err[-1] if err else f"git {' '.join(args)} exited {proc.returncode}"
        raise GitError(msg.removeprefix("fatal: "), f"check the repository with `git {args[0]}`")
    return proc


def git_out(args: Sequence[str], cwd: str | os.PathLike[str] | None = None, **kw: object) -> str:
    return os.fsdecode(run_git(args, cwd, **kw).stdout).rstrip("\n")  # type: ignore[arg-type]


@dataclass(frozen=True)
class RepoPaths:
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


def locate(cwd: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> RepoPaths:
    """One `git rev-parse` for every location question (≈2 ms)."""
    proc = run_git(
        [
            "rev-parse",
            "--path-format=absolute",
            "--is-bare-repository",
            "--git-dir",
            "--git-common-dir",
            "--git-path",
            "hooks",
            "--show-toplevel",
        ],
        cwd,
        env=env,
        check=False,
    )
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


@dataclass(frozen=True)
class GitWorktree:
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
