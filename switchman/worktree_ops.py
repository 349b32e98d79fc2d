"""Worktree operations that need git as well as the store (add, sync)."""

from __future__ import annotations

import os

from . import policy as policymod
from .errors import BadInput
from .models import Worktree
from .repo import GitError, RepoPaths, git_env, list_worktrees, run_git
from .store import Store
from .store import worktrees as wtmod


def _git_worktree_at(paths: RepoPaths, path: str):  # type: ignore[no-untyped-def]
    real = os.path.realpath(path)
    for wt in list_worktrees(paths.root):
        if wt.path == real:
            return wt
    return None


def add(paths: RepoPaths, store: Store, name: str, path: str, branch: str) -> tuple[Worktree, bool]:
    """Register PATH as NAME; `git worktree add` it first when it is not a worktree yet."""
    if not name.strip() or "/" in name:
        raise BadInput(f"worktree name {name!r} is empty or contains '/'", "use a short label like agent-1")
    existing = wtmod.get(store, name)
    if existing is not None and existing.path != os.path.realpath(path):
        raise BadInput(f"worktree name {name!r} is already registered for {existing.path}", "choose another NAME")
    gwt = _git_worktree_at(paths, path)
    created = False
    if gwt is None:
        if os.path.exists(path) and os.listdir(path):
            raise BadInput(f"{path} exists and is not a worktree of this repository", "pass a new or empty directory")
        has_branch = run_git(["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], paths.root, env=git_env(for_other_worktree=True), check=False).returncode == 0
        args = ["worktree", "add", path, branch] if has_branch else ["worktree", "add", "-b", branch, path]
        try:
            run_git(args, paths.root, env=git_env(for_other_worktree=True))
        except GitError as exc:
            # e.g. the branch is already checked out elsewhere: the request, not the machine, is wrong.
            raise BadInput(f"git worktree add {path} failed: {exc.message}", "pick another BRANCH or PATH") from exc
        created = True
        gwt = _git_worktree_at(paths, path)
    mode = policymod.load(store.state_dir).default_mode
    actual_branch = gwt.branch if gwt and gwt.branch else branch
    wt, _ = store.write(lambda tx: wtmod.register(tx, path, actual_branch, name=name, mode=mode))
    return wt, created


def sync(paths: RepoPaths, store: Store) -> list[Worktree]:
    mode = policymod.load(store.state_dir).default_mode
    git_wts = list_worktrees(paths.root if not paths.is_bare else paths.common_dir)
    return store.write(lambda tx: wtmod.sync(tx, git_wts, paths.root, mode))
