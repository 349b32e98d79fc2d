"""The push gate (pre-push): every new commit has provenance, and the audit trail verifies.

The provenance and trail checks are shared with the CI gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..reasons import COMMIT_GATE_BYPASSED, MISSING_PROVENANCE, PROVENANCE_MISMATCH
from ..receipts import push as notes_push
from ..repo import RepoPaths
from ..store import gate_runs as runstore
from ..store import meta, sqlite_audit
from ..store.sqlite import Store, Tx
from .common import (
    GateResult,
    Violation,
    audit_status,
    resolve_worktree,
    summary_line,
    violation,
)
from .signed import details_of, key_of, mismatches, signed_verdicts
from .spooled import backfill_receipts
from .walk import pushed_commits


def baseline_commits(db: Any) -> list[str]:
    text = meta.baseline_commits_text(db)
    if not text:
        return []
    import json

    try:
        return [c for c in json.loads(text) if isinstance(c, str)]
    except ValueError:
        return []


def check_commits(tx: Tx, commits: list[str]) -> tuple[list[Violation], list[dict[str, Any]]]:
    """Each commit judged by its verified signed commit_recorded / commit_gate_bypassed row.

    Shared by the push and CI gates (which verify the whole trail in the same run). The
    provenance table is only a cache: where it disagrees with the signed rows (a row missing,
    an extra row, another status or row) that is tampering, `provenance_mismatch`.
    """
    violations: list[Violation] = []
    info: list[dict[str, Any]] = []
    if not commits:
        return violations, info
    signed = signed_verdicts(tx, key_of(tx))
    table = runstore.provenance_many(tx, commits)
    tampered = set(mismatches(table, signed, commits))
    for c in commits:
        if c in tampered:
            p = table.get(c)
            violations.append(
                violation(c, PROVENANCE_MISMATCH, {"table": p["status"] if p else None, "signed": signed[c][0] if c in signed else None})
            )
        s = signed.get(c)
        if s is None:
            violations.append(violation(c, MISSING_PROVENANCE))
            info.append({"commit": c, "provenance": None})
            continue
        verdict, row = s
        d = details_of(row)
        if verdict == "bypassed":
            violations.append(violation(c, COMMIT_GATE_BYPASSED, {"worktree": row.worktree, "task_id": row.task_id}))
            info.append({"commit": c, "provenance": "bypassed"})
        else:
            info.append({"commit": c, "provenance": d.get("operation"), "task_id": row.task_id})
    return violations, info


def _verify_trail(paths: RepoPaths, store: Store) -> list[Violation]:
    """The HMAC chain and the signed Merkle checkpoint, read in one pass over the log."""
    from ..trail import verify_trail

    trail = verify_trail(paths, store, sqlite_audit.read_key(store.state_dir))
    return [
        Violation(
            f"audit#{f.sequence}" if f.sequence is not None else "audit",
            "audit_verify_failed",
            {"failure": f.reason_code},
            "run `switchman-hook audit verify` and `switchman-hook doctor`",
        )
        for f in trail.distinct_failures()
    ]


def push_gate(paths: RepoPaths, store: Store, remote: str, url: str, ref_lines: list[str], *, env: Mapping[str, str] | None = None) -> GateResult:
    """Every new commit in each pushed range has provenance without bypass; the trail verifies."""
    wt = resolve_worktree(paths, store)
    root = paths.toplevel
    assert root is not None
    baseline = baseline_commits(store)
    commits, ranges = pushed_commits(root, env, remote, url, ref_lines, baseline)
    trail = _verify_trail(paths, store)
    backfill_receipts(paths, store, commits)  # before the notes travel: every recorded commit has one
    trail += notes_push.gate_violations(root, remote, ref_lines, env)
    mode = wt.enforcement_mode

    def fn(tx: Tx) -> GateResult:
        found, info = check_commits(tx, commits)
        violations = trail + found  # a trail that does not verify is the root cause: named first
        ok = mode == "observed" or not violations
        row = tx.audit(
            "push_gate",
            audit_status(ok, len(violations)),
            reason_code=violations[0].reason_code if violations else None,
            worktree=wt.name,
            details={"remote": remote, "url": url, "mode": mode, "ranges": ranges, "commits": len(commits), "violations": [{"file": v.file, "reason_code": v.reason_code} for v in violations[:100]]},
        )
        summary = summary_line("push", ok, mode, len(commits), violations, "new commit(s)")
        return GateResult(ok, "push", wt.name, mode, None, None, [], [], violations, [], summary, row.sequence, info)

    return store.write(fn)
