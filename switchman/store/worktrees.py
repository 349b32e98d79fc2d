"""Table worktrees: names are labels (unique per repository), identity is the realpath of the
top level, and on a store shared by several machines the machine too (`base.Reader.shared`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import NotFound
from ..models import Worktree, from_row
from ..policy import check_mode
from ..timeutil import now_iso

if TYPE_CHECKING:  # pragma: no cover
    from .base import Reader, Tx


def get(db: Reader, name: str) -> Worktree | None:
    row = db.one("SELECT * FROM worktrees WHERE name = ?", (name,))
    return from_row(Worktree, row) if row else None


def by_path(db: Reader, path: str) -> Worktree | None:
    """The worktree checked out at `path` on this machine.

    On a shared store a row from before machine ids were recorded (machine NULL) still matches,
    after this machine's own; `register` then records the machine on it."""
    real = os.path.realpath(path)
    if not db.shared:
        row = db.one("SELECT * FROM worktrees WHERE path = ?", (real,))
    else:
        row = db.one(
            "SELECT * FROM worktrees WHERE path = ? AND (machine = ? OR machine IS NULL) "
            "ORDER BY machine IS NULL, registered_at LIMIT 1",
            (real, db.machine),
        )
    return from_row(Worktree, row) if row else None


def list_all(db: Reader) -> list[Worktree]:
    """Every registered worktree, on every machine (names are unique per repository)."""
    return [from_row(Worktree, r) for r in rows(db)]


def rows(db: Reader) -> list[dict[str, Any]]:
    """Every worktree row, in registration order."""
    return db.all("SELECT * FROM worktrees ORDER BY registered_at, name")


def is_local(db: Reader, wt: Worktree | dict[str, Any]) -> bool:
    """Is this worktree on this machine (so its path means something here)?"""
    machine = wt.get("machine") if isinstance(wt, dict) else wt.machine
    return not db.shared or machine is None or machine == db.machine


def local(db: Reader) -> list[Worktree]:
    """The worktrees on this machine: what monitor observes, doctor compares with git, and
    paths resolve to. All of them on a one-machine store."""
    return [w for w in list_all(db) if is_local(db, w)]


def local_rows(db: Reader) -> list[dict[str, Any]]:
    """used by doctor (worktree checks): this machine's rows, in registration order."""
    return [r for r in rows(db) if is_local(db, r)]


def all_paths(db: Reader) -> list[str]:
    """used by checkpoints (where a signing key must not live): this machine's top levels."""
    return [w.path for w in local(db)]


def insert(tx: Tx, name: str, real: str, branch: str, mode: str, now: str) -> None:
    """A new row for a worktree at `real` on this machine."""
    tx.execute(
        "INSERT INTO worktrees (name, path, branch, status, enforcement_mode, compliance_state, "
        "registered_at, last_seen, machine) VALUES (?,?,?,?,?,?,?,?,?)",
        (name, real, branch, "idle", check_mode(mode), "observed", now, now, tx.machine),
    )


def set_machine(tx: Tx, name: str) -> None:
    """Record this machine on a row registered before machine ids were (machine NULL)."""
    tx.execute("UPDATE worktrees SET machine = ? WHERE name = ? AND machine IS NULL", (tx.machine, name))


def rename(tx: Tx, old: str, new: str) -> None:
    tx.execute("UPDATE worktrees SET name = ? WHERE name = ?", (new, old))


def set_branch(tx: Tx, name: str, branch: str) -> None:
    tx.execute("UPDATE worktrees SET branch = ? WHERE name = ?", (branch, name))


def set_every_mode(tx: Tx, mode: str) -> None:
    """`policy mode M --all-worktrees`."""
    tx.execute("UPDATE worktrees SET enforcement_mode = ?", (mode,))


def containing(db: Reader, path: str) -> Worktree | None:
    """The registered worktree whose top level is `path` or the nearest parent of it."""
    real = os.path.realpath(path)
    best: Worktree | None = None
    for wt in local(db):
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


def set_mode(tx: Tx, name: str, mode: str, extra: dict[str, Any] | None = None) -> Worktree:
    """`extra`: more audit details (who asked, whether it weakens another worktree)."""
    wt = require(tx, name)
    check_mode(mode)
    tx.execute("UPDATE worktrees SET enforcement_mode = ? WHERE name = ?", (mode, wt.name))
    tx.audit(
        "policy_updated",
        "info",
        worktree=wt.name,
        details={"enforcement_mode": mode, "previous": wt.enforcement_mode, **(extra or {})},
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
