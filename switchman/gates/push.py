"""The push gate (pre-push): every new commit has provenance, and the audit trail verifies.

The provenance and trail checks are shared with the CI gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..reasons import COMMIT_GATE_BYPASSED, MISSING_PROVENANCE
from ..receipts import push as notes_push
from ..repo import RepoPaths, run_git
from ..store import sqlite_audit
from ..store.sqlite import Store, Tx
from .common import (
    GateResult,
    Violation,
    audit_status,
    provenance,
    resolve_worktree,
    summary_line,
    violation,
)


def baseline_commits(db: Any) -> list[str]:
    row = db.one("SELECT value FROM meta WHERE key = 'baseline_commits'")
    if not row or not row["value"]:
        return []
    import json

    try:
        return [c for c in json.loads(row["value"]) if isinstance(c, str)]
    except ValueError:
        return []


def check_commits(tx: Tx, commits: list[str]) -> tuple[list[Violation], list[dict[str, Any]]]:
    violations: list[Violation] = []
    info: list[dict[str, Any]] = []
    for c in commits:
        p = provenance(tx, c)
        if p is None:
            violations.append(violation(c, MISSING_PROVENANCE))
            info.append({"commit": c, "provenance": None})
        elif p["status"] == "bypassed":
            violations.append(violation(c, COMMIT_GATE_BYPASSED, {"worktree": p["worktree"], "task_id": p["task_id"]}))
            info.append({"commit": c, "provenance": "bypassed"})
        else:
            info.append({"commit": c, "provenance": p["operation"], "task_id": p["task_id"]})
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
    commits: list[str] = []
    ranges = []
    for line in ref_lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        local_ref, local_sha, remote_ref, remote_sha = fields[:4]
        if set(local_sha) == {"0"} or remote_ref.startswith("refs/notes/"):
            continue  # a deletion, or notes (receipts): no commits of ours to judge
        exclude = ["--not", f"--remotes={remote}", *baseline]
        if set(remote_sha) != {"0"} and run_git(["cat-file", "-e", f"{remote_sha}^{{commit}}"], root, env=env, check=False).returncode == 0:
            exclude = ["--not", remote_sha, *baseline]
        listed = run_git(["rev-list", local_sha, *exclude], root, env=env).stdout.decode().split()
        ranges.append({"local_ref": local_ref, "remote_ref": remote_ref, "commits": len(listed)})
        commits += [c for c in listed if c not in commits]
    trail = _verify_trail(paths, store)
    trail += notes_push.gate_violations(root, remote, ref_lines, env)
    mode = wt.enforcement_mode

    def fn(tx: Tx) -> GateResult:
        violations, info = check_commits(tx, commits)
        violations += trail
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
