"""Registered worktrees: names are labels, identity is the realpath of the top level."""

from __future__ import annotations

import os

from ..errors import BadInput, Conflict, NotFound
from ..models import Worktree, from_row
from ..policy import check_mode
from ..repo import GitWorktree
from ..timeutil import now_iso
from .connection import Store, Tx

Reader = Store | Tx


def get(db: Reader, name: str) -> Worktree | None:
    row = db.one("SELECT * FROM worktrees WHERE name = ?", (name,))
    return from_row(Worktree, row) if row else None


def by_path(db: Reader, path: str) -> Worktree | None:
    real = os.path.realpath(path)
    row = db.one("SELECT * FROM worktrees WHERE path = ?", (real,))
    return from_row(Worktree, row) if row else None


def list_all(db: Reader) -> list[Worktree]:
    return [from_row(Worktree, r) for r in db.all("SELECT * FROM worktrees ORDER BY registered_at, name")]


def default_name(path: str, is_main: bool) -> str:
    return "main" if is_main else os.path.basename(os.path.normpath(path)) or "worktree"


def _free_name(tx: Tx, wanted: str) -> str:
    name, n = wanted, 2
    while get(tx, name) is not None:
        name = f"{wanted}-{n}"
        n += 1
    return name


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
    existing = by_path(tx, real)
    if existing is not None:
        if name and name != existing.name:
            if get(tx, name) is not None:
                raise BadInput(f"worktree name {name!r} is already registered", "choose another NAME")
            _rename(tx, existing, name)
            existing = get(tx, name)
        assert existing is not None
        return existing, False
    if name:
        if get(tx, name) is not None:
            raise BadInput(
                f"worktree name {name!r} is already registered for another path",
                "choose another NAME or `switchman-hook worktree list`",
            )
        final = name
    else:
        final = _free_name(tx, default_name(real, is_main))
    now = now_iso()
    tx.execute(
        "INSERT INTO worktrees (name, path, branch, status, enforcement_mode, compliance_state, "
        "registered_at, last_seen) VALUES (?,?,?,?,?,?,?,?)",
        (final, real, branch or "", "idle", check_mode(mode), "observed", now, now),
    )
    tx.audit(
        "worktree_registered",
        "allowed",
        worktree=final,
        details={"path": real, "branch": branch or None},
    )
    row = get(tx, final)
    assert row is not None
    return row, True


def _rename(tx: Tx, wt: Worktree, name: str) -> None:
    """Relabel a worktree. Leases, claims and reservations name it, so refuse while it holds one."""
    busy = tx.one("SELECT id, task_id FROM leases WHERE worktree = ? AND status = 'active' LIMIT 1", (wt.name,))
    if busy is not None:
        raise Conflict(
            f"worktree {wt.name} holds active lease {busy['id']} (task {busy['task_id']}); it cannot be renamed to {name!r}",
            f"finish the lease first (`switchman-hook lease done {busy['id']}`), or keep the name {wt.name}",
            code="worktree_busy",
        )
    tx.execute("UPDATE worktrees SET name = ? WHERE name = ?", (name, wt.name))
    # The change-detection baseline follows the worktree (it is keyed by the label).
    tx.execute("UPDATE worktree_snapshots SET worktree = ? WHERE worktree = ?", (name, wt.name))
    tx.audit(
        "worktree_registered",
        "allowed",
        worktree=name,
        details={"path": wt.path, "branch": wt.branch or None, "renamed_from": wt.name},
    )


def sync(tx: Tx, git_worktrees: list[GitWorktree], main_path: str, mode: str) -> list[Worktree]:
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
            tx.execute("UPDATE worktrees SET branch = ? WHERE name = ?", (wt.branch, row.name))
    return created


def containing(db: Reader, path: str) -> Worktree | None:
    """The registered worktree whose top level is `path` or the nearest parent of it."""
    real = os.path.realpath(path)
    best: Worktree | None = None
    for wt in list_all(db):
        if (real == wt.path or real.startswith(wt.path.rstrip(os.sep) + os.sep)) and (
            best is None or len(wt.path) > len(best.path)
        ):
            best = wt
    return best


def require(db: Reader, ref: str) -> Worktree:
    """Find a registered worktree by name, else by path (its top level or any directory in it)."""
    wt = get(db, ref)
    if wt is None and (os.sep in ref or ref in (os.curdir, os.pardir)):
        wt = containing(db, ref)
    if wt is None:
        raise NotFound(
            f"no registered worktree named or at {ref!r}",
            "see `switchman-hook worktree list`, or `switchman-hook worktree sync` to register git's worktrees",
            code="unknown_worktree",
        )
    return wt


def set_mode(tx: Tx, name: str, mode: str) -> Worktree:
    wt = require(tx, name)
    check_mode(mode)
    tx.execute("UPDATE worktrees SET enforcement_mode = ? WHERE name = ?", (mode, wt.name))
    tx.audit(
        "policy_updated",
        "info",
        worktree=wt.name,
        details={"enforcement_mode": mode, "previous": wt.enforcement_mode},
    )
    result = get(tx, wt.name)
    assert result is not None
    return result


def set_compliance(tx: Tx, name: str, state: str) -> None:
    tx.execute("UPDATE worktrees SET compliance_state = ?, last_seen = ? WHERE name = ?", (state, now_iso(), name))


def shift_compliance(tx: Tx, name: str, from_state: str, to_state: str) -> None:
    """Move a worktree's compliance from one state to another, leaving any other state alone."""
    tx.execute(
        "UPDATE worktrees SET compliance_state = ? WHERE name = ? AND compliance_state = ?",
        (to_state, name, from_state),
    )


def set_status(tx: Tx, name: str | None, status: str, agent: str | None = None) -> None:
    if not name:
        return
    tx.execute(
        "UPDATE worktrees SET status = ?, agent = COALESCE(?, agent), last_seen = ? WHERE name = ?",
        (status, agent, now_iso(), name),
    )
