"""Leases (one active per task and per worktree), heartbeats, reaping, scope reservations."""

from __future__ import annotations

import time
from typing import Any

from ..errors import BadInput, Conflict, Denied, NotFound
from ..globs.nfa import glob_sets_overlap
from ..models import Lease, Reservation, from_row
from ..timeutil import now_iso, parse_ts
from . import claims
from . import worktrees as wtmod
from .connection import Store, Tx

Reader = Store | Tx
DEFAULT_STALE_MINUTES = 15.0
STATUSES = ("active", "completed", "failed", "expired")


def is_stale(heartbeat_at: str | None, stale_minutes: float = DEFAULT_STALE_MINUTES, now: float | None = None) -> bool:
    ts = parse_ts(heartbeat_at)
    if ts is None:
        return True
    # `>=` so that a window of 0 (`lease reap --stale-after 0`) expires every active lease, even
    # one heartbeated in this very millisecond (timestamps are rounded to the nearest ms).
    return ((time.time() if now is None else now) - ts) >= stale_minutes * 60


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


# --- reservations ----------------------------------------------------------------------------


def reservations(db: Reader, *, lease_id: str | None = None, active: bool = True) -> list[Reservation]:
    sql = "SELECT * FROM scope_reservations WHERE 1=1"
    params: list[Any] = []
    if active:
        sql += " AND released_at IS NULL"
    if lease_id:
        sql += " AND lease_id = ?"
        params.append(lease_id)
    return [from_row(Reservation, r) for r in db.all(sql + " ORDER BY id", params)]


def release_reservations(tx: Tx, lease_id: str) -> int:
    cur = tx.execute(
        "UPDATE scope_reservations SET released_at = ? WHERE lease_id = ? AND released_at IS NULL",
        (now_iso(), lease_id),
    )
    return cur.rowcount


