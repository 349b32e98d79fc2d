"""Leases over tasks, worktrees, claims, scope reservations and validation (SPEC §1, §7).

One active lease per task and per worktree; its scopes are reserved at start or refused.
"""

from __future__ import annotations

from typing import Any

from ..errors import BadInput, Conflict, Denied, NotFound
from ..globs.nfa import glob_sets_overlap
from ..models import Claim, Lease, Reservation, Task
from ..records import Record
from ..store import claims as claimstore
from ..store import leases as leasestore
from ..store import tasks as taskstore
from ..store import worktrees as wtstore
from ..store.base import Reader, Store, Tx
from ..store.leases import DEFAULT_STALE_MINUTES
from ..timeutil import now_iso
from . import validation

# --- who weakens enforcement (issue 12) ----------------------------------------------------------


class Caller(Record):
    """Where a command runs: the top level of the worktree containing its cwd (None outside any).

    The CLI knows the cwd and passes this down; ops never read the cwd themselves."""

    path: str | None = None


def caller_name(db: Any, caller: Caller | None) -> str | None:
    """The registered name of the calling worktree, or None (outside any, or unregistered)."""
    if caller is None or not caller.path:
        return None
    wt = wtstore.by_path(db, caller.path)
    return wt.name if wt is not None else None


def weakening(db: Any, caller: Caller | None, targets: list[str] | None, lowers: bool = True) -> dict[str, Any]:
    """Audit details naming the caller (`by_worktree`) and, when the operation lowers enforcement
    for a worktree other than the caller's own, `weakens: true`. `targets` None: every worktree
    (policy, hooks). Nothing when the caller is not known (a library call, not the CLI)."""
    if caller is None:
        return {}
    by = caller_name(db, caller)
    details: dict[str, Any] = {"by_worktree": by}
    if lowers and (targets is None or any(t != by for t in targets)):
        details["weakens"] = True
    return details


def audit_released(tx: Tx, rows: list[Claim]) -> list[Claim]:
    """One `claim_released` row per released claim."""
    for c in rows:
        tx.audit(
            "claim_released", "info", worktree=c.worktree, task_id=c.task_id, lease_id=c.lease_id, file_path=c.file_path
        )
    return rows


