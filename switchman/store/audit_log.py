"""Table audit_log (the signed rows) and audit_tree (the Merkle right edge folded in by appends).

Every function takes a Store/Tx or a DB-API connection (tests, bulk tools, and the SQLite
backend's append path, which writes through its raw connection so that the crash harness's
`store.execute` fault point stays on the caller's statements). Appending is the backend's job
(`Tx.audit_many`); the SQLite backend uses `INSERT`, `chain_head` and `fold_leaves` from here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..audit import ROW_COLUMNS, AuditRow, VerifyResult, row_from, verify_rows
from ..merkle import CompactRange, entry_leaf, root_of
from .base import no_such_table, tuples

INSERT = (
    "INSERT INTO audit_log (event_type, status, reason_code, worktree, task_id, lease_id, "
    "file_path, details, created_at, sequence, prev_hash, entry_hash, signature) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def chain_head(db: Any) -> tuple[int, str] | None:
    """(sequence, entry_hash) of the last sequenced row, or None for an empty chain."""
    for seq, ehash in tuples(
        db, "SELECT sequence, entry_hash FROM audit_log WHERE sequence IS NOT NULL ORDER BY sequence DESC LIMIT 1"
    ):
        return seq, ehash
    return None


def has_rows(db: Any) -> bool:
    """used by state.init: a missing key is an error once the log has rows."""
    return any(True for _ in tuples(db, "SELECT 1 FROM audit_log LIMIT 1"))


def iter_rows(db: Any, since_sequence: int | None = None) -> Iterator[AuditRow]:
    sql = f"SELECT {ROW_COLUMNS} FROM audit_log"
    params: tuple[Any, ...] = ()
    if since_sequence is not None:
        sql += " WHERE sequence > ?"
        params = (since_sequence,)
    for values in tuples(db, sql + " ORDER BY id", params):
        yield row_from(values)


def list_rows(
    db: Any,
    *,
    event_type: str | None = None,
    status: str | None = None,
    task_id: str | None = None,
    worktree: str | None = None,
    limit: int | None = 50,
) -> list[AuditRow]:
    """Newest first."""
    clauses, params = [], []
    for column, value in (("event_type", event_type), ("status", status), ("task_id", task_id), ("worktree", worktree)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    sql = f"SELECT {ROW_COLUMNS} FROM audit_log"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [row_from(v) for v in tuples(db, sql, params)]


def count(db: Any) -> int:
    """used by doctor (key check): how many rows the log has."""
    for (n,) in tuples(db, "SELECT count(*) FROM audit_log"):
        return int(n)
    return 0


def recent_writes(db: Any, worktree: str) -> list[dict[str, Any]]:
    """used by doctor (`_noncompliant_files`): the worktree's newest 2,000 observed writes."""
    return db.all(
        "SELECT file_path, status FROM audit_log WHERE worktree = ? AND event_type IN ('write_observed', 'write_quarantined') "
        "AND file_path IS NOT NULL ORDER BY id DESC LIMIT 2000",
        (worktree,),
    )


def last_refusal(db: Any, worktree: str) -> dict[str, Any] | None:
    """used by doctor (`_noncompliant_files`): the newest bypass or refused/warned gate of a worktree."""
    return db.one(
        "SELECT event_type, sequence, details FROM audit_log WHERE worktree = ? AND (event_type = 'commit_gate_bypassed' "
        "OR (event_type IN ('commit_gate', 'merge_gate') AND status IN ('denied', 'warn'))) ORDER BY id DESC LIMIT 1",
        (worktree,),
    )


def forge_allowed(conn: Any, sequence: int) -> int:
    """used by demo (tamper step): rewrite a refused row as allowed without re-signing it, the
    tampering `audit verify` must catch; bypasses every transaction on purpose."""
    return conn.execute(
        "UPDATE audit_log SET status = 'allowed', reason_code = NULL WHERE sequence = ?", (sequence,)
    ).rowcount


def all_row_tuples(db: Any) -> Iterator[tuple[Any, ...]]:
    """Every row as a ROW_COLUMNS tuple in insertion order (verify; used by checkpoints
    `recomputed_leaves` and `prove`)."""
    return tuples(db, f"SELECT {ROW_COLUMNS} FROM audit_log ORDER BY id")


def verify(db: Any, key: str | None, *, max_failures: int = 1000, leaves: list[bytes] | None = None) -> VerifyResult:
    """`audit.verify_rows` over the whole log, streamed."""
    return verify_rows(all_row_tuples(db), key, max_failures=max_failures, leaves=leaves)


# --- the persisted compact range (table audit_tree) --------------------------------------------


def load_tree(db: Any) -> tuple[CompactRange, str | None] | None:
    """The stored compact range and the entry hash of its last leaf, or None when absent."""
    for size, last_hash, stack in tuples(db, "SELECT size, last_hash, stack FROM audit_tree WHERE id = 1"):
        try:
            return CompactRange.from_blob(int(size), bytes(stack or b"")), last_hash
        except ValueError:
            return None
    return None


