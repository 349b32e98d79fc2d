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

from ..globs.matcher import cached_matcher
from ..globs.nfa import glob_sets_overlap
from ..jsonutil import dumps
from ..models import Lease, Validation
from ..specs import loads_stored
from ..store import leases as leasestore
from ..store import tasks as taskstore
from ..store import validations as valstore
from ..store.base import Reader, Tx
from ..timeutil import now_iso

_AUDIT_STATUS = {"satisfied": "allowed", "pending_validation": "warn", "blocked": "denied"}


def completed_types(db: Reader, pipeline_id: str | None) -> set[str]:
    if pipeline_id is None:
        return set()
    done: set[str] = set()
    for spec in taskstore.done_specs(db):
        if spec.get("pipeline_id") == pipeline_id and spec.get("task_type"):
            done.add(spec["task_type"])
    return done


def evaluate_lease(tx: Tx, lease_id: str) -> Validation | None:
    """Recompute one lease's boundary validation; audit only when its status changes."""
    lease = leasestore.get(tx, lease_id)
    if lease is None:
        return None
    spec = taskstore.get_spec(tx, lease.task_id) or {}
    rules = spec.get("validation_rules") or {}
    required = list(rules.get("required_completed_task_types") or [])
    enforcement = rules.get("enforcement", "none")
    previous = valstore.state_row(tx, lease_id)
    if enforcement == "none" or not required:
        if previous is None:
            return None
        status, missing = "satisfied", []
    else:
        pipeline = spec.get("pipeline_id")
        missing = [t for t in required if t not in completed_types(tx, pipeline)]
        status = "satisfied" if not missing else ("blocked" if enforcement == "blocked" else "pending_validation")
    details = dumps({"enforcement": enforcement, "required": required, "rationale": rules.get("rationale") or []})
    valstore.upsert_state(tx, lease_id, lease.task_id, spec.get("pipeline_id"), status, dumps(missing), now_iso(), details)
    if previous is None or previous["status"] != status or previous["missing_task_types"] != dumps(missing):
        tx.audit(
            "boundary_validation_state",
            _AUDIT_STATUS[status],
            reason_code=status,
            worktree=lease.worktree,
            task_id=lease.task_id,
            lease_id=lease_id,
            details={"status": status, "missing_task_types": missing, "pipeline_id": spec.get("pipeline_id")},
        )
    row = valstore.state_row(tx, lease_id)
    return Validation.from_db(row) if row else None


def reevaluate_pipeline(tx: Tx, task_id: str) -> None:
    """A task completed: every lease of its pipeline may now be satisfied."""
    spec = taskstore.get_spec(tx, task_id) or {}
    pipeline = spec.get("pipeline_id")
    if pipeline is None:
        return
    lease_ids = valstore.leases_of_pipeline(tx, pipeline)
    for row in leasestore.active_with_specs(tx):
        if (loads_stored(row["spec_json"]) or {}).get("pipeline_id") == pipeline:
            lease_ids.add(row["id"])
    for lease_id in sorted(lease_ids):
        evaluate_lease(tx, lease_id)


def _pipelines_differ(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a != b


def _insert_invalidations(tx: Tx, lease: Lease, source_pipeline: str | None, rows: list[dict[str, Any]]) -> int:
    added = 0
    now = now_iso()
    for r in rows:
        if valstore.stale_exists(tx, lease.task_id, r):
            continue
        valstore.insert_invalidation(tx, lease.id, lease.task_id, source_pipeline, lease.worktree, r, now)
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
    pipeline = spec.get("pipeline_id")
    tags = set(spec.get("subsystem_tags") or [])
    paths = list(spec.get("allowed_paths") or [])
    found: list[dict[str, Any]] = []
    for other in taskstore.active_specs_except(tx, lease.task_id):
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
    spec = taskstore.get_spec(tx, lease.task_id) or {}
    pipeline = spec.get("pipeline_id")
    found: list[dict[str, Any]] = []
    for other in taskstore.active_specs_except(tx, lease.task_id):
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
    count = valstore.resolve_for_task(tx, task_id, now_iso())
    if count:
        tx.audit(
            "dependency_invalidations_updated",
            "info",
            reason_code="revalidated",
            task_id=task_id,
            details={"revalidated": count},
        )
    return count
