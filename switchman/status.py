"""The status report: plain data gathered in one read pass."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .models import to_dict
from .policy import stale_minutes
from .repo import RepoPaths
from .store import audit_log
from .store import claims as claimsmod
from .store import leases as leasemod
from .store import tasks as taskmod
from .store import validations as valstore
from .store import worktrees as wtmod
from .store.base import Store


@dataclass(frozen=True)
class StatusReport:
    repo_root: str
    task_counts: dict[str, int]
    tasks: list[dict[str, Any]]
    leases: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    reservations: list[dict[str, Any]]
    worktrees: list[dict[str, Any]]
    validations: list[dict[str, Any]]
    invalidations: list[dict[str, Any]]
    recent_denials: list[dict[str, Any]] = field(default_factory=list)
    # Commits that bypassed the gate and are still on a local branch (SPEC §10): listed until
    # they are gone from every branch, however many clean gate runs came after.
    open_bypasses: list[dict[str, Any]] = field(default_factory=list)


def collect(paths: RepoPaths, store: Store) -> StatusReport:
    window = stale_minutes(store.state_dir)
    tasks = taskmod.list_tasks(store)
    counts: dict[str, int] = {}
    for t in tasks:
        counts[t.status] = counts.get(t.status, 0) + 1
    reservations = leasemod.reservations(store)
    leases = []
    for lease in leasemod.list_leases(store, "active", window):
        d = to_dict(lease)
        d["scopes"] = [
            r.scope_pattern or f"#{r.subsystem_tag}" for r in reservations if r.lease_id == lease.id
        ]
        leases.append(d)
    denials = [
        r.to_dict()
        for r in audit_log.list_rows(store, limit=200)
        if r.status == "denied" or r.event_type == "commit_gate_bypassed"
    ][:10]
    return StatusReport(
        repo_root=paths.root,
        task_counts=counts,
        tasks=[to_dict(t) for t in tasks],
        leases=leases,
        claims=[to_dict(c) for c in claimsmod.active(store)],
        reservations=[to_dict(r) for r in reservations],
        worktrees=[to_dict(w) for w in wtmod.list_all(store)],
        validations=[to_dict(v) for v in valstore.list_validations(store)],
        invalidations=[to_dict(i) for i in valstore.list_invalidations(store, "stale")],
        recent_denials=denials,
        open_bypasses=_open_bypasses(paths, store),
    )


def _open_bypasses(paths: RepoPaths, store: Store) -> list[dict[str, Any]]:
    from .gates.signed import key_of, open_bypasses
    from .repo import git_env

    live = open_bypasses(store, key_of(store), paths.root, git_env(for_other_worktree=True))
    return [{"commit": c, "worktree": wt} for c, wt in live]
