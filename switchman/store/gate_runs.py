"""Tables gate_runs and commit_provenance: indexes of signed audit rows, never the authority.

gate_runs points at the `commit_gate` / `merge_gate` row that judged a (parent, tree, merge
parents); commit_provenance points at the `commit_recorded` / `commit_gate_bypassed` row of a
commit. Both can be edited without the audit key, so every reader checks the signed row they
point at (gates/signed.py); a row the signed log does not back is tampering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import chunks, tuples

if TYPE_CHECKING:  # pragma: no cover
    from .base import Reader, Tx


def insert_run(
    tx: Tx,
    worktree: str,
    gate: str,
    tree_id: str,
    ok: bool,
    lease_id: str | None,
    audit_sequence: int | None,
    now: str,
    parent: str | None = None,
    merge_parents: list[str] | None = None,
) -> None:
    """used by gates commit and merge gates: the change a gate judged, and its verdict."""
    tx.execute(
        "INSERT INTO gate_runs (worktree, gate, tree_id, ok, lease_id, audit_sequence, created_at, parent, merge_parents) "
        "VALUES (?,?,?,?,?,?,?,?,?)",
        (worktree, gate, tree_id, int(ok), lease_id, audit_sequence, now, parent, " ".join(merge_parents or [])),
    )


def last_passed(db: Reader, worktree: str, gate: str, tree_id: str | None) -> dict[str, Any] | None:
    """The newest passing run of `gate` on this tree (index only: check its signed row)."""
    return db.one(
        "SELECT * FROM gate_runs WHERE worktree = ? AND gate = ? AND tree_id = ? AND ok = 1 ORDER BY id DESC LIMIT 1",
        (worktree, gate, tree_id),
    )


def passed_runs(db: Reader, worktree: str, gate: str, tree_id: str, limit: int = 8) -> list[dict[str, Any]]:
    """used by gates post-commit: the newest passing runs of `gate` on this tree, newest first."""
    return db.all(
        "SELECT * FROM gate_runs WHERE worktree = ? AND gate = ? AND tree_id = ? AND ok = 1 ORDER BY id DESC LIMIT ?",
        (worktree, gate, tree_id, limit),
    )


def provenance(db: Reader, commit: str) -> dict[str, Any] | None:
    """used by gates push/merge/CI gates and post-commit: the provenance row of a commit."""
    return db.one("SELECT * FROM commit_provenance WHERE commit_id = ?", (commit,))


def provenance_many(db: Reader, commits: list[str]) -> dict[str, dict[str, Any]]:
    """used by gates check_commits: commit id -> provenance row, for the commits that have one."""
    out: dict[str, dict[str, Any]] = {}
    for part in chunks(list(dict.fromkeys(commits))):
        marks = ",".join("?" * len(part))
        for row in db.all(f"SELECT * FROM commit_provenance WHERE commit_id IN ({marks})", part):
            out[row["commit_id"]] = row
    return out


def all_provenance(db: Reader) -> list[dict[str, Any]]:
    """used by doctor (provenance check): every provenance row."""
    return db.all("SELECT commit_id, status, worktree, audit_sequence FROM commit_provenance ORDER BY audit_sequence")


def bypassed(db: Reader, worktree: str | None = None) -> list[dict[str, Any]]:
    """used by status/doctor/compliance: commits recorded as bypassed (of one worktree, or all)."""
    if worktree is None:
        return db.all("SELECT * FROM commit_provenance WHERE status = 'bypassed' ORDER BY audit_sequence")
    return db.all(
        "SELECT * FROM commit_provenance WHERE worktree = ? AND status = 'bypassed' ORDER BY audit_sequence", (worktree,)
    )


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


def recent_commits(db: Any, limit: int) -> list[str]:
    """The newest recorded commit ids (doctor: are receipts still being written?)."""
    rows = tuples(db, "SELECT commit_id FROM commit_provenance ORDER BY created_at DESC LIMIT ?", (limit,))
    return [r[0] for r in rows if r[0]]
