"""Tables gate_runs (a judged tree, so post-commit tells a gated commit from a bypass) and
commit_provenance (commit id -> the audit row that recorded it, for push, merge and CI gates)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .base import Reader, Tx


def insert_run(
    tx: Tx, worktree: str, gate: str, tree_id: str, ok: bool, lease_id: str | None, audit_sequence: int | None, now: str
) -> None:
    """used by gates commit and merge gates: the tree a gate judged, and its verdict."""
    tx.execute(
        "INSERT INTO gate_runs (worktree, gate, tree_id, ok, lease_id, audit_sequence, created_at) VALUES (?,?,?,?,?,?,?)",
        (worktree, gate, tree_id, int(ok), lease_id, audit_sequence, now),
    )


def last_passed(db: Reader, worktree: str, gate: str, tree_id: str | None) -> dict[str, Any] | None:
    """used by gates post-commit recording: the newest passing run of `gate` on this tree."""
    return db.one(
        "SELECT * FROM gate_runs WHERE worktree = ? AND gate = ? AND tree_id = ? AND ok = 1 ORDER BY id DESC LIMIT 1",
        (worktree, gate, tree_id),
    )


def provenance(db: Reader, commit: str) -> dict[str, Any] | None:
    """used by gates push/merge/CI gates and post-commit: the provenance row of a commit."""
    return db.one("SELECT * FROM commit_provenance WHERE commit_id = ?", (commit,))


def record_provenance(
    tx: Tx,
    commit: str,
    tree: str | None,
    worktree: str,
    lease_id: str | None,
    task_id: str | None,
    status: str,
    operation: str,
    audit_sequence: int | None,
    now: str,
) -> None:
    """used by gates post-commit recording (`_record`): commit id -> recorded / bypassed row."""
    tx.execute(
        "INSERT OR REPLACE INTO commit_provenance (commit_id, tree_id, worktree, lease_id, task_id, status, operation, "
        "audit_sequence, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        (commit, tree, worktree, lease_id, task_id, status, operation, audit_sequence, now),
    )
