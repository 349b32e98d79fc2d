"""Provenance read from the signed audit rows (SPEC §10), never from an index table alone.

`gate_runs` and `commit_provenance` can be edited by anyone who can open the database; the audit
rows they point at cannot be forged without the key. Each reader here loads the signed row an
index row points at (one indexed read of the row and its two neighbours), recomputes its entry
hash from the canonical text, checks the HMAC and the chain links to its neighbours, and then its
contents. post-commit stays cheap: no full-log walk; the push and CI gates verify the whole trail
in the same run and read every provenance row once (`signed_verdicts`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from ..audit import AuditRow, canonical_of
from ..store import audit_log
from ..store import gate_runs as runstore

OK_STATUSES = ("allowed", "warn")


def key_of(db: Any) -> str | None:
    """The HMAC key the store signs with (a Store or its Tx); None when the backend keeps it."""
    store = getattr(db, "store", db)
    key = getattr(store, "key", None)
    if key is None:
        return None
    try:
        return str(key())
    except Exception:  # a missing key is reported by the trail check, not here
        return None


def row_intact(row: AuditRow, key: str | None) -> bool:
    """The row's entry hash recomputes from its canonical text and its HMAC matches the key."""
    if row.entry_hash is None or row.signature is None or row.sequence is None:
        return False
    text = canonical_of(
        row.sequence, row.prev_hash, row.event_type, row.status, row.reason_code, row.worktree,
        row.task_id, row.lease_id, row.file_path, row.details, row.created_at,
    )
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != row.entry_hash:
        return False
    if key is None:
        return True
    expect = hmac.new(key.encode("utf-8"), row.entry_hash.encode("utf-8"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expect, row.signature)


def signed_row(db: Any, key: str | None, sequence: int | None) -> AuditRow | None:
    """The audit row with `sequence` if it is intact and chained to its neighbours, else None."""
    if sequence is None:
        return None
    rows = {r.sequence: r for r in audit_log.rows_around(db, int(sequence))}
    row = rows.get(sequence)
    if row is None or not row_intact(row, key):
        return None
    before = rows.get(sequence - 1)
    if sequence == 1:
        if row.prev_hash is not None:
            return None
    elif before is None or before.entry_hash != row.prev_hash or not row_intact(before, key):
        return None
    after = rows.get(sequence + 1)
    if after is not None and after.prev_hash != row.entry_hash:
        return None
    return row


def details_of(row: AuditRow) -> dict[str, Any]:
    try:
        value = json.loads(row.details) if row.details else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def gate_run_for(
    db: Any,
    key: str | None,
    *,
    worktree: str,
    gate: str,
    tree: str,
    parent: str | None,
    merge_parents: list[str] | None,
) -> tuple[int | None, list[dict[str, Any]]]:
    """(sequence of the signed passing gate row that judged exactly this change, forged runs).

    A candidate is a passing `gate_runs` row for the tree; it counts only when its signed row is
    intact and says: this gate's event, status allowed|warn, this worktree, this tree, this
    parent and (when `merge_parents` is given) these other parents. A row the signed log does
    not back is tampering and is returned in the second list.
    """
    event = f"{gate}_gate"
    forged: list[dict[str, Any]] = []
    for run in runstore.passed_runs(db, worktree, gate, tree):
        row = signed_row(db, key, run["audit_sequence"])
        d = details_of(row) if row is not None else {}
        backed = (
            row is not None
            and row.event_type == event
            and row.status in OK_STATUSES
            and row.worktree == worktree
            and d.get("tree") == tree
        )
        if not backed:
            forged.append({"gate_run": run["id"], "audit_sequence": run["audit_sequence"]})
            continue
        if "parent" not in d or d.get("parent") != parent:
            continue
        if merge_parents is not None and sorted(d.get("merge_parents") or []) != sorted(merge_parents):
            continue
        assert row is not None
        return row.sequence, forged
    return None, forged


def signed_record(db: Any, key: str | None, commit: str) -> tuple[str | None, dict[str, Any], bool]:
    """(verdict "recorded"|"bypassed"|None, signed details, table tampered) of one commit.

    Reads the commit_provenance row and checks the signed row it points at: intact, chained,
    a commit_recorded/commit_gate_bypassed row naming this commit, agreeing with the table.
    """
    p = runstore.provenance(db, commit)
    if p is None:
        return None, {}, False
    row = signed_row(db, key, p["audit_sequence"])
    if row is None or row.event_type not in audit_log.PROVENANCE_EVENTS:
        return None, {}, True
    d = details_of(row)
    verdict = "bypassed" if row.event_type == "commit_gate_bypassed" else "recorded"
    if d.get("commit") != commit or p["status"] != verdict:
        return None, {}, True
    return verdict, {**d, "worktree": row.worktree, "task_id": row.task_id, "sequence": row.sequence}, False


def signed_verdicts(db: Any, key: str | None) -> dict[str, tuple[str, AuditRow]]:
    """commit id -> (verdict, row) of its newest intact commit_recorded/commit_gate_bypassed row.

    One read of the provenance rows; each row's hash and HMAC are checked here, the chain by the
    trail verification the caller runs in the same gate run.
    """
    out: dict[str, tuple[str, AuditRow]] = {}
    for row in audit_log.provenance_rows(db):
        if not row_intact(row, key):
            continue
        commit = details_of(row).get("commit")
        if isinstance(commit, str):
            out[commit] = ("bypassed" if row.event_type == "commit_gate_bypassed" else "recorded", row)
    return out


def mismatches(table: dict[str, dict[str, Any]], signed: dict[str, tuple[str, AuditRow]], commits: list[str]) -> list[str]:
    """The commits whose provenance table row disagrees with the signed rows (missing, extra,
    another status, another row)."""
    out = []
    for c in commits:
        p, s = table.get(c), signed.get(c)
        if p is None and s is None:
            continue
        if p is None or s is None or p["status"] != s[0] or p["audit_sequence"] != s[1].sequence:
            out.append(c)
    return out


def contained_in_branches(root: str, env: Any, commits: list[str]) -> list[str]:
    """Which of `commits` some local branch still contains (`git for-each-ref --contains`)."""
    from ..repo import run_git

    out = []
    for c in commits:
        proc = run_git(["for-each-ref", "--count=1", "--format=%(refname)", "--contains", c, "refs/heads"], root, env=env, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            out.append(c)
    return out


def any_in_branches(root: str, env: Any, commits: list[str]) -> bool:
    """One git process: does any local branch contain any of `commits`?"""
    from ..repo import run_git

    if not commits:
        return False
    args = ["for-each-ref", "--count=1", "--format=%(refname)"]
    for c in commits[-200:]:
        args += ["--contains", c]
    proc = run_git([*args, "refs/heads"], root, env=env, check=False)
    if proc.returncode != 0:  # an id git no longer has (gone for good): ask one at a time
        return bool(contained_in_branches(root, env, commits[-50:]))
    return bool(proc.stdout.strip())


def open_bypasses(db: Any, key: str | None, root: str, env: Any, limit: int = 50) -> list[tuple[str, str | None]]:
    """(commit, worktree) of signed bypasses some local branch still contains, newest first.

    A bypass stays visible until its commit is gone from every local branch (reset away, or
    replaced by a commit the gate judged); a later clean gate run does not hide it.
    """
    rows = [(c, r) for c, (v, r) in signed_verdicts(db, key).items() if v == "bypassed"]
    rows.sort(key=lambda cr: cr[1].sequence or 0, reverse=True)
    rows = rows[:limit]
    live = set(contained_in_branches(root, env, [c for c, _ in rows]))
    return [(c, r.worktree) for c, r in rows if c in live]
