"""Boundary validation and dependency invalidation (SPEC §1, §7).

Boundary validation: a task's spec may require that tasks of other types in its pipeline are
done first (`required_completed_task_types`); its lease is `satisfied`, `pending_validation`
(enforcement warn) or `blocked` (enforcement blocked) until they are. Re-evaluated whenever the
lease is touched (start, heartbeat, gate) and whenever a task in the pipeline completes.

Dependency invalidation: when a lease of one pipeline reserves or touches a scope that overlaps
(or shares a subsystem tag with) an in-progress or done task of another pipeline, that task's
work may be invalid: a `stale` row records it until the task is retried (`revalidated`).
"""

from __future__ import annotations

from typing import Any

from .errors import BadInput
from .globs.matcher import cached_matcher
from .globs.nfa import glob_sets_overlap
from .jsonutil import dumps
from .models import Invalidation, Lease, Validation, from_row
from .store.connection import Store, Tx
from .timeutil import now_iso

Reader = Store | Tx
VALIDATION_STATUSES = ("satisfied", "pending_validation", "blocked")
INVALIDATION_STATUSES = ("stale", "revalidated", "all")
_AUDIT_STATUS = {"satisfied": "allowed", "pending_validation": "warn", "blocked": "denied"}


def _spec(db: Reader, task_id: str) -> dict[str, Any] | None:
    from .store import tasks

    return tasks.get_spec(db, task_id)


def completed_types(db: Reader, pipeline_id: str | None) -> set[str]:
    if pipeline_id is None:
        return set()
    done: set[str] = set()
    for row in db.all(
        "SELECT s.spec_json FROM tasks t JOIN task_specs s ON s.task_id = t.id WHERE t.status = 'done'"
    ):
        from .specs import loads_stored

        spec = loads_stored(row["spec_json"]) or {}
        if spec.get("pipeline_id") == pipeline_id and spec.get("task_type"):
            done.add(spec["task_type"])
    return done


def evaluate_lease(tx: Tx, lease_id: str) -> Validation | None:
    """Recompute one lease's boundary validation; audit only when its status changes."""
    lease = tx.one("SELECT id, task_id, worktree FROM leases WHERE id = ?", (lease_id,))
    if lease is None:
        return None
    spec = _spec(tx, lease["task_id"]) or {}
    rules = spec.get("validation_rules") or {}
    required = list(rules.get("required_completed_task_types") or [])
    enforcement = rules.get("enforcement", "none")
    previous = tx.one("SELECT * FROM boundary_validation_state WHERE lease_id = ?", (lease_id,))
    if enforcement == "none" or not required:
        if previous is None:
            return None
        status, missing = "satisfied", []
    else:
        pipeline = spec.get("pipeline_id")
        missing = [t for t in required if t not in completed_types(tx, pipeline)]
        status = "satisfied" if not missing else ("blocked" if enforcement == "blocked" else "pending_validation")
    now = now_iso()
    details = dumps({"enforcement": enforcement, "required": required, "rationale": rules.get("rationale") or []})
    tx.execute(
        "INSERT INTO boundary_validation_state (lease_id, task_id, pipeline_id, status, missing_task_types, "
        "touched_at, last_evaluated_at, details) VALUES (?,?,?,?,?,?,?,?) "
        "ON CONFLICT(lease_id) DO UPDATE SET status = excluded.status, pipeline_id = excluded.pipeline_id, "
        "missing_task_types = excluded.missing_task_types, touched_at = excluded.touched_at, "
        "last_evaluated_at = excluded.last_evaluated_at, details = excluded.details",
        (lease_id, lease["task_id"], spec.get("pipeline_id"), status, dumps(missing), now, now, details),
    )
    if previous is None or previous["status"] != status or previous["missing_task_types"] != dumps(missing):
        tx.audit(
            "boundary_validation_state",
            _AUDIT_STATUS[status],
            reason_code=status,
            worktree=lease["worktree"],
            task_id=lease["task_id"],
            lease_id=lease_id,
            details={"status": status, "missing_task_types": missing, "pipeline_id": spec.get("pipeline_id")},
        )
    row = tx.one("SELECT * FROM boundary_validation_state WHERE lease_id = ?", (lease_id,))
    return Validation.from_db(row) if row else None


def reevaluate_pipeline(tx: Tx, task_id: str) -> None:
    """A task completed: every lease of its pipeline may now be satisfied."""
    spec = _spec(tx, task_id) or {}
    pipeline = spec.get("pipeline_id")
    if pipeline is None:
        return
    lease_ids = {r["lease_id"] for r in tx.all("SELECT lease_id FROM boundary_validation_state WHERE pipeline_id = ?", (pipeline,))}
    for row in tx.all("SELECT l.id, s.spec_json FROM leases l JOIN task_specs s ON s.task_id = l.task_id WHERE l.status = 'active'"):
        from .specs import loads_stored

        if (loads_stored(row["spec_json"]) or {}).get("pipeline_id") == pipeline:
            lease_ids.add(row["id"])
    for lease_id in sorted(lease_ids):
        evaluate_lease(tx, lease_id)


