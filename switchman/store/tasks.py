"""Tables tasks and task_specs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import specs as specmod
from ..errors import BadInput, NotFound
from ..jsonutil import dumps
from ..models import Task, from_row

if TYPE_CHECKING:  # pragma: no cover
    from .base import Reader, Tx

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


def statuses(db: Reader) -> dict[str, str]:
    """used by doctor (validation and invalidation checks): task id -> status."""
    return {r["id"]: r["status"] for r in db.all("SELECT id, status FROM tasks")}


def insert(tx: Tx, task_id: str, title: str, description: str | None, priority: int, now: str) -> None:
    tx.execute(
        "INSERT INTO tasks (id, title, description, status, priority, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?)",
        (task_id, title, description, "pending", priority, now, now),
    )


def mark_in_progress(tx: Tx, task_id: str, worktree: str, agent: str | None, now: str) -> None:
    tx.execute(
        "UPDATE tasks SET status = 'in_progress', worktree = ?, agent = ?, updated_at = ? WHERE id = ?",
        (worktree, agent, now, task_id),
    )


def mark_done(tx: Tx, task_id: str, now: str) -> None:
    tx.execute(
        "UPDATE tasks SET status = 'done', completed_at = ?, updated_at = ? WHERE id = ?",
        (now, now, task_id),
    )


def mark_failed(tx: Tx, task_id: str, now: str) -> None:
    tx.execute("UPDATE tasks SET status = 'failed', updated_at = ? WHERE id = ?", (now, task_id))


def reopen(tx: Tx, task_id: str, now: str) -> None:
    """Back to pending with no worktree, agent or completion time (`task retry`)."""
    tx.execute(
        "UPDATE tasks SET status = 'pending', worktree = NULL, agent = NULL, completed_at = NULL, "
        "updated_at = ? WHERE id = ?",
        (now, task_id),
    )


def requeue_in_progress(tx: Tx, task_id: str, now: str) -> None:
    """Back to pending if it is still in progress (its lease expired)."""
    tx.execute(
        "UPDATE tasks SET status = 'pending', worktree = NULL, agent = NULL, updated_at = ? "
        "WHERE id = ? AND status = 'in_progress'",
        (now, task_id),
    )


# --- task_specs --------------------------------------------------------------------------------


def get_spec(db: Reader, task_id: str) -> dict[str, Any] | None:
    row = db.one("SELECT spec_json FROM task_specs WHERE task_id = ?", (task_id,))
    return specmod.loads_stored(row["spec_json"]) if row else None


def store_spec(tx: Tx, task_id: str, spec: dict[str, Any], now: str) -> None:
    tx.execute(
        "INSERT INTO task_specs (task_id, spec_json, updated_at) VALUES (?,?,?) "
        "ON CONFLICT(task_id) DO UPDATE SET spec_json = excluded.spec_json, updated_at = excluded.updated_at",
        (task_id, dumps(spec), now),
    )


def done_specs(db: Reader) -> list[dict[str, Any]]:
    """The specs of done tasks (which task types a pipeline has completed)."""
    rows = db.all("SELECT s.spec_json FROM tasks t JOIN task_specs s ON s.task_id = t.id WHERE t.status = 'done'")
    return [specmod.loads_stored(r["spec_json"]) or {} for r in rows]


def active_specs_except(db: Reader, task_id: str) -> list[dict[str, Any]]:
    """In-progress and done tasks other than `task_id`, with their spec text (id, status, worktree, spec_json)."""
    return db.all(
        "SELECT t.id, t.status, t.worktree, s.spec_json FROM tasks t JOIN task_specs s ON s.task_id = t.id "
        "WHERE t.status IN ('in_progress', 'done') AND t.id != ?",
        (task_id,),
    )


def unfinished_specs(db: Reader) -> list[dict[str, Any]]:
    """used by doctor (pipeline check): tasks not done, with spec text (id, status, spec_json)."""
    return db.all("SELECT t.id, t.status, s.spec_json FROM tasks t JOIN task_specs s ON s.task_id = t.id WHERE t.status != 'done'")
