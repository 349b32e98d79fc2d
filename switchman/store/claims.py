"""Exclusive file claims: one active claim per normalised path, repo-wide; all-or-nothing."""

from __future__ import annotations

from typing import Any

from ..errors import Conflict, Denied
from ..globs.matcher import Matcher
from ..models import Claim, from_row
from ..timeutil import now_iso
from .connection import Store, Tx

Reader = Store | Tx


def active(db: Reader, *, worktree: str | None = None, task_id: str | None = None) -> list[Claim]:
    sql = "SELECT * FROM file_claims WHERE released_at IS NULL"
    params: list[Any] = []
    if worktree:
        sql += " AND worktree = ?"
        params.append(worktree)
    if task_id:
        sql += " AND task_id = ?"
        params.append(task_id)
    return [from_row(Claim, r) for r in db.all(sql + " ORDER BY file_path", params)]


def claim(store: Store, task_id: str, worktree_ref: str, paths: list[str], agent: str | None = None) -> list[Claim]:
    """Claim every path for the task's active lease in the worktree, or none of them.

    A pending task without a lease is leased to the worktree first (as switchman-dev did).
    Paths inside another active lease's reserved scope are refused like claimed ones.
    """
    from ..audit import db_text
    from . import leases, tasks
    from . import worktrees as wtmod

    def fn(tx: Tx) -> list[Claim]:
        wt = wtmod.require(tx, worktree_ref)
        task = tasks.require(tx, task_id)
        lease = leases.active_for_task(tx, task_id)
        if lease is None:
            if task.status != "pending":
                raise Denied(
                    f"task {task_id} is {task.status} and has no active lease",
                    f"`switchman-hook task retry {task_id}` then lease it",
                    code="no_active_lease",
                )
            lease = leases._start(tx, task_id, wt.name, agent)
        elif lease.worktree != wt.name:
            raise Conflict(
                f"task {task_id} is leased to worktree {lease.worktree}, not {wt.name}",
                f"claim from {lease.worktree}, or end lease {lease.id} first",
                code="lease_in_other_worktree",
            )
        conflicts: list[dict[str, Any]] = []
        fresh: list[str] = []
        others = [r for r in leases.reservations(tx) if r.lease_id != lease.id and r.ownership_level == "path_scope"]
        scope_matchers = {}
        for r in others:
            scope_matchers.setdefault(r.lease_id, ([], r))[0].append(r.scope_pattern)
        compiled = [(Matcher(pats), r) for pats, r in scope_matchers.values()]
        for path in dict.fromkeys(paths):
            row = tx.one("SELECT * FROM file_claims WHERE file_path = ? AND released_at IS NULL", (db_text(path),))
            if row is not None:
                if row["lease_id"] == lease.id:
                    continue
                conflicts.append(
                    {"file": path, "holder": {"task_id": row["task_id"], "lease_id": row["lease_id"], "worktree": row["worktree"]}}
                )
                continue
            for matcher, r in compiled:
                pattern = matcher.first_match(path)
                if pattern is not None:
                    conflicts.append(
                        {
                            "file": path,
                            "holder": {"task_id": r.task_id, "lease_id": r.lease_id, "worktree": r.worktree, "scope": pattern},
                        }
                    )
                    break
            else:
                fresh.append(path)
        if conflicts:
            listing = ", ".join(
                f"{c['file']} → {c['holder']['task_id']} ({c['holder']['lease_id']} in {c['holder']['worktree']})"
                for c in conflicts
            )
            raise Conflict(
                f"claim refused: {listing}",
                "coordinate with the holder or wait for its lease to end; nothing was claimed",
                # SPEC §4's reason codes: a held claim beats a reserved scope.
                code="path_claimed_by_other_lease"
                if any("scope" not in c["holder"] for c in conflicts)
                else "path_scoped_by_other_lease",
                data={"conflicts": conflicts},
            )
        now = now_iso()
        for path in fresh:
            tx.execute(
                "INSERT INTO file_claims (task_id, lease_id, file_path, worktree, agent, claimed_at) VALUES (?,?,?,?,?,?)",
                (task_id, lease.id, db_text(path), wt.name, agent, now),
            )
            tx.audit("file_claimed", "allowed", worktree=wt.name, task_id=task_id, lease_id=lease.id, file_path=path)
        return [c for c in active(tx, task_id=task_id) if c.file_path in set(paths)]

    return store.write(fn)


def _release(tx: Tx, where: str, params: tuple[Any, ...]) -> list[Claim]:
    rows = [from_row(Claim, r) for r in tx.all(f"SELECT * FROM file_claims WHERE released_at IS NULL AND {where}", params)]
    if rows:
        tx.execute(f"UPDATE file_claims SET released_at = ? WHERE released_at IS NULL AND {where}", (now_iso(), *params))
    for c in rows:
        tx.audit(
            "claim_released", "info", worktree=c.worktree, task_id=c.task_id, lease_id=c.lease_id, file_path=c.file_path
        )
    return rows


def release_for_task(tx: Tx, task_id: str) -> list[Claim]:
    return _release(tx, "task_id = ?", (task_id,))


def release_for_lease(tx: Tx, lease_id: str) -> list[Claim]:
    return _release(tx, "lease_id = ?", (lease_id,))


def release(store: Store, task_id: str) -> list[Claim]:
    from . import tasks

    def fn(tx: Tx) -> list[Claim]:
        tasks.require(tx, task_id)
        return release_for_task(tx, task_id)

    return store.write(fn)
