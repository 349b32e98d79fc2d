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
    # Operations that lowered another worktree's enforcement within the stale window.
    recent_weakening: list[dict[str, Any]] = field(default_factory=list)
    weakening_window: float = leasemod.DEFAULT_STALE_MINUTES


def recent_weakening(db: Any, window: float, now: float | None = None) -> list[dict[str, Any]]:
    """The signed rows, newest first, of operations in the last `window` minutes that lowered
    enforcement for a worktree other than the caller's own (`details.weakens`)."""
    import json

    from .timeutil import now as clock_now
    from .timeutil import now_iso

    cutoff = now_iso((clock_now() if now is None else now) - window * 60)
    found = []
    for r in audit_log.rows_since(db, cutoff, audit_log.WEAKENING_EVENTS):
        try:
            details = json.loads(r.details) if r.details else {}
        except ValueError:
            continue
        if not isinstance(details, dict) or details.get("weakens") is not True:
            continue
        found.append(
            {
                "sequence": r.sequence,
                "created_at": r.created_at,
                "event_type": r.event_type,
                "worktree": r.worktree,
                "task_id": r.task_id,
                "lease_id": r.lease_id,
                "by_worktree": details.get("by_worktree"),
                "what": _weakening_what(r.event_type, details),
            }
        )
    return found


def _weakening_what(event_type: str, d: dict[str, Any]) -> str:
    if event_type == "policy_updated" and "enforcement_mode" in d:
        return f"mode {d.get('previous')} → {d.get('enforcement_mode')}"
    if event_type == "policy_updated" and "default_mode" in d:
        lowered = d.get("lowered") or []
        return f"default mode {d.get('previous')} → {d.get('default_mode')}" + (
            f" (lowered {', '.join(map(str, lowered))})" if lowered else ""
        )
    if event_type == "policy_updated":
        return "generated-path exceptions added: " + ", ".join(map(str, d.get("added") or []))
    if event_type == "hooks_uninstalled":
        return "hooks uninstalled: " + ", ".join(map(str, d.get("hooks") or []))
    return {"task_completed": "lease ended (task done)", "task_failed": "lease failed", "lease_expired": "lease reaped"}.get(
        event_type, event_type
    )


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
        recent_weakening=recent_weakening(store, window),
        weakening_window=window,
    )


def _open_bypasses(paths: RepoPaths, store: Store) -> list[dict[str, Any]]:
    from .gates.signed import key_of, open_bypasses
    from .repo import git_env

    live = open_bypasses(store, key_of(store), paths.root, git_env(for_other_worktree=True))
    return [{"commit": c, "worktree": wt} for c, wt in live]
