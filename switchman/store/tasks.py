"""Tasks and their specs: creation, lifecycle (done / fail / retry), spec replacement."""

from __future__ import annotations

from typing import Any

from .. import specs as specmod
from ..errors import BadInput, Denied, NotFound
from ..jsonutil import dumps
from ..models import Task, from_row
from ..timeutil import now_iso
from . import claims, leases
from .connection import Store, Tx

Reader = Store | Tx
STATUSES = ("pending", "in_progress", "done", "failed")


def get(db: Reader, task_id: str) -> Task | None:
    row = db.one("SELECT * FROM tasks WHERE id = ?", (task_id,))
    return from_row(Task, row) if row else None


def require(db: Reader, task_id: str) -> Task:
    task = get(db, task_id)
    if task is None:
        raise NotFound(f"no task {task_id!r}", "see `switchman-hook task list`", code="unknown_task")
    return task


def list_tasks(db: Reader, status: str | None = None) -> list[Task]:
    if status is not None and status not in STATUSES:
        raise BadInput(f"unknown task status {status!r}", f"use one of: {', '.join(STATUSES)}")
    sql = "SELECT * FROM tasks"
    params: tuple[Any, ...] = ()
    if status:
        sql += " WHERE status = ?"
        params = (status,)
    sql += " ORDER BY priority DESC, created_at ASC, id ASC"
    return [from_row(Task, r) for r in db.all(sql, params)]


def get_spec(db: Reader, task_id: str) -> dict[str, Any] | None:
    row = db.one("SELECT spec_json FROM task_specs WHERE task_id = ?", (task_id,))
    return specmod.loads_stored(row["spec_json"]) if row else None


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
        from .ids import make_id

        tid = task_id or make_id("task")
        if get(tx, tid) is not None:
            raise BadInput(f"task {tid!r} already exists", "choose another --id", code="duplicate_task")
        now = now_iso()
        tx.execute(
            "INSERT INTO tasks (id, title, description, status, priority, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?)",
            (tid, title, description, "pending", priority, now, now),
        )
        tx.audit("task_created", "info", task_id=tid, details={"title": title, "priority": priority})
        if validated is not None:
            _store_spec(tx, tid, validated)
            tx.audit("task_spec_updated", "info", task_id=tid, details={"spec": validated})
        return require(tx, tid)

    return store.write(fn)


def _store_spec(tx: Tx, task_id: str, spec: dict[str, Any]) -> None:
    tx.execute(
        "INSERT INTO task_specs (task_id, spec_json, updated_at) VALUES (?,?,?) "
        "ON CONFLICT(task_id) DO UPDATE SET spec_json = excluded.spec_json, updated_at = excluded.updated_at",
        (task_id, dumps(spec), now_iso()),
    )


def set_spec(store: Store, task_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Replace the spec; an active lease's scopes are re-reserved in the same transaction."""
    validated = specmod.validate(spec)

    def fn(tx: Tx) -> dict[str, Any]:
        require(tx, task_id)
        _store_spec(tx, task_id, validated)
        lease = leases.active_for_task(tx, task_id)
        tx.audit(
            "task_spec_updated",
            "info",
            task_id=task_id,
            lease_id=lease.id if lease else None,
            worktree=lease.worktree if lease else None,
            details={"spec": validated},
        )
        if lease is not None:
            from .. import validation

            leases.release_reservations(tx, lease.id)
            leases.reserve_scopes(tx, lease, validated)
            # The lease now covers a new scope and new rules: as at lease start (SPEC §7).
            validation.record_invalidations(tx, lease, validated)
            validation.evaluate_lease(tx, lease.id)
        return validated

    return store.write(fn)


def complete(store: Store, task_id: str) -> Task:
    from .. import validation

    def fn(tx: Tx) -> Task:
        task = require(tx, task_id)
        if task.status == "done":
            raise Denied(f"task {task_id} is already done", "nothing to do; `task retry` reopens it", code="task_done")
        if task.status == "failed":
            raise Denied(f"task {task_id} has failed", f"`switchman-hook task retry {task_id}` first", code="task_failed")
        lease = leases.active_for_task(tx, task_id)
        now = now_iso()
        tx.execute(
            "UPDATE tasks SET status = 'done', completed_at = ?, updated_at = ? WHERE id = ?",
            (now, now, task_id),
        )
        if lease is not None:
            leases.close(tx, lease, "completed")
        claims.release_for_task(tx, task_id)
        tx.audit(
            "task_completed",
            "allowed",
            worktree=lease.worktree if lease else None,
            task_id=task_id,
            lease_id=lease.id if lease else None,
        )
        if lease is not None:
            validation.evaluate_lease(tx, lease.id)
        validation.reevaluate_pipeline(tx, task_id)
        return require(tx, task_id)

    return store.write(fn)


def fail(store: Store, task_id: str, reason: str | None = None) -> Task:
    def fn(tx: Tx) -> Task:
        task = require(tx, task_id)
        if task.status in ("done", "failed"):
            raise Denied(
                f"task {task_id} is already {task.status}",
                f"`switchman-hook task retry {task_id}` reopens it",
                code=f"task_{task.status}",
            )
        lease = leases.active_for_task(tx, task_id)
        tx.execute("UPDATE tasks SET status = 'failed', updated_at = ? WHERE id = ?", (now_iso(), task_id))
        if lease is not None:
            leases.close(tx, lease, "failed", reason or "unknown")
        claims.release_for_task(tx, task_id)
        tx.audit(
            "task_failed",
            "denied",
            reason_code="task_failed",
            worktree=lease.worktree if lease else None,
            task_id=task_id,
            lease_id=lease.id if lease else None,
            details={"reason": reason or "unknown"},
        )
        return require(tx, task_id)

    return store.write(fn)


def retry(store: Store, task_id: str, reason: str | None = None) -> Task:
    def fn(tx: Tx) -> Task:
        task = require(tx, task_id)
        if task.status not in ("failed", "done"):
            raise Denied(
                f"task {task_id} is {task.status}; only failed or done tasks can be retried",
                "finish or fail it first",
                code="task_not_retryable",
            )
        tx.execute(
            "UPDATE tasks SET status = 'pending', worktree = NULL, agent = NULL, completed_at = NULL, "
            "updated_at = ? WHERE id = ?",
            (now_iso(), task_id),
        )
        tx.audit("task_retried", "allowed", task_id=task_id, details={"reason": reason, "previous_status": task.status})
        from .. import validation

        validation.revalidate(tx, task_id)
        if task.status == "done":
            # A reopened task no longer counts as a completed type of its pipeline (SPEC §7).
            validation.reevaluate_pipeline(tx, task_id)
        return require(tx, task_id)

    return store.write(fn)
