"""Task use-cases: add, spec change, done / fail / retry with everything they release."""

from __future__ import annotations

from typing import Any

from .. import specs as specmod
from ..errors import BadInput, Denied
from ..models import Task
from ..store import claims as claimstore
from ..store import leases as leasestore
from ..store import tasks as taskstore
from ..store import worktrees as wtstore
from ..store.base import Store, Tx
from ..timeutil import now_iso
from . import claims as claimops
from . import leases as leaseops
from . import validation
from .leases import Caller, weakening


def add(
    store: Store,
    title: str,
    *,
    task_id: str | None = None,
    description: str | None = None,
    priority: int = 5,
    spec: dict[str, Any] | None = None,
) -> Task:
    if not title.strip():
        raise BadInput("task title is empty", "give a short title, e.g. `switchman-hook task add \"Fix login\"`")
    if task_id is not None and (not task_id.strip() or any(c.isspace() for c in task_id)):
        raise BadInput(f"task id {task_id!r} is empty or has whitespace", "use an id like auth-fix-1")
    validated = specmod.validate(spec) if spec is not None else None

    def fn(tx: Tx) -> Task:
        from ..store.ids import make_id  # secrets: not on the hook path

        tid = task_id or make_id("task")
        if taskstore.get(tx, tid) is not None:
            raise BadInput(f"task {tid!r} already exists", "choose another --id", code="duplicate_task")
        taskstore.insert(tx, tid, title, description, priority, now_iso())
        tx.audit("task_created", "info", task_id=tid, details={"title": title, "priority": priority})
        if validated is not None:
            taskstore.store_spec(tx, tid, validated, now_iso())
            tx.audit("task_spec_updated", "info", task_id=tid, details={"spec": validated})
        return taskstore.require(tx, tid)

    return store.write(fn)


def set_spec(store: Store, task_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Replace the spec; an active lease's scopes are re-reserved in the same transaction."""
    validated = specmod.validate(spec)

    def fn(tx: Tx) -> dict[str, Any]:
        taskstore.require(tx, task_id)
        taskstore.store_spec(tx, task_id, validated, now_iso())
        lease = leasestore.active_for_task(tx, task_id)
        tx.audit(
            "task_spec_updated",
            "info",
            task_id=task_id,
            lease_id=lease.id if lease else None,
            worktree=lease.worktree if lease else None,
            details={"spec": validated},
        )
        if lease is not None:
            leasestore.release_reservations(tx, lease.id, now_iso())
            leaseops.reserve_scopes(tx, lease, validated)
            # The lease now covers a new scope and new rules: as at lease start (SPEC §7).
            validation.record_invalidations(tx, lease, validated)
            validation.evaluate_lease(tx, lease.id)
        return validated

    return store.write(fn)


def _leftover_content(store: Store, task_id: str) -> tuple[str | None, dict[str, set[str]]]:
    """(active lease id, path -> blob ids of the uncommitted changes under its claims) before
    `done`: git runs outside the write transaction, the lease id is checked again inside it."""
    lease = leasestore.active_for_task(store, task_id)
    if lease is None:
        return None, {}
    wt = wtstore.get(store, lease.worktree)
    held = [c.file_path for c in claimstore.active(store, task_id=task_id) if c.lease_id == lease.id]
    if wt is None or not held:
        return lease.id, {}
    return lease.id, claimops.uncommitted_blobs(wt.path, held)


def complete(store: Store, task_id: str, caller: Caller | None = None) -> Task:
    """Done: ends its lease and releases its claims. What the lease's worktree had changed,
    uncommitted, under those claims stays its to commit (and only that content, SPEC §10)."""
    seen_lease, content = _leftover_content(store, task_id)

    def fn(tx: Tx) -> Task:
        task = taskstore.require(tx, task_id)
        if task.status == "done":
            raise Denied(f"task {task_id} is already done", "nothing to do; `task retry` reopens it", code="task_done")
        if task.status == "failed":
            raise Denied(f"task {task_id} has failed", f"`switchman-hook task retry {task_id}` first", code="task_failed")
        lease = leasestore.active_for_task(tx, task_id)
        taskstore.mark_done(tx, task_id, now_iso())
        if lease is not None:
            leaseops.close(tx, lease, "completed")
        released = claimops.release_for_task(tx, task_id)
        if lease is not None and lease.id == seen_lease:
            claimops.record_leftovers(tx, [c for c in released if c.lease_id == lease.id], content)
        tx.audit(
            "task_completed",
            "allowed",
            worktree=lease.worktree if lease else None,
            task_id=task_id,
            lease_id=lease.id if lease else None,
            details=(weakening(tx, caller, [lease.worktree]) if lease is not None else {}) or None,
        )
        if lease is not None:
            validation.evaluate_lease(tx, lease.id)
        validation.reevaluate_pipeline(tx, task_id)
        return taskstore.require(tx, task_id)

    return store.write(fn)


def fail(store: Store, task_id: str, reason: str | None = None, caller: Caller | None = None) -> Task:
    def fn(tx: Tx) -> Task:
        task = taskstore.require(tx, task_id)
        if task.status in ("done", "failed"):
            raise Denied(
                f"task {task_id} is already {task.status}",
                f"`switchman-hook task retry {task_id}` reopens it",
                code=f"task_{task.status}",
            )
        lease = leasestore.active_for_task(tx, task_id)
        taskstore.mark_failed(tx, task_id, now_iso())
        if lease is not None:
            leaseops.close(tx, lease, "failed", reason or "unknown")
        claimops.release_for_task(tx, task_id)
        tx.audit(
            "task_failed",
            "denied",
            reason_code="task_failed",
            worktree=lease.worktree if lease else None,
            task_id=task_id,
            lease_id=lease.id if lease else None,
            details={"reason": reason or "unknown", **(weakening(tx, caller, [lease.worktree]) if lease else {})},
        )
        return taskstore.require(tx, task_id)

    return store.write(fn)


def retry(store: Store, task_id: str, reason: str | None = None) -> Task:
    def fn(tx: Tx) -> Task:
        task = taskstore.require(tx, task_id)
        if task.status not in ("failed", "done"):
            raise Denied(
                f"task {task_id} is {task.status}; only failed or done tasks can be retried",
                "finish or fail it first",
                code="task_not_retryable",
            )
        taskstore.reopen(tx, task_id, now_iso())
        tx.audit("task_retried", "allowed", task_id=task_id, details={"reason": reason, "previous_status": task.status})
        validation.revalidate(tx, task_id)
        if task.status == "done":
            # A reopened task no longer counts as a completed type of its pipeline (SPEC §7).
            validation.reevaluate_pipeline(tx, task_id)
        return taskstore.require(tx, task_id)

    return store.write(fn)
