"""Table file_claims: exclusive claims (one active per normalised path), and their leftovers.

A leftover is a path a worktree claimed under a task that is now done and that it has not
committed since; a meta row `LEFTOVER_KEY<claim id>` retires it once a commit includes it.
`claim_leftovers` holds the blob ids the worktree had under the claim when the task completed:
the leftover covers the path only for that content (SPEC §10).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..models import Claim, from_row
from .base import chunks, db_text, decoded, tuples

if TYPE_CHECKING:  # pragma: no cover
    from .base import Reader, Tx

# meta key marking a completed task's claim whose leftover change has since been committed.
LEFTOVER_KEY = "leftover_committed:"


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


def active_rows(db: Reader) -> list[dict[str, Any]]:
    """used by doctor (claims check): active claims (task_id, lease_id, file_path, worktree) by id."""
    return db.all("SELECT task_id, lease_id, file_path, worktree FROM file_claims WHERE released_at IS NULL ORDER BY id")


def holder_of(db: Reader, path: str) -> dict[str, Any] | None:
    """The active claim on `path` (a row), or None."""
    return db.one("SELECT * FROM file_claims WHERE file_path = ? AND released_at IS NULL", (db_text(path),))


def insert(tx: Tx, task_id: str, lease_id: str, path: str, worktree: str, agent: str | None, now: str) -> None:
    tx.execute(
        "INSERT INTO file_claims (task_id, lease_id, file_path, worktree, agent, claimed_at) VALUES (?,?,?,?,?,?)",
        (task_id, lease_id, db_text(path), worktree, agent, now),
    )


def _release(tx: Tx, where: str, params: tuple[Any, ...], now: str) -> list[Claim]:
    rows = [from_row(Claim, r) for r in tx.all(f"SELECT * FROM file_claims WHERE released_at IS NULL AND {where}", params)]
    if rows:
        tx.execute(f"UPDATE file_claims SET released_at = ? WHERE released_at IS NULL AND {where}", (now, *params))
    return rows


def release_for_task(tx: Tx, task_id: str, now: str) -> list[Claim]:
    """Release the task's active claims; returns them (the caller audits each)."""
    return _release(tx, "task_id = ?", (task_id,), now)


def release_for_lease(tx: Tx, lease_id: str, now: str) -> list[Claim]:
    return _release(tx, "lease_id = ?", (lease_id,), now)


# --- what an ownership judgement reads ---------------------------------------------------------


def held_on(db: Reader, paths: list[str]) -> dict[str, dict[str, Any]]:
    """path -> holder ({lease_id, task_id, worktree}) of the active claim on each of `paths`."""
    claims: dict[str, dict[str, Any]] = {}
    for chunk in chunks(paths):
        marks = ",".join("?" * len(chunk))
        for file_path, lease_id, task_id, wt in _decoded(
            db,
            f"SELECT file_path, lease_id, task_id, worktree FROM file_claims "
            f"WHERE released_at IS NULL AND file_path IN ({marks})",
            [db_text(p) for p in chunk],
        ):
            claims[file_path] = {"lease_id": lease_id, "task_id": task_id, "worktree": wt}
    return claims


def leftovers_on(
    db: Reader, worktree: str, paths: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, frozenset[str]]]:
    """(path -> holder of a done task's claim `worktree` has not committed since,
    path -> the blob ids recorded under those claims when their tasks completed)."""
    leftovers: dict[str, dict[str, Any]] = {}
    blobs: dict[str, set[str]] = {}
    for chunk in chunks(paths):
        marks = ",".join("?" * len(chunk))
        for file_path, lease_id, task_id, wt, blob in _decoded(
            db,
            f"SELECT c.file_path, c.lease_id, c.task_id, c.worktree, b.blob FROM file_claims c "
            f"JOIN tasks t ON t.id = c.task_id LEFT JOIN claim_leftovers b ON b.claim_id = c.id "
            f"WHERE c.worktree = ? AND t.status = 'done' "
            f"AND c.released_at IS NOT NULL AND c.file_path IN ({marks}) "
            f"AND NOT EXISTS (SELECT 1 FROM meta m WHERE m.key = '{LEFTOVER_KEY}' || c.id) ORDER BY c.id",
            [worktree, *(db_text(p) for p in chunk)],
        ):
            leftovers[file_path] = {"lease_id": lease_id, "task_id": task_id, "worktree": wt, "completed": True}
            if blob is not None:
                blobs.setdefault(file_path, set()).add(blob)
    return leftovers, {p: frozenset(b) for p, b in blobs.items()}


def record_leftover_blobs(tx: Tx, claims: Iterable[tuple[int, Iterable[str]]], now: str) -> int:
    """task done: the content (blob ids) each released claim's path had, uncommitted, right then."""
    count = 0
    for claim_id, blobs in claims:
        for blob in dict.fromkeys(blobs):
            tx.execute(
                "INSERT OR IGNORE INTO claim_leftovers (claim_id, blob, recorded_at) VALUES (?, ?, ?)",
                (claim_id, blob, now),
            )
            count += 1
    return count


def consume_leftovers(tx: Tx, worktree: str, paths: Iterable[str], when: str) -> int:
    """post-commit: a completed task's claim governs its leftovers only until they are committed."""
    count = 0
    for chunk in chunks(list(dict.fromkeys(paths))):
        marks = ",".join("?" * len(chunk))
        for row in tx.all(
            f"SELECT c.id FROM file_claims c JOIN tasks t ON t.id = c.task_id WHERE c.worktree = ? "
            f"AND t.status = 'done' AND c.released_at IS NOT NULL AND c.file_path IN ({marks})",
            [worktree, *(db_text(p) for p in chunk)],
        ):
            tx.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (f"{LEFTOVER_KEY}{row['id']}", when))
            count += 1
    return count


def _decoded(db: Reader, sql: str, params: Any) -> list[tuple[Any, ...]]:
    return [decoded(t) for t in tuples(db, sql, params)]