def scope_conflicts(tx: Tx, lease: Lease, spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Overlapping globs or shared subsystem tags with other active leases' reservations."""
    if not spec:
        return []
    paths = list(spec.get("allowed_paths") or [])
    tags = set(spec.get("subsystem_tags") or [])
    conflicts: list[dict[str, Any]] = []
    by_lease: dict[str, list[Reservation]] = {}
    for r in leasestore.reservations(tx):
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
    if not leasestore.exists(tx, lease_id):
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
        leasestore.insert_reservation(tx, lease, level, pattern, tag, now)
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
    return leasestore.reservations(tx, lease_id=lease.id)


def start(tx: Tx, task_id: str, worktree: str, agent: str | None) -> Lease:
    """Lease a pending task to a worktree: reserve its scopes, record invalidations, validate."""
    task = taskstore.require(tx, task_id)
    holder = leasestore.active_for_task(tx, task_id)
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
    busy = leasestore.active_for_worktree(tx, worktree)
    if busy is not None:
        raise Conflict(
            f"worktree {worktree} already holds active lease {busy.id} for task {busy.task_id}",
            f"finish it first (`switchman-hook lease done {busy.id}`) or use another worktree",
            code="worktree_busy",
            data={"holder": {"lease_id": busy.id, "task_id": busy.task_id}},
        )
    from ..store.ids import make_id  # secrets: not on the hook path

    lease_id = make_id("lease")
    now = now_iso()
    taskstore.mark_in_progress(tx, task_id, worktree, agent, now)
    leasestore.insert(tx, lease_id, task_id, worktree, agent, now)
    wtstore.set_status(tx, worktree, "busy", agent)
    # Holding a lease makes a clean worktree `managed` now, not only after its first gate run;
    # non_compliant / stale are left for the gates to clear.
    wtstore.shift_compliance(tx, worktree, "observed", "managed")
    tx.audit(
        "lease_started", "allowed", worktree=worktree, task_id=task_id, lease_id=lease_id, details={"agent": agent}
    )
    lease = leasestore.require(tx, lease_id)
    spec = taskstore.get_spec(tx, task_id)
    reserve_scopes(tx, lease, spec)
    validation.record_invalidations(tx, lease, spec)
    validation.evaluate_lease(tx, lease.id)
    return lease


def acquire(store: Store, task_id: str, worktree_ref: str, agent: str | None = None) -> tuple[Lease, Task]:
    def fn(tx: Tx) -> tuple[Lease, Task]:
        wt = wtstore.require(tx, worktree_ref)
        lease = start(tx, task_id, wt.name, agent)
        return lease, taskstore.require(tx, task_id)

    return store.write(fn)


def next_lease(store: Store, worktree_ref: str, agent: str | None = None) -> tuple[Lease | None, Any]:
    """Lease the highest-priority pending task whose scopes are free; (None, None) if none."""

    def fn(tx: Tx) -> tuple[Lease | None, Any]:
        wt = wtstore.require(tx, worktree_ref)
        busy = leasestore.active_for_worktree(tx, wt.name)
        if busy is not None:
            raise Conflict(
                f"worktree {wt.name} already holds active lease {busy.id} for task {busy.task_id}",
                f"finish it first (`switchman-hook lease done {busy.id}`)",
                code="worktree_busy",
            )
        for task in taskstore.list_tasks(tx, "pending"):
            probe = Lease("", task.id, wt.name, agent, "active", "", "", None, None)
            if scope_conflicts(tx, probe, taskstore.get_spec(tx, task.id)):
                continue
            lease = start(tx, task.id, wt.name, agent)
            return lease, taskstore.require(tx, task.id)
        return None, None

    return store.write(fn)


def heartbeat(store: Store, lease_id: str, agent: str | None = None) -> Lease:
    def fn(tx: Tx) -> Lease:
        lease = leasestore.require(tx, lease_id)
        if lease.status != "active":
            raise Denied(
                f"lease {lease_id} is {lease.status}",
                f"acquire a new one: `switchman-hook lease acquire {lease.task_id} {lease.worktree}`",
                code="lease_not_active",
            )
        leasestore.touch(tx, lease_id, agent, now_iso())
        wtstore.set_status(tx, lease.worktree, "busy", agent)
        tx.audit(
            "lease_heartbeated",
            "info",
            worktree=lease.worktree,
            task_id=lease.task_id,
            lease_id=lease_id,
            details={"agent": agent or lease.agent},
        )
        validation.evaluate_lease(tx, lease_id)
        return leasestore.require(tx, lease_id)

    return store.write(fn)


def close(tx: Tx, lease: Lease, status: str, reason: str | None = None) -> None:
    """End a lease: release its reservations, free its worktree."""
    now = now_iso()
    leasestore.finish(tx, lease.id, status, reason, now)
    leasestore.release_reservations(tx, lease.id, now_iso())
    wtstore.set_status(tx, lease.worktree, "idle")
    wtstore.shift_compliance(tx, lease.worktree, "managed", "observed")


def reap(store: Store, stale_minutes: float = DEFAULT_STALE_MINUTES, caller: Caller | None = None) -> list[Lease]:
    """Expire stale leases, release their claims and reservations, requeue their tasks."""
    if not stale_minutes >= 0:  # also refuses NaN
        raise BadInput("--stale-after must be zero or more minutes", "e.g. --stale-after 15")

    def fn(tx: Tx) -> list[Lease]:
        expired = []
        for lease in leasestore.list_leases(tx, "active", stale_minutes):
            if not lease.stale:
                continue
            close(tx, lease, "expired", "stale heartbeat")
            audit_released(tx, claimstore.release_for_lease(tx, lease.id, now_iso()))
            taskstore.requeue_in_progress(tx, lease.task_id, now_iso())
            tx.audit(
                "lease_expired",
                "warn",
                reason_code="lease_expired",
                worktree=lease.worktree,
                task_id=lease.task_id,
                lease_id=lease.id,
                details={
                    "heartbeat_at": lease.heartbeat_at,
                    "stale_after_minutes": stale_minutes,
                    **weakening(tx, caller, [lease.worktree]),
                },
            )
            expired.append(leasestore.require(tx, lease.id, stale_minutes))
        return expired

    return store.write(fn)


def active_in_worktree_at(db: Reader, toplevel: str | None) -> Lease:
    """The active lease of the registered worktree containing the cwd (`lease heartbeat|done|fail`
    without an id); NotFound naming the worktree when it holds none."""
    wt = wtstore.by_path(db, toplevel) if toplevel else None
    if wt is None:
        raise NotFound(
            f"{toplevel or 'this directory'} is not a registered worktree, so no lease id can be taken from it",
            "pass the lease id, or run inside a worktree registered with `switchman-hook worktree sync`",
            code="unknown_worktree",
        )
    lease = leasestore.active_for_worktree(db, wt.name)
    if lease is None:
        raise NotFound(
            f"worktree {wt.name} holds no active lease",
            f"pass a lease id, or lease a task: `switchman-hook lease next {wt.name}`",
            code="no_active_lease",
        )
    return lease


def refresh_from_gate(tx: Tx, lease: Lease | None) -> None:
    """A gate run in the lease's own worktree is a sign of life: refresh its heartbeat.

    A stale lease is not revived (its worktree must heartbeat explicitly, so `lease_expired`
    still means something); no audit row of its own (the gate's row records the run).
    """
    if lease is not None and lease.status == "active" and not lease.stale:
        leasestore.touch(tx, lease.id, None, now_iso())
