"""Plain frozen records the core returns; the CLI formats them (human or --json).

Records (`switchman.records`), not dataclasses: this module is on the git-hook hot path, where
each `@dataclass` costs import time (see `switchman.records`). `to_dict` and `from_row` take both kinds.
"""

from __future__ import annotations

from typing import Any, TypeVar

from .records import Record, fields

T = TypeVar("T")


def from_row(cls: type[T], row: dict[str, Any]) -> T:
    names = set(fields(cls))
    return cls(**{k: v for k, v in row.items() if k in names})


def to_dict(obj: Any) -> Any:
    if isinstance(obj, Record):
        return {name: to_dict(getattr(obj, name)) for name in type(obj).__record_fields__}
    if hasattr(type(obj), "__dataclass_fields__") and not isinstance(obj, type):
        import dataclasses

        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


class Task(Record):
    id: str
    title: str
    description: str | None
    status: str
    worktree: str | None
    agent: str | None
    priority: int | None
    created_at: str
    updated_at: str
    completed_at: str | None


class Lease(Record):
    id: str
    task_id: str
    worktree: str
    agent: str | None
    status: str
    started_at: str
    heartbeat_at: str
    finished_at: str | None
    failure_reason: str | None
    stale: bool = False


class Claim(Record):
    id: int
    task_id: str
    lease_id: str | None
    file_path: str
    worktree: str
    agent: str | None
    claimed_at: str
    released_at: str | None


class Reservation(Record):
    id: int
    lease_id: str
    task_id: str
    worktree: str
    ownership_level: str  # path_scope | subsystem
    scope_pattern: str | None
    subsystem_tag: str | None
    reserved_at: str
    released_at: str | None


class Worktree(Record):
    name: str
    path: str
    branch: str
    agent: str | None
    status: str
    enforcement_mode: str
    compliance_state: str
    registered_at: str
    last_seen: str
    machine: str | None = None  # /etc/machine-id or SWITCHMAN_MACHINE_ID of the machine it is on


class Validation(Record):
    lease_id: str
    task_id: str
    pipeline_id: str | None
    status: str  # satisfied | pending_validation | blocked
    missing_task_types: list[str]
    touched_at: str | None
    last_evaluated_at: str
    details: str | None

    @classmethod
    def from_db(cls, row: dict[str, Any]) -> Validation:
        import json

        row = dict(row)
        try:
            row["missing_task_types"] = json.loads(row.get("missing_task_types") or "[]")
        except ValueError:
            row["missing_task_types"] = []
        return from_row(cls, row)


class Invalidation(Record):
    id: int
    source_lease_id: str
    source_task_id: str
    source_pipeline_id: str | None
    source_worktree: str | None
    affected_task_id: str
    affected_pipeline_id: str | None
    affected_worktree: str | None
    status: str  # stale | revalidated
    reason_type: str  # subsystem_overlap | scope_overlap
    subsystem_tag: str | None
    source_scope_pattern: str | None
    affected_scope_pattern: str | None
    details: str | None
    created_at: str
    resolved_at: str | None
