"""Tables boundary_validation_state and dependency_invalidations (SPEC §1, §7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from ..models import Invalidation, Validation, from_row

if TYPE_CHECKING:  # pragma: no cover
    from .base import Reader, Tx

VALIDATION_STATUSES = ("satisfied", "pending_validation", "blocked")
INVALIDATION_STATUSES = ("stale", "revalidated", "all")


def state_row(db: Reader, lease_id: str) -> dict[str, Any] | None:
    return db.one("SELECT * FROM boundary_validation_state WHERE lease_id = ?", (lease_id,))


def upsert_state(
    tx: Tx,
    lease_id: str,
    task_id: str,
    pipeline_id: str | None,
    status: str,
    missing_json: str,
    now: str,
    details_json: str,
) -> None:
    tx.execute(
        "INSERT INTO boundary_validation_state (lease_id, task_id, pipeline_id, status, missing_task_types, "
        "touched_at, last_evaluated_at, details) VALUES (?,?,?,?,?,?,?,?) "
        "ON CONFLICT(lease_id) DO UPDATE SET status = excluded.status, pipeline_id = excluded.pipeline_id, "
        "missing_task_types = excluded.missing_task_types, touched_at = excluded.touched_at, "
        "last_evaluated_at = excluded.last_evaluated_at, details = excluded.details",
        (lease_id, task_id, pipeline_id, status, missing_json, now, now, details_json),
    )


def leases_of_pipeline(db: Reader, pipeline_id: str) -> set[str]:
    return {r["lease_id"] for r in db.all("SELECT lease_id FROM boundary_validation_state WHERE pipeline_id = ?", (pipeline_id,))}


def list_validations(db: Reader, status: str | None = None, pipeline: str | None = None) -> list[Validation]:
    if status is not None and status not in VALIDATION_STATUSES:
        raise BadInput(f"unknown validation status {status!r}", f"use one of: {', '.join(VALIDATION_STATUSES)}")
    sql, params = "SELECT * FROM boundary_validation_state WHERE 1=1", []
    if status:
        sql += " AND status = ?"
        params.append(status)
    if pipeline:
        sql += " AND pipeline_id = ?"
        params.append(pipeline)
    return [Validation.from_db(r) for r in db.all(sql + " ORDER BY last_evaluated_at, lease_id", params)]


def state_rows_newest_first(db: Reader) -> list[dict[str, Any]]:
    """used by doctor (validation check): every state row, newest evaluation first."""
    return db.all("SELECT * FROM boundary_validation_state ORDER BY last_evaluated_at DESC, lease_id")


# --- dependency_invalidations ------------------------------------------------------------------


def stale_exists(tx: Tx, source_task_id: str, r: dict[str, Any]) -> bool:
    """An identical open invalidation is already recorded."""
    return (
        tx.one(
            "SELECT id FROM dependency_invalidations WHERE status = 'stale' AND source_task_id = ? AND affected_task_id = ? "
            "AND reason_type = ? AND subsystem_tag IS ? AND source_scope_pattern IS ? AND affected_scope_pattern IS ?",
            (
                source_task_id,
                r["affected_task_id"],
                r["reason_type"],
                r.get("subsystem_tag"),
                r.get("source_scope_pattern"),
                r.get("affected_scope_pattern"),
            ),
        )
        is not None
    )


def insert_invalidation(
    tx: Tx, lease_id: str, task_id: str, pipeline: str | None, worktree: str, r: dict[str, Any], now: str
) -> None:
    tx.execute(
        "INSERT INTO dependency_invalidations (source_lease_id, source_task_id, source_pipeline_id, source_worktree, "
        "affected_task_id, affected_pipeline_id, affected_worktree, status, reason_type, subsystem_tag, "
        "source_scope_pattern, affected_scope_pattern, details, created_at) VALUES (?,?,?,?,?,?,?, 'stale', ?,?,?,?,?,?)",
        (
            lease_id,
            task_id,
            pipeline,
            worktree,
            r["affected_task_id"],
            r.get("affected_pipeline_id"),
            r.get("affected_worktree"),
            r["reason_type"],
            r.get("subsystem_tag"),
            r.get("source_scope_pattern"),
            r.get("affected_scope_pattern"),
            r.get("details"),
            now,
        ),
    )


def resolve_for_task(tx: Tx, task_id: str, now: str) -> int:
    """Mark the task's open invalidations revalidated; how many there were."""
    cur = tx.execute(
        "UPDATE dependency_invalidations SET status = 'revalidated', resolved_at = ? "
        "WHERE affected_task_id = ? AND status = 'stale'",
        (now, task_id),
    )
    return cur.rowcount


def list_invalidations(db: Reader, status: str = "stale") -> list[Invalidation]:
    if status not in INVALIDATION_STATUSES:
        raise BadInput(f"unknown invalidation status {status!r}", f"use one of: {', '.join(INVALIDATION_STATUSES)}")
    sql, params = "SELECT * FROM dependency_invalidations", []
    if status != "all":
        sql += " WHERE status = ?"
        params.append(status)
    return [from_row(Invalidation, r) for r in db.all(sql + " ORDER BY id", params)]


def stale_rows(db: Reader) -> list[dict[str, Any]]:
    """used by doctor (invalidation check): open invalidation rows by id."""
    return db.all("SELECT * FROM dependency_invalidations WHERE status = 'stale' ORDER BY id")


def for_task(db: Reader, task_id: str) -> dict[str, Any]:
    """Validation + open invalidations of a task (merge gate input)."""
    vals = [
        Validation.from_db(r)
        for r in db.all(
            "SELECT * FROM boundary_validation_state WHERE task_id = ? ORDER BY last_evaluated_at DESC", (task_id,)
        )
    ]
    invs = [
        from_row(Invalidation, r)
        for r in db.all("SELECT * FROM dependency_invalidations WHERE affected_task_id = ? AND status = 'stale'", (task_id,))
    ]
    return {"validation": vals[0] if vals else None, "invalidations": invs}
