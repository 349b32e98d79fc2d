"""Git plumbing for the hot path: one `rev-parse` answers every location question.

No GitPython here: hooks import this module on every commit. Paths from git are bytes decoded with
`os.fsdecode` (surrogateescape), so names with newlines or non-UTF-8 bytes survive round trips.
How git is run (which binary, which environment) is `repo.process`'s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import EnvironmentProblem
from ..records import Record
from .process import (
    NO_GRAFTS,
    GitError,
    GitProcess,
    GitResult,
    _git_from_path,
    discard_prefetched,
    git_binary,
    git_env,
    git_missing,
    git_out,
    no_directory,
    pin_hook_git,
    prefetch_git,
    run_git,
    start_git,
)

__all__ = [
    "NO_GRAFTS",
    "STATE_DIR_NAME",
    "GitError",
    "GitProcess",
    "GitResult",
    "HEAD_ARGS",
    "LOCATE_ARGS",
    "GitWorktree",
    "RepoPaths",
    "_git_from_path",
    "committed_paths_args",
    "discard_prefetched",
    "git_binary",
    "git_env",
    "git_missing",
    "git_out",
    "list_worktrees",
    "locate",
    "no_directory",
    "pin_hook_git",
    "prefetch_git",
    "run_git",
    "start_git",
    "worktree_of",
]

STATE_DIR_NAME = ".switchman"


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
    def worktree(self) -> str | None:
        """The worktree whose git dir this is (the commit's identity); see `worktree_of`."""
        return worktree_of(self)

    @property
    def is_main_worktree(self) -> bool:
        return self.git_dir == self.common_dir


# post-commit: the new commit and its tree, and the paths it changed ("HEAD": nothing moves it
# during the hook, so the hook runner starts these before the gate module is imported).
HEAD_ARGS = ("rev-parse", "HEAD", "HEAD^{tree}", "HEAD^@")  # commit, tree, parents


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
    """One `git rev-parse` for every location question.

    Its answers are newline-separated: when a path holds a newline the output has more lines
    than answers, and each question is then asked on its own (one answer per process: exact).
    """
    proc = run_git(LOCATE_ARGS, cwd, env=env, check=False)
    out = os.fsdecode(proc.stdout)
    lines = out[:-1].split("\n") if out.endswith("\n") else out.split("\n")
    # Every answer is one line or more: exactly 5 lines (4 when --show-toplevel failed) is exact.
    if lines[:1] in (["true"], ["false"]) and len(lines) != (5 if proc.returncode == 0 else 4):
        lines = _locate_one_by_one(cwd, env)
    if len(lines) < 4 or lines[0] not in ("true", "false"):
        raise EnvironmentProblem(
            f"not a git repository: {os.path.abspath(cwd or os.getcwd())}",
            "run inside a git worktree or pass -C <dir>",
            code="not_a_repo",
        )
    is_bare = lines[0] == "true"
    toplevel = lines[4] if (len(lines) > 4 and lines[4]) else None
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


def _locate_one_by_one(cwd: str | os.PathLike[str] | None, env: Mapping[str, str] | None) -> list[str]:
    """LOCATE_ARGS' answers, one `rev-parse` each (only for paths holding a newline)."""
    answers: list[str] = []
    for question in (["--is-bare-repository"], ["--git-dir"], ["--git-common-dir"], ["--git-path", "hooks"], ["--show-toplevel"]):
        proc = run_git(["rev-parse", "--path-format=absolute", *question], cwd, env=env, check=False)
        if proc.returncode != 0:
            break
        out = os.fsdecode(proc.stdout)
        answers.append(out[:-1] if out.endswith("\n") else out)
    return answers


def _gitdir_file(path: str) -> str | None:
    """The path a `gitdir` pointer file names (relative to the file's directory), or None."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(1 << 16)
    except OSError:
        return None
    text = os.fsdecode(raw)
    text = text.removeprefix("gitdir: ") if os.path.basename(path) == ".git" else text
    if os.path.basename(path) == ".git" and text == os.fsdecode(raw):
        return None  # a `.git` file must start with "gitdir: "
    text = text[:-1] if text.endswith("\n") else text
    text = text[:-1] if text.endswith("\r") else text
    if not text:
        return None
    return os.path.realpath(os.path.join(os.path.dirname(path), text))


def _points_at(dot_git: str, git_dir: str) -> bool:
    """Is `dot_git` a worktree's `.git` file naming `git_dir`?"""
    return os.path.isfile(dot_git) and _gitdir_file(dot_git) == git_dir


def worktree_of(paths: RepoPaths) -> str | None:
    """The worktree whose git dir git is working in (SPEC §10): the commit's worktree.

    Not `--show-toplevel`: `git --work-tree=../b commit` run in worktree a commits in a's git dir,
    onto a's branch. A linked worktree's git dir (`<common>/worktrees/<id>`) names its worktree in
    its `gitdir` file (`<worktree>/.git`), which must name the git dir back; the main worktree's
    git dir is the common dir. Read from those files: no git process. None when nothing names it.
    """
    git_dir = paths.git_dir
    if paths.git_dir == paths.common_dir:
        if paths.is_bare:
            return None
        if os.path.basename(paths.common_dir) == ".git":
            return os.path.dirname(paths.common_dir)
        # `--separate-git-dir`: only a worktree whose `.git` file names this git dir.
        if paths.toplevel and _points_at(os.path.join(paths.toplevel, ".git"), git_dir):
            return paths.toplevel
        return None
    named = _gitdir_file(os.path.join(git_dir, "gitdir"))
    if named is not None and os.path.basename(named) == ".git" and _points_at(named, git_dir):
        return os.path.dirname(named)
    # A moved worktree (its `gitdir` stale): the top level, when its `.git` names this git dir.
    if paths.toplevel and _points_at(os.path.join(paths.toplevel, ".git"), git_dir):
        return paths.toplevel
    return None


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