def stored_leaves(db: Any, below_sequence: int | None = None) -> list[bytes]:
    """Leaf hashes from the stored entry_hash column, in sequence order (for rebuilds only)."""
    sql = "SELECT entry_hash FROM audit_log WHERE sequence IS NOT NULL AND entry_hash IS NOT NULL"
    params: tuple[int, ...] = ()
    if below_sequence is not None:
        sql += " AND sequence < ?"
        params = (below_sequence,)
    return [entry_leaf(h) for (h,) in tuples(db, sql + " ORDER BY sequence", params)]


def save_tree(tx: Any, cr: CompactRange, last_hash: str | None) -> None:
    tx.execute(
        "INSERT INTO audit_tree (id, size, last_hash, stack, root) VALUES (1, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET size = excluded.size, last_hash = excluded.last_hash, "
        "stack = excluded.stack, root = excluded.root",
        (cr.size, last_hash, cr.to_blob(), cr.root().hex()),
    )


def fold_leaves(tx: Any, first_sequence: int, prev_hash: str | None, leaves: Sequence[bytes], last_hash: str) -> None:
    """Add the rows just appended (sequences first_sequence, ...) to the stored tree.

    One load and one save however many rows. The stored range must end exactly at the row before
    the first one (size first_sequence-1, same chain head); otherwise (a database migrated from
    an older version, or rows written by another tool) it is rebuilt from the log first.
    Tampering is not laundered by that: checkpoints already signed (the ref and its reflog) still
    disagree with the rewritten log at verify time.
    """
    if not leaves:
        return
    state = load_tree(tx)
    if state is None:
        cr, last = CompactRange(), None
    else:
        cr, last = state
    if cr.size != first_sequence - 1 or last != prev_hash:
        cr = CompactRange()
        for h in stored_leaves(tx, below_sequence=first_sequence):
            cr.append(h)
    for leaf in leaves:
        cr.append(leaf)
    save_tree(tx, cr, last_hash)


def _signed_head(db: Any) -> tuple[int, str] | None:
    for seq, ehash in tuples(
        db,
        "SELECT sequence, entry_hash FROM audit_log WHERE sequence IS NOT NULL AND entry_hash IS NOT NULL "
        "ORDER BY sequence DESC LIMIT 1",
    ):
        return seq, ehash
    return None


def tree_current(db: Any) -> tuple[int, bytes]:
    """(size, root) of the tree as the database says it is now (for checkpoint writers).

    Falls back to a rebuild from the stored column when the table is missing or stale (a database
    that has not appended since it was migrated, or a read-only open of an old one).
    """
    last = _signed_head(db)
    try:
        state = load_tree(db)
    except Exception as exc:  # only the driver's "no such table" is expected here
        if not no_such_table(exc):
            raise
        state = None
    if state is not None:
        cr, last_hash = state
        if (last is None and cr.size == 0) or (last is not None and cr.size == last[0] and last_hash == last[1]):
            return cr.size, cr.root()
    leaves = stored_leaves(db)
    return len(leaves), root_of(leaves)


def tree_rebuild(tx: Any) -> tuple[int, bytes]:
    """Recompute and store the compact range from the log (bulk loads, repairs); caller's transaction."""
    cr = CompactRange()
    last = _signed_head(tx)
    for h in stored_leaves(tx):
        cr.append(h)
    save_tree(tx, cr, last[1] if last else None)
    return cr.size, cr.root()


# --- single rows, for provenance -------------------------------------------------------------


def rows_around(db: Any, sequence: int) -> list[AuditRow]:
    """used by gates/signed: the rows with sequence-1, sequence and sequence+1 (indexed reads)."""
    return [
        row_from(v)
        for v in tuples(
            db,
            f"SELECT {ROW_COLUMNS} FROM audit_log WHERE sequence BETWEEN ? AND ? ORDER BY sequence",
            (sequence - 1, sequence + 1),
        )
    ]


PROVENANCE_EVENTS = ("commit_recorded", "commit_gate_bypassed")


def provenance_rows(db: Any) -> list[AuditRow]:
    """used by gates/signed and doctor: every commit_recorded / commit_gate_bypassed row, in order."""
    return [
        row_from(v)
        for v in tuples(
            db,
            f"SELECT {ROW_COLUMNS} FROM audit_log WHERE event_type IN (?, ?) ORDER BY id",
            PROVENANCE_EVENTS,
        )
    ]
# --- weakening ---------------------------------------------------------------------------------
# The rows of the operations that can lower another worktree's enforcement; those that did carry
# `"weakens": true` and `by_worktree` in their details (ops.leases.weakening).
WEAKENING_EVENTS = ("policy_updated", "task_completed", "task_failed", "lease_expired", "hooks_uninstalled")


def rows_since(db: Any, created_at: str, event_types: Sequence[str], limit: int = 500) -> list[AuditRow]:
    """used by status and doctor (weakening): rows of `event_types` created at or after
    `created_at`, newest first."""
    marks = ",".join("?" * len(event_types))
    sql = (
        f"SELECT {ROW_COLUMNS} FROM audit_log WHERE created_at >= ? AND event_type IN ({marks}) "
        "ORDER BY id DESC LIMIT ?"
    )
    return [row_from(v) for v in tuples(db, sql, (created_at, *event_types, limit))]


