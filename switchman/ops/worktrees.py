"""Worktree use-cases: register (and rename), and add / sync, which need git as well."""

from __future__ import annotations

import os

from .. import policy as policymod
from ..errors import BadInput, Conflict
from ..models import Worktree
from ..repo import GitError, GitWorktree, RepoPaths, git_env, list_worktrees, run_git
from ..store import leases as leasestore
from ..store import snapshots as snapstore
from ..store import worktrees as wtstore
from ..store.base import Store, Tx
from ..timeutil import now_iso
from .leases import Caller, weakening


def lowers(new_mode: str, old_mode: str) -> bool:
    """True when `new_mode` enforces less than `old_mode` (observed < guarded < strict)."""
    order = policymod.MODES
    return new_mode in order and old_mode in order and order.index(new_mode) < order.index(old_mode)


def set_mode(store: Store, ref: str, mode: str, caller: Caller | None = None) -> Worktree:
    """`worktree mode`: lowering another worktree's mode is audited as weakening (issue 12)."""

    def fn(tx: Tx) -> Worktree:
        wt = wtstore.require(tx, ref)
        extra = weakening(tx, caller, [wt.name], lowers(mode, wt.enforcement_mode))
        return wtstore.set_mode(tx, wt.name, mode, extra)

    return store.write(fn)


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
    existing = wtstore.get(store, name)
    if existing is not None and (existing.path != os.path.realpath(path) or not wtstore.is_local(store, existing)):
        where = existing.path if wtstore.is_local(store, existing) else f"{existing.path} on machine {existing.machine}"
        raise BadInput(f"worktree name {name!r} is already registered for {where}", "choose another NAME")
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
    wt, _ = store.write(lambda tx: register(tx, path, actual_branch, name=name, mode=mode))
    return wt, created


def sync(paths: RepoPaths, store: Store) -> list[Worktree]:
    mode = policymod.load(store.state_dir).default_mode
    git_wts = list_worktrees(paths.root if not paths.is_bare else paths.common_dir)
    return store.write(lambda tx: sync_rows(tx, git_wts, paths.root, mode))


def default_name(path: str, is_main: bool) -> str:
    return "main" if is_main else os.path.basename(os.path.normpath(path)) or "worktree"


def _free_name(tx: Tx, wanted: str) -> str:
    """`wanted`, or when another machine's clone has it, `wanted@<machine>` (first 8 chars of the
    machine id: says where it is, whoever registered first); then `-2`, `-3`... suffixes."""
    holder = wtstore.get(tx, wanted)
    if holder is None:
        return wanted
    if tx.shared and not wtstore.is_local(tx, holder):
        wanted = f"{wanted}@{machine_label(tx.machine)}"
    name, n = wanted, 2
    while wtstore.get(tx, name) is not None:
        name = f"{wanted}-{n}"
        n += 1
    return name


def machine_label(machine: str) -> str:
    """A machine id as it goes into a worktree name, without '/': a short one whole, a long one
    (/etc/machine-id is 32 hex digits) by its first 8 characters."""
    label = machine.replace("/", "_") or "unknown"
    return label if len(label) <= 16 else label[:8]


def register(
    tx: Tx,
    path: str,
    branch: str | None,
    *,
    name: str | None = None,
    is_main: bool = False,
    mode: str = "observed",
) -> tuple[Worktree, bool]:
    """Register (or re-find) the worktree at `path`. Returns (row, created)."""
    real = os.path.realpath(path)
    existing = wtstore.by_path(tx, real)
    if existing is not None:
        if existing.machine is None:
            wtstore.set_machine(tx, existing.name)
        if name and name != existing.name:
            if wtstore.get(tx, name) is not None:
                raise BadInput(f"worktree name {name!r} is already registered", "choose another NAME")
            _rename(tx, existing, name)
            existing = wtstore.get(tx, name)
        assert existing is not None
        return existing, False
    if name:
        if wtstore.get(tx, name) is not None:
            raise BadInput(
                f"worktree name {name!r} is already registered for another path",
                "choose another NAME or `switchman-hook worktree list`",
            )
        final = name
    else:
        final = _free_name(tx, default_name(real, is_main))
    wtstore.insert(tx, final, real, branch or "", mode, now_iso())
    details: dict[str, object] = {"path": real, "branch": branch or None}
    if tx.shared:
        details["machine"] = tx.machine
    tx.audit("worktree_registered", "allowed", worktree=final, details=details)
    row = wtstore.get(tx, final)
    assert row is not None
    return row, True


def _rename(tx: Tx, wt: Worktree, name: str) -> None:
    """Relabel a worktree. Leases, claims and reservations name it, so refuse while it holds one."""
    busy = leasestore.any_active_in_worktree(tx, wt.name)
    if busy is not None:
        raise Conflict(
            f"worktree {wt.name} holds active lease {busy['id']} (task {busy['task_id']}); it cannot be renamed to {name!r}",
            f"finish the lease first (`switchman-hook lease done {busy['id']}`), or keep the name {wt.name}",
            code="worktree_busy",
        )
    wtstore.rename(tx, wt.name, name)
    # The change-detection baseline follows the worktree (it is keyed by the label).
    snapstore.rename_worktree(tx, wt.name, name)
    tx.audit(
        "worktree_registered",
        "allowed",
        worktree=name,
        details={"path": wt.path, "branch": wt.branch or None, "renamed_from": wt.name},
    )


def sync_rows(tx: Tx, git_worktrees: list[GitWorktree], main_path: str, mode: str) -> list[Worktree]:
    """Register every non-bare git worktree not yet known; returns the new ones."""
    created = []
    for wt in git_worktrees:
        if wt.bare or not wt.path:
            continue
        if not os.path.isdir(wt.path):
            continue
        row, new = register(
            tx, wt.path, wt.branch, is_main=os.path.realpath(wt.path) == os.path.realpath(main_path), mode=mode
        )
        if new:
            created.append(row)
        elif wt.branch and row.branch != wt.branch:
            wtstore.set_branch(tx, row.name, wt.branch)
    return created


def main_to_integrator(store: Store, root: str) -> str | None:
    """`init --install-hooks`: this clone's main worktree (at `root`, on this machine, never
    another machine's), when it holds no lease, becomes an integrator (SPEC §13: a person merges
    there without a lease). Returns its name when it changed."""

    def fn(tx: Tx) -> str | None:
        main = wtstore.by_path(tx, root)
        if main is None or main.enforcement_mode == "integrator" or leasestore.any_active_in_worktree(tx, main.name):
            return None
        wtstore.set_mode(tx, main.name, "integrator")
        return main.name

    return store.write(fn)