def _pipelines_differ(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a != b


def _other_tasks(tx: Tx, source_task_id: str) -> list[dict[str, Any]]:
    return tx.all(
        "SELECT t.id, t.status, t.worktree, s.spec_json FROM tasks t JOIN task_specs s ON s.task_id = t.id "
        "WHERE t.status IN ('in_progress', 'done') AND t.id != ?",
        (source_task_id,),
    )


def _insert_invalidations(tx: Tx, lease: Lease, source_pipeline: str | None, rows: list[dict[str, Any]]) -> int:
    added = 0
    now = now_iso()
    for r in rows:
        exists = tx.one(
            "SELECT id FROM dependency_invalidations WHERE status = 'stale' AND source_task_id = ? AND affected_task_id = ? "
            "AND reason_type = ? AND subsystem_tag IS ? AND source_scope_pattern IS ? AND affected_scope_pattern IS ?",
            (lease.task_id, r["affected_task_id"], r["reason_type"], r.get("subsystem_tag"), r.get("source_scope_pattern"), r.get("affected_scope_pattern")),
        )
        if exists:
            continue
        tx.execute(
            "INSERT INTO dependency_invalidations (source_lease_id, source_task_id, source_pipeline_id, source_worktree, "
            "affected_task_id, affected_pipeline_id, affected_worktree, status, reason_type, subsystem_tag, "
            "source_scope_pattern, affected_scope_pattern, details, created_at) VALUES (?,?,?,?,?,?,?, 'stale', ?,?,?,?,?,?)",
            (
                lease.id,
                lease.task_id,
                source_pipeline,
                lease.worktree,
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
        added += 1
    if added:
        tx.audit(
            "dependency_invalidations_updated",
            "warn",
            reason_code="dependency_invalidated",
            worktree=lease.worktree,
            task_id=lease.task_id,
            lease_id=lease.id,
            details={"added": added, "affected_tasks": sorted({r["affected_task_id"] for r in rows})},
        )
    return added


def record_invalidations(tx: Tx, lease: Lease, spec: dict[str, Any] | None) -> int:
    """At lease start: scopes/tags of `spec` overlapping other pipelines' in-progress/done tasks."""
    if not spec:
        return 0
    from .specs import loads_stored

    pipeline = spec.get("pipeline_id")
    tags = set(spec.get("subsystem_tags") or [])
    paths = list(spec.get("allowed_paths") or [])
    found: list[dict[str, Any]] = []
    for other in _other_tasks(tx, lease.task_id):
        ospec = loads_stored(other["spec_json"]) or {}
        opipe = ospec.get("pipeline_id")
        if not _pipelines_differ(pipeline, opipe):
            continue
        base = {"affected_task_id": other["id"], "affected_pipeline_id": opipe, "affected_worktree": other["worktree"]}
        for tag in sorted(tags & set(ospec.get("subsystem_tags") or [])):
            found.append({**base, "reason_type": "subsystem_overlap", "subsystem_tag": tag})
        for mine, theirs in glob_sets_overlap(paths, list(ospec.get("allowed_paths") or [])):
            found.append({**base, "reason_type": "scope_overlap", "source_scope_pattern": mine, "affected_scope_pattern": theirs})
    return _insert_invalidations(tx, lease, pipeline, found)


def record_touched_paths(tx: Tx, lease: Lease, paths: list[str]) -> int:
    """At a gate: paths the lease actually changed that lie in other pipelines' task scopes."""
    if not paths:
        return 0
    from .specs import loads_stored

    spec = _spec(tx, lease.task_id) or {}
    pipeline = spec.get("pipeline_id")
    found: list[dict[str, Any]] = []
    for other in _other_tasks(tx, lease.task_id):
        ospec = loads_stored(other["spec_json"]) or {}
        opipe = ospec.get("pipeline_id")
        if not _pipelines_differ(pipeline, opipe) or not ospec.get("allowed_paths"):
            continue
        matcher = cached_matcher(ospec["allowed_paths"])  # often the scopes ownership just used
        for path in paths:
            pattern = matcher.first_match(path)
            if pattern is not None:
                found.append(
                    {
                        "affected_task_id": other["id"],
                        "affected_pipeline_id": opipe,
                        "affected_worktree": other["worktree"],
                        "reason_type": "scope_overlap",
                        "source_scope_pattern": path,
                        "affected_scope_pattern": pattern,
                    }
                )
    return _insert_invalidations(tx, lease, pipeline, found)


def revalidate(tx: Tx, task_id: str) -> int:
    cur = tx.execute(
        "UPDATE dependency_invalidations SET status = 'revalidated', resolved_at = ? "
        "WHERE affected_task_id = ? AND status = 'stale'",
        (now_iso(), task_id),
    )
    if cur.rowcount:
        tx.audit(
            "dependency_invalidations_updated",
            "info",
            reason_code="revalidated",
            task_id=task_id,
            details={"revalidated": cur.rowcount},
        )
    return cur.rowcount


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


def list_invalidations(db: Reader, status: str = "stale") -> list[Invalidation]:
    if status not in INVALIDATION_STATUSES:
        raise BadInput(f"unknown invalidation status {status!r}", f"use one of: {', '.join(INVALIDATION_STATUSES)}")
    sql, params = "SELECT * FROM dependency_invalidations", []
    if status != "all":
        sql += " WHERE status = ?"
        params.append(status)
    return [from_row(Invalidation, r) for r in db.all(sql + " ORDER BY id", params)]


def for_task(db: Reader, task_id: str) -> dict[str, Any]:
    """Validation + open invalidations of a task (merge gate input)."""
    vals = [Validation.from_db(r) for r in db.all("SELECT * FROM boundary_validation_state WHERE task_id = ? ORDER BY last_evaluated_at DESC", (task_id,))]
    invs = [from_row(Invalidation, r) for r in db.all("SELECT * FROM dependency_invalidations WHERE affected_task_id = ? AND status = 'stale'", (task_id,))]
    return {"validation": vals[0] if vals else None, "invalidations": invs}
