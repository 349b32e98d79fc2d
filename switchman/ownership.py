"""Who may change a path: the SPEC §4 resolution order, as pure functions over loaded rows.

`OwnershipContext.load` reads exactly what one judgement pass needs (the worktree's lease, the
claims on the judged paths, active scope reservations, the policy globs) in a few indexed
queries; `judge` then answers per path without touching the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from . import reasons
from .globs.matcher import Matcher, cached_matcher
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


# meta key marking a completed task's claim whose leftover change has since been committed.
LEFTOVER_KEY = "leftover_committed:"


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
    # path -> holder of a completed-task claim this worktree still has uncommitted changes under
    leftovers: dict[str, dict[str, Any]] = factory(dict)
    own_scope: Matcher | None = None
    other_scopes: list[tuple[Matcher, dict[str, Any]]] = factory(list)
    generated: Matcher | None = None

    @classmethod
    def load(
        cls,
        db: Any,
        worktree: str,
        paths: Iterable[str],
        *,
        stale_minutes: float,
        generated_globs: Iterable[str] = (),
    ) -> OwnershipContext:
        from .audit import db_text
        from .store.leases import active_for_worktree

        paths = list(dict.fromkeys(paths))
        lease_row = active_for_worktree(db, worktree, stale_minutes)
        lease = LeaseInfo(lease_row.id, lease_row.task_id, lease_row.worktree, lease_row.stale) if lease_row else None
        claims: dict[str, dict[str, Any]] = {}
        leftovers: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(paths, 500):
            marks = ",".join("?" * len(chunk))
            params = [db_text(p) for p in chunk]
            for file_path, lease_id, task_id, wt in _rows(
                db,
                f"SELECT file_path, lease_id, task_id, worktree FROM file_claims "
                f"WHERE released_at IS NULL AND file_path IN ({marks})",
                params,
            ):
                claims[file_path] = {"lease_id": lease_id, "task_id": task_id, "worktree": wt}
            for file_path, lease_id, task_id, wt in _rows(
                db,
                f"SELECT c.file_path, c.lease_id, c.task_id, c.worktree FROM file_claims c "
                f"JOIN tasks t ON t.id = c.task_id WHERE c.worktree = ? AND t.status = 'done' "
                f"AND c.released_at IS NOT NULL AND c.file_path IN ({marks}) "
                f"AND NOT EXISTS (SELECT 1 FROM meta m WHERE m.key = '{LEFTOVER_KEY}' || c.id) ORDER BY c.id",
                [worktree, *params],
            ):
                leftovers[file_path] = {"lease_id": lease_id, "task_id": task_id, "worktree": wt, "completed": True}
        own_scope, other_scopes = _load_scopes(db, lease.id if lease is not None else None)
        generated = list(generated_globs)
        return cls(
            worktree=worktree,
            lease=lease,
            claims=claims,
            leftovers=leftovers,
            own_scope=own_scope,
            other_scopes=other_scopes,
            generated=cached_matcher(generated) if generated else None,
        )

    def judge(self, path: str) -> Decision:
        """SPEC §4, in order. A completed task's claim keeps its uncommitted leftovers governed.

        A leftover is a path this worktree claimed under a task that is now done, not yet
        committed since (`consume_leftovers` retires it when a commit includes it).
        """
        lease = self.lease
        claim = self.claims.get(path)
        if claim is None and path in self.leftovers:
            return Decision(path, "path_claimed", self.leftovers[path])
        if lease is None:
            return Decision(path, "no_active_lease", None)
        if lease.stale:
            return Decision(path, "lease_expired", {"lease_id": lease.id, "task_id": lease.task_id, "worktree": lease.worktree})
        if claim is not None:
            if claim["lease_id"] == lease.id:
                return Decision(path, "path_claimed", claim)
            return Decision(path, "path_claimed_by_other_lease", claim)
        for matcher, other in self.other_scopes:
            pattern = matcher.first_match(path)
            if pattern is not None:
                return Decision(path, "path_scoped_by_other_lease", {**other, "scope": pattern})
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


def fix_for(decision: Decision, worktree: str, lease: LeaseInfo | None) -> str:
    """The command (or action) that resolves a violation, for hook output and JSON."""
    from .cli_quote import quote

    values: dict[str, object] = {"worktree": quote(worktree), "path": quote(decision.file)}
    if lease is not None:
        values.update(lease_id=lease.id, task_id=lease.task_id)
    if decision.holder:
        values.update(holder_task=decision.holder.get("task_id"), holder_worktree=decision.holder.get("worktree"))
    return reasons.fix(decision.reason_code, **values)


def consume_leftovers(tx: Any, worktree: str, paths: Iterable[str], when: str) -> int:
    """post-commit: a completed task's claim governs its leftovers only until they are committed."""
    from .audit import db_text

    count = 0
    for chunk in _chunks(list(dict.fromkeys(paths)), 500):
        marks = ",".join("?" * len(chunk))
        for row in tx.all(
            f"SELECT c.id FROM file_claims c JOIN tasks t ON t.id = c.task_id WHERE c.worktree = ? "
            f"AND t.status = 'done' AND c.released_at IS NOT NULL AND c.file_path IN ({marks})",
            [worktree, *(db_text(p) for p in chunk)],
        ):
            tx.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (f"{LEFTOVER_KEY}{row['id']}", when))
            count += 1
    return count


def _load_scopes(db: Any, own_id: str | None) -> tuple[Matcher | None, list[tuple[Matcher, dict[str, Any]]]]:
    """The active path-scope reservations: this lease's matcher and every other lease's."""
    own: list[str] = []
    others: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for lease_id, task_id, wt, pattern in _rows(
        db,
        "SELECT lease_id, task_id, worktree, scope_pattern FROM scope_reservations "
        "WHERE released_at IS NULL AND ownership_level = 'path_scope' AND scope_pattern IS NOT NULL ORDER BY id",
    ):
        if lease_id == own_id and own_id is not None:
            own.append(pattern)
            continue
        entry = others.get(lease_id)
        if entry is None:
            entry = others[lease_id] = ([], {"lease_id": lease_id, "task_id": task_id, "worktree": wt})
        entry[0].append(pattern)
    return (
        cached_matcher(own) if own else None,
        [(cached_matcher(pats), holder) for pats, holder in others.values()],
    )


def _rows(db: Any, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    """Rows as tuples (text stored as BLOB decoded as `Store.all` decodes it), without a dict
    per row: a scope check reads every active reservation, thousands on a busy repository."""
    conn = getattr(db, "conn", None)
    if conn is None:  # anything else with the Store/Tx reading interface
        return [tuple(row.values()) for row in db.all(sql, params)]
    rows = conn.execute(sql, params).fetchall()
    for i, values in enumerate(rows):
        if bytes in map(type, values):
            rows[i] = tuple(os.fsdecode(v) if isinstance(v, bytes) else v for v in values)
    return rows


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
