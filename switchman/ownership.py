"""Who may change a path: the SPEC §4 resolution order, as pure functions over loaded rows.

`ops.claims.load_context` reads exactly what one judgement pass needs (the worktree's lease, the
claims on the judged paths, active scope reservations, the policy globs) in a few indexed
queries; `judge` then answers per path without touching the database.
"""

from __future__ import annotations

from typing import Any

from . import reasons
from .globs.matcher import FocusedMatcher, Matcher
from .records import Record, factory

ALLOWED = reasons.ALLOWED
# What `judge` can deny a path with (the other refusals in `reasons` come from gates and claims).
VIOLATIONS = frozenset(
    {
        reasons.NO_ACTIVE_LEASE,
        reasons.LEASE_EXPIRED,
        reasons.PATH_CLAIMED_BY_OTHER_LEASE,
        reasons.PATH_SCOPED_BY_OTHER_LEASE,
        reasons.PATH_NOT_CLAIMED,
    }
)



class Decision(Record):
    file: str
    reason_code: str
    holder: dict[str, Any] | None = None

    @property
    def allowed(self) -> bool:
        return self.reason_code in ALLOWED


class LeaseInfo(Record):
    id: str
    task_id: str
    worktree: str
    stale: bool


class OwnershipContext(Record, frozen=False):
    worktree: str
    lease: LeaseInfo | None
    # path -> holder of the active claim on it ({lease_id, task_id, worktree})
    claims: dict[str, dict[str, Any]] = factory(dict)
    # path -> holder of a completed-task claim this worktree has not committed under since
    leftovers: dict[str, dict[str, Any]] = factory(dict)
    # path -> the blob ids it had, uncommitted, when that task completed (what the leftover covers)
    leftover_blobs: dict[str, frozenset[str]] = factory(dict)
    own_scope: Matcher | FocusedMatcher | None = None
    other_scopes: list[tuple[Matcher | FocusedMatcher, dict[str, Any]]] = factory(list)
    generated: Matcher | None = None

    def judge(self, path: str, blob: str | None = None) -> Decision:
        """SPEC §4, in order; `blob` is the content being judged (a blob id, or "deleted").

        A leftover is a path this worktree claimed under a task that is now done, not yet
        committed since (`consume_leftovers` retires it when a commit includes it). It never
        outranks another active lease's claim or scope (SPEC §10), and it covers the path only
        for content the worktree had when the task completed: `blob` must be one recorded then.
        Without a `blob` a leftover covers nothing (the caller cannot say what it judges).
        """
        lease = self.lease
        claim = self.claims.get(path)
        leftover = self.leftovers.get(path)
        if leftover is not None:
            if claim is not None and (lease is None or claim["lease_id"] != lease.id):
                return Decision(path, "path_claimed_by_other_lease", claim)
            if claim is None:
                scoped = self._scoped_by_other(path)
                if scoped is not None:
                    return scoped
                if blob is not None and blob in self.leftover_blobs.get(path, ()):
                    return Decision(path, "path_claimed", leftover)
        if lease is None:
            return Decision(path, "no_active_lease", None)
        if lease.stale:
            return Decision(path, "lease_expired", {"lease_id": lease.id, "task_id": lease.task_id, "worktree": lease.worktree})
        if claim is not None:
            if claim["lease_id"] == lease.id:
                return Decision(path, "path_claimed", claim)
            return Decision(path, "path_claimed_by_other_lease", claim)
        scoped = self._scoped_by_other(path)
        if scoped is not None:
            return scoped
        if self.own_scope is not None:
            pattern = self.own_scope.first_match(path)
            if pattern is not None:
                holder = {"lease_id": lease.id, "task_id": lease.task_id, "worktree": lease.worktree}
                return Decision(path, "path_within_task_scope", {**holder, "scope": pattern})
        if self.generated is not None:
            pattern = self.generated.first_match(path)
            if pattern is not None:
                return Decision(path, "policy_exception_allowed", {"policy": pattern})
        return Decision(path, "path_not_claimed", None)

    def _scoped_by_other(self, path: str) -> Decision | None:
        for matcher, other in self.other_scopes:
            pattern = matcher.first_match(path)
            if pattern is not None:
                return Decision(path, "path_scoped_by_other_lease", {**other, "scope": pattern})
        return None


def blobs_of(*changes: Any) -> dict[str, str]:
    """path -> fingerprint over lists of changes (objects with .path and .fingerprint); later
    lists win, so `blobs_of(worktree, staged)` judges the staged blob of a staged path."""
    return {c.path: c.fingerprint for group in changes for c in group}


def fix_for(decision: Decision, worktree: str, lease: LeaseInfo | None) -> str:
    """The command (or action) that resolves a violation, for hook output and JSON."""
    from .cli_quote import quote

    values: dict[str, object] = {"worktree": quote(worktree), "path": quote(decision.file)}
    if lease is not None:
        values.update(lease_id=lease.id, task_id=lease.task_id)
    if decision.holder:
        values.update(holder_task=decision.holder.get("task_id"), holder_worktree=decision.holder.get("worktree"))
    return reasons.fix(decision.reason_code, **values)


def judge_integrator(ctx: OwnershipContext, path: str, merged: frozenset[str] = frozenset()) -> Decision:
    """SPEC §13, an integrator worktree (the one a person merges in): no lease is needed.

    Refused only for a path another worktree's active lease holds (claim, then scope), unless
    this commit merges (or concludes the merge of) that worktree's branch: `merged` names those
    worktrees. This worktree's own lease, if it has one, still counts as its own.
    """
    claim = ctx.claims.get(path)
    if claim is not None:
        if ctx.lease is not None and claim["lease_id"] == ctx.lease.id:
            return Decision(path, reasons.PATH_CLAIMED, claim)
        if claim["worktree"] != ctx.worktree and claim["worktree"] not in merged:
            return Decision(path, reasons.PATH_CLAIMED_BY_OTHER_LEASE, claim)
    for matcher, other in ctx.other_scopes:
        if other["worktree"] == ctx.worktree or other["worktree"] in merged:
            continue
        pattern = matcher.first_match(path)
        if pattern is not None:
            return Decision(path, reasons.PATH_SCOPED_BY_OTHER_LEASE, {**other, "scope": pattern})
    return Decision(path, reasons.INTEGRATOR_ALLOWED, claim)