def scope_conflicts(tx: Tx, lease: Lease, spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Overlapping globs or shared subsystem tags with other active leases' reservations."""
    if not spec:
        return []
    paths = list(spec.get("allowed_paths") or [])
    tags = set(spec.get("subsystem_tags") or [])
    conflicts: list[dict[str, Any]] = []
    by_lease: dict[str, list[Reservation]] = {}
    for r in reservations(tx):
        if r.lease_id != lease.id:
            by_lease.setdefault(r.lease_id, []).append(r)
    for other_id, rows in by_lease.items():
        other_paths = [r.scope_pattern for r in rows if r.ownership_level == "path_scope" and r.scope_pattern]
        for mine, theirs in glob_sets_overlap(paths, other_paths):
            conflicts.append(
                {
                    "type": "path_scope",
                    "scope_pattern": mine,
                    "conflicting_scope_pattern": theirs,
                    "lease_id": other_id,
                    "task_id": rows[0].task_id,
                    "worktree": rows[0].worktree,
                }
            )
        for r in rows:
            if r.ownership_level == "subsystem" and r.subsystem_tag in tags:
                conflicts.append(
                    {
                        "type": "subsystem",
                        "subsystem_tag": r.subsystem_tag,
                        "lease_id": other_id,
                        "task_id": r.task_id,
                        "worktree": r.worktree,
                    }
                )
    return conflicts


def _conflict_summary(c: dict[str, Any]) -> str:
    if c["type"] == "subsystem":
        return f"subsystem {c['subsystem_tag']} → {c['task_id']} ({c['lease_id']} in {c['worktree']})"
    return f"{c['scope_pattern']} overlaps {c['conflicting_scope_pattern']} → {c['task_id']} ({c['lease_id']} in {c['worktree']})"


def _lease_persists(tx: Tx, lease_id: str) -> bool:
    """True when the lease existed before this transaction (a spec change, not a lease start)."""
    row = tx.one("SELECT started_at FROM leases WHERE id = ?", (lease_id,))
    if row is None:
        return False
    return not any(r.event_type == "lease_started" and r.lease_id == lease_id for r in tx.appended)


def reserve_scopes(tx: Tx, lease: Lease, spec: dict[str, Any] | None) -> list[Reservation]:
    """Reserve the spec's globs and tags for `lease`, or refuse (keeping the denial's audit row)."""
    if not spec:
        return []
    conflicts = scope_conflicts(tx, lease, spec)
    if conflicts:
        summary = "; ".join(_conflict_summary(c) for c in conflicts)
        raise Conflict(
            f"scope reservation refused for task {lease.task_id}: {summary}",
            "narrow allowed_paths / subsystem_tags with `switchman-hook task spec`, or wait for the holder's lease to end",
            code="scope_reserved_by_other_lease",
            data={"conflicts": conflicts},
            keep_events=[
                {
                    "event_type": "scope_reservation_denied",
                    "status": "denied",
                    "reason_code": "scope_reserved_by_other_lease",
                    "worktree": lease.worktree,
                    "task_id": lease.task_id,
                    # The lease being started rolls back with the refusal: name it in details only.
                    "lease_id": lease.id if _lease_persists(tx, lease.id) else None,
                    "details": {"conflicts": conflicts, "summary": summary, "attempted_lease_id": lease.id},
                }
            ],
        )
    now = now_iso()
    rows = [("path_scope", p, None) for p in spec.get("allowed_paths") or []]
    rows += [("subsystem", None, t) for t in spec.get("subsystem_tags") or []]
    if not rows:
        return []
    for level, pattern, tag in rows:
        tx.execute(
            "INSERT INTO scope_reservations (lease_id, task_id, worktree, ownership_level, scope_pattern, "
            "subsystem_tag, reserved_at) VALUES (?,?,?,?,?,?,?)",
            (lease.id, lease.task_id, lease.worktree, level, pattern, tag, now),
        )
    tx.audit(
        "scope_reserved",
        "allowed",
        worktree=lease.worktree,
        task_id=lease.task_id,
        lease_id=lease.id,
        details={
            "allowed_paths": list(spec.get("allowed_paths") or []),
            "subsystem_tags": list(spec.get("subsystem_tags") or []),
        },
    )
    return reservations(tx, lease_id=lease.id)


# --- lifecycle -------------------------------------------------------------------------------


def _start(tx: Tx, task_id: str, worktree: str, agent: str | None) -> Lease:
    from .. import validation
    from . import tasks

    task = tasks.require(tx, task_id)
    holder = active_for_task(tx, task_id)
    if holder is not None:
        raise Conflict(
            f"task {task_id} already has active lease {holder.id} in worktree {holder.worktree}",
            f"wait for it, or `switchman-hook lease fail {holder.id}` / `lease reap` if it is abandoned",
            code="lease_held",
            data={"holder": {"lease_id": holder.id, "worktree": holder.worktree, "agent": holder.agent}},
        )
    if task.status != "pending":
        raise Denied(
            f"task {task_id} is {task.status}, not pending",
            f"`switchman-hook task retry {task_id}` to reopen it" if task.status in ("done", "failed") else "",
            code="task_not_pending",
        )
    busy = active_for_worktree(tx, worktree)
    if busy is not None:
        raise Conflict(
            f"worktree {worktree} already holds active lease {busy.id} for task {busy.task_id}",
            f"finish it first (`switchman-hook lease done {busy.id}`) or use another worktree",
            code="worktree_busy",
            data={"holder": {"lease_id": busy.id, "task_id": busy.task_id}},
        )
    from .ids import make_id  # secrets/base64: not on the hook path

    lease_id = make_id("lease")
    now = now_iso()
    tx.execute(
        "UPDATE tasks SET status = 'in_progress', worktree = ?, agent = ?, updated_at = ? WHERE id = ?",
        (worktree, agent, now, task_id),
    )
    tx.execute(
        "INSERT INTO leases (id, task_id, worktree, agent, status, started_at, heartbeat_at) "
        "VALUES (?,?,?,?, 'active', ?, ?)",
        (lease_id, task_id, worktree, agent, now, now),
    )
    wtmod.set_status(tx, worktree, "busy", agent)
    # Holding a lease makes a clean worktree `managed` now, not only after its first gate run;
    # non_compliant / stale are left for the gates to clear.
    wtmod.shift_compliance(tx, worktree, "observed", "managed")
    tx.audit(
        "lease_started", "allowed", worktree=worktree, task_id=task_id, lease_id=lease_id, details={"agent": agent}
    )
    lease = require(tx, lease_id)
    spec = tasks.get_spec(tx, task_id)
    reserve_scopes(tx, lease, spec)
    validation.record_invalidations(tx, lease, spec)
    validation.evaluate_lease(tx, lease.id)
    return lease


def acquire(store: Store, task_id: str, worktree_ref: str, agent: str | None = None) -> tuple[Lease, Any]:
    from . import tasks

    def fn(tx: Tx) -> tuple[Lease, Any]:
        wt = wtmod.require(tx, worktree_ref)
        lease = _start(tx, task_id, wt.name, agent)
        return lease, tasks.require(tx, task_id)

    return store.write(fn)


def next_lease(store: Store, worktree_ref: str, agent: str | None = None) -> tuple[Lease | None, Any]:
    """Lease the highest-priority pending task whose scopes are free; (None, None) if none."""
    from . import tasks

    def fn(tx: Tx) -> tuple[Lease | None, Any]:
        wt = wtmod.require(tx, worktree_ref)
        busy = active_for_worktree(tx, wt.name)
        if busy is not None:
            raise Conflict(
                f"worktree {wt.name} already holds active lease {busy.id} for task {busy.task_id}",
                f"finish it first (`switchman-hook lease done {busy.id}`)",
                code="worktree_busy",
            )
        for task in tasks.list_tasks(tx, "pending"):
            probe = Lease("", task.id, wt.name, agent, "active", "", "", None, None)
            if scope_conflicts(tx, probe, tasks.get_spec(tx, task.id)):
                continue
            lease = _start(tx, task.id, wt.name, agent)
            return lease, tasks.require(tx, task.id)
        return None, None

    return store.write(fn)


def heartbeat(store: Store, lease_id: str, agent: str | None = None) -> Lease:
    from .. import validation

    def fn(tx: Tx) -> Lease:
        lease = require(tx, lease_id)
        if lease.status != "active":
            raise Denied(
                f"lease {lease_id} is {lease.status}",
                f"acquire a new one: `switchman-hook lease acquire {lease.task_id} {lease.worktree}`",
                code="lease_not_active",
            )
        now = now_iso()
        tx.execute(
            "UPDATE leases SET heartbeat_at = ?, agent = COALESCE(?, agent) WHERE id = ?", (now, agent, lease_id)
        )
        wtmod.set_status(tx, lease.worktree, "busy", agent)
        tx.audit(
            "lease_heartbeated",
            "info",
            worktree=lease.worktree,
            task_id=lease.task_id,
            lease_id=lease_id,
            details={"agent": agent or lease.agent},
        )
        validation.evaluate_lease(tx, lease_id)
        return require(tx, lease_id)

    return store.write(fn)


def close(tx: Tx, lease: Lease, status: str, reason: str | None = None) -> None:
    tx.execute(
        "UPDATE leases SET status = ?, finished_at = ?, failure_reason = ? WHERE id = ?",
        (status, now_iso(), reason, lease.id),
    )
    release_reservations(tx, lease.id)
    wtmod.set_status(tx, lease.worktree, "idle")
    wtmod.shift_compliance(tx, lease.worktree, "managed", "observed")


def reap(store: Store, stale_minutes: float = DEFAULT_STALE_MINUTES) -> list[Lease]:
    """Expire stale leases, release their claims and reservations, requeue their tasks."""
    if not stale_minutes >= 0:  # also refuses NaN
        raise BadInput("--stale-after must be zero or more minutes", "e.g. --stale-after 15")

    def fn(tx: Tx) -> list[Lease]:
        expired = []
        for lease in list_leases(tx, "active", stale_minutes):
            if not lease.stale:
                continue
            close(tx, lease, "expired", "stale heartbeat")
            claims.release_for_lease(tx, lease.id)
            tx.execute(
                "UPDATE tasks SET status = 'pending', worktree = NULL, agent = NULL, updated_at = ? "
                "WHERE id = ? AND status = 'in_progress'",
                (now_iso(), lease.task_id),
            )
            tx.audit(
                "lease_expired",
                "warn",
                reason_code="lease_expired",
                worktree=lease.worktree,
                task_id=lease.task_id,
                lease_id=lease.id,
                details={"heartbeat_at": lease.heartbeat_at, "stale_after_minutes": stale_minutes},
            )
            expired.append(require(tx, lease.id, stale_minutes))
        return expired

    return store.write(fn)
