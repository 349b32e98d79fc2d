"""Tables leases and scope_reservations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BadInput, NotFound
from ..models import Lease, Reservation, from_row
from ..policy import DEFAULT_STALE_MINUTES
from ..timeutil import now as clock_now
from ..timeutil import parse_ts
from .base import decoded_rows, tuples

if TYPE_CHECKING:  # pragma: no cover
    from .base import Reader, Tx

STATUSES = ("active", "completed", "failed", "expired")


def is_stale(heartbeat_at: str | None, stale_minutes: float = DEFAULT_STALE_MINUTES, now: float | None = None) -> bool:
    ts = parse_ts(heartbeat_at)
    if ts is None:
        return True
    # `>=` so that a window of 0 (`lease reap --stale-after 0`) expires every active lease, even
    # one heartbeated in this very millisecond (timestamps are rounded to the nearest ms).
    return ((clock_now() if now is None else now) - ts) >= stale_minutes * 60


def _lease(row: dict[str, Any], stale_minutes: float) -> Lease:
    lease = from_row(Lease, row)
    if lease.status == "active" and is_stale(lease.heartbeat_at, stale_minutes):
        return Lease(**{**lease.__dict__, "stale": True})
    return lease


def get(db: Reader, lease_id: str, stale_minutes: float = DEFAULT_STALE_MINUTES) -> Lease | None:
    row = db.one("SELECT * FROM leases WHERE id = ?", (lease_id,))
    return _lease(row, stale_minutes) if row else None


def require(db: Reader, lease_id: str, stale_minutes: float = DEFAULT_STALE_MINUTES) -> Lease:
    lease = get(db, lease_id, stale_minutes)
    if lease is None:
        raise NotFound(f"no lease {lease_id!r}", "see `switchman-hook lease list`", code="unknown_lease")
    return lease


def exists(db: Reader, lease_id: str) -> bool:
    return db.one("SELECT started_at FROM leases WHERE id = ?", (lease_id,)) is not None


def list_leases(db: Reader, status: str | None = None, stale_minutes: float = DEFAULT_STALE_MINUTES) -> list[Lease]:
    if status is not None and status not in (*STATUSES, "stale"):
        raise BadInput(f"unknown lease status {status!r}", f"use one of: {', '.join((*STATUSES, 'stale'))}")
    sql = "SELECT * FROM leases"
    params: tuple[Any, ...] = ()
    if status and status != "stale":
        sql += " WHERE status = ?"
        params = (status,)
    elif status == "stale":
        sql += " WHERE status = 'active'"
    rows = [_lease(r, stale_minutes) for r in db.all(sql + " ORDER BY started_at, id", params)]
    return [r for r in rows if r.stale] if status == "stale" else rows


def active_for_task(db: Reader, task_id: str, stale_minutes: float = DEFAULT_STALE_MINUTES) -> Lease | None:
    row = db.one("SELECT * FROM leases WHERE task_id = ? AND status = 'active' ORDER BY started_at DESC LIMIT 1", (task_id,))
    return _lease(row, stale_minutes) if row else None


def active_for_worktree(db: Reader, worktree: str, stale_minutes: float = DEFAULT_STALE_MINUTES) -> Lease | None:
    row = db.one(
        "SELECT * FROM leases WHERE worktree = ? AND status = 'active' ORDER BY started_at DESC LIMIT 1", (worktree,)
    )
    return _lease(row, stale_minutes) if row else None


def any_active_in_worktree(db: Reader, worktree: str) -> dict[str, Any] | None:
    """Some active lease of the worktree ({id, task_id}), or None."""
    return db.one("SELECT id, task_id FROM leases WHERE worktree = ? AND status = 'active' LIMIT 1", (worktree,))


def active_rows(db: Reader) -> list[dict[str, Any]]:
    """used by doctor (lease check): active leases (id, task_id, worktree) oldest first."""
    return db.all("SELECT id, task_id, worktree FROM leases WHERE status = 'active' ORDER BY started_at")


def active_with_specs(db: Reader) -> list[dict[str, Any]]:
    """Active leases whose task has a spec: (id, spec_json)."""
    return db.all("SELECT l.id, s.spec_json FROM leases l JOIN task_specs s ON s.task_id = l.task_id WHERE l.status = 'active'")


def insert(tx: Tx, lease_id: str, task_id: str, worktree: str, agent: str | None, now: str) -> None:
    tx.execute(
        "INSERT INTO leases (id, task_id, worktree, agent, status, started_at, heartbeat_at) "
        "VALUES (?,?,?,?, 'active', ?, ?)",
        (lease_id, task_id, worktree, agent, now, now),
    )


def touch(tx: Tx, lease_id: str, agent: str | None, now: str) -> None:
    tx.execute("UPDATE leases SET heartbeat_at = ?, agent = COALESCE(?, agent) WHERE id = ?", (now, agent, lease_id))


def finish(tx: Tx, lease_id: str, status: str, reason: str | None, now: str) -> None:
    tx.execute(
        "UPDATE leases SET status = ?, finished_at = ?, failure_reason = ? WHERE id = ?",
        (status, now, reason, lease_id),
    )


# --- scope_reservations ------------------------------------------------------------------------


def reservations(db: Reader, *, lease_id: str | None = None, active: bool = True) -> list[Reservation]:
    sql = "SELECT * FROM scope_reservations WHERE 1=1"
    params: list[Any] = []
    if active:
        sql += " AND released_at IS NULL"
    if lease_id:
        sql += " AND lease_id = ?"
        params.append(lease_id)
    return [from_row(Reservation, r) for r in db.all(sql + " ORDER BY id", params)]


def path_scopes(db: Reader) -> list[tuple[Any, ...]]:
    """Active path-scope reservations as (lease_id, task_id, worktree, pattern) tuples, in order.

    Tuples, not dicts: a scope check reads every active reservation, thousands on a busy repository.
    """
    return decoded_rows(
        tuples(
            db,
            "SELECT lease_id, task_id, worktree, scope_pattern FROM scope_reservations "
            "WHERE released_at IS NULL AND ownership_level = 'path_scope' AND scope_pattern IS NOT NULL ORDER BY id",
        )
    )


def insert_reservation(
    tx: Tx, lease: Lease, level: str, pattern: str | None, tag: str | None, now: str
) -> None:
    tx.execute(
        "INSERT INTO scope_reservations (lease_id, task_id, worktree, ownership_level, scope_pattern, "
        "subsystem_tag, reserved_at) VALUES (?,?,?,?,?,?,?)",
        (lease.id, lease.task_id, lease.worktree, level, pattern, tag, now),
    )


def release_reservations(tx: Tx, lease_id: str, now: str) -> int:
    cur = tx.execute(
        "UPDATE scope_reservations SET released_at = ? WHERE lease_id = ? AND released_at IS NULL",
        (now, lease_id),
    )
    return cur.rowcount
