"""Plain frozen dataclasses the core returns; the CLI formats them (human or --json)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def from_row(cls: type[T], row: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in row.items() if k in names})


def to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


@dataclass(frozen=True)
class Task:
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


@dataclass(frozen=True)
class Lease:
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


@dataclass(frozen=True)
class Claim:
    id: int
    task_id: str
    lease_id: str | None
    file_path: str
    worktree: str
    agent: str | None
    claimed_at: str
    released_at: str | None


@dataclass(frozen=True)
class Reservation:
    id: int
    lease_id: str
    task_id: str
    worktree: str
    ownership_level: str  # path_scope | subsystem
    scope_pattern: str | None
    subsystem_tag: str | None
    reserved_at: str
    released_at: str | None


@dataclass(frozen=True)
class Worktree:
    name: str
    path: str
    branch: str
    agent: str | None
    status: str
    enforcement_mode: str
    compliance_state: str
    registered_at: str
    last_seen: str


@dataclass(frozen=True)
class Validation:
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
        row = dict(row)
        try:
            row["missing_task_types"] = json.loads(row.get("missing_task_types") or "[]")
        except ValueError:
            row["missing_task_types"] = []
        return from_row(cls, row)


@dataclass(frozen=True)
class Invalidation:
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
