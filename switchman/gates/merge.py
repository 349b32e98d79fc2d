"""The merge gate (pre-merge-commit): what is being merged, and may it be (SPEC §7).

Refuses (guarded/strict) merging work whose boundary validation is blocked or whose dependencies
were invalidated; the commit gate reuses these findings for a `git commit` concluding a merge.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..reasons import (
    BOUNDARY_VALIDATION_BLOCKED,
    COMMIT_GATE_BYPASSED,
    DEPENDENCY_INVALIDATED,
    PROVENANCE_MISMATCH,
)
from ..repo import RepoPaths, run_git
from ..store import gate_runs as runstore
from ..store import leases as leasemod
from ..store import validations as valstore
from ..store import worktrees as wtmod
from ..store.sqlite import Store, Tx
from ..timeutil import now_iso
from .common import (
    GateResult,
    Violation,
    audit_status,
    compliance_for,
    held_bypass,
    incoming_commits,
    resolve_worktree,
    stale_minutes,
    summary_line,
    tree_of,
    violation,
    write_tree,
)
from .signed import key_of, signed_record


def merge_heads(paths: RepoPaths) -> list[str]:
    """MERGE_HEAD: present for `git commit` concluding a merge (not yet in pre-merge-commit)."""
    try:
        with open(os.path.join(paths.git_dir, "MERGE_HEAD"), encoding="ascii") as fh:
            return [line.strip() for line in fh if line.strip()]
    except (OSError, UnicodeDecodeError):
        return []


def _incoming_heads(paths: RepoPaths, root: str, env: Mapping[str, str] | None) -> list[str]:
    """The commits being merged, as pre-merge-commit sees them.

    git writes MERGE_HEAD only after pre-merge-commit ran; what it does export is
    `GITHEAD_<oid>=<name>` per merged head and GIT_REFLOG_ACTION=`merge <name>...` (or the
    caller's, e.g. `pull ...`, whose heads are the FETCH_HEAD lines not marked not-for-merge).
    """
    heads = merge_heads(paths)
    if heads:
        return heads
    environ = env if env is not None else os.environ
    heads = sorted(k[len("GITHEAD_") :] for k in environ if k.startswith("GITHEAD_") and len(k) >= len("GITHEAD_") + 40)
    if heads:
        return heads
    words = environ.get("GIT_REFLOG_ACTION", "").split()
    names: list[str] = []
    if words[:1] == ["merge"]:
        names = [w for w in words[1:] if not w.startswith("-")]
    elif words[:1] == ["pull"]:
        try:
            with open(os.path.join(paths.git_dir, "FETCH_HEAD"), encoding="utf-8", errors="replace") as fh:
                names = [ln.split("\t", 1)[0] for ln in fh if "\tnot-for-merge\t" not in ln and ln.strip()]
        except OSError:
            names = []
    resolved: list[str] = []
    for name in names:
        proc = run_git(["rev-parse", "--verify", "-q", "--end-of-options", f"{name}^{{commit}}"], root, env=env, check=False)
        sha = proc.stdout.decode().strip()
        if proc.returncode == 0 and sha and sha not in resolved:
            resolved.append(sha)
    return resolved


def merge_findings(tx: Tx, commits: list[str]) -> tuple[list[Violation], list[str], list[str]]:
    """Violations and warnings for merging `commits`, and the tasks their provenance names."""
    violations: list[Violation] = []
    warnings: list[str] = []
    tasks: dict[str, list[str]] = {}
    unknown = 0
    key = key_of(tx) if commits else None
    for c in commits:
        # The signed row decides (SPEC §10); a table row it does not back is tampering.
        verdict, d, tampered = signed_record(tx, key, c)
        if tampered:
            violations.append(violation(c, PROVENANCE_MISMATCH, {"commit": c}))
        if verdict is None:
            unknown += 1
        elif d.get("task_id"):
            tasks.setdefault(d["task_id"], []).append(c)
        if verdict == "bypassed":
            violations.append(violation(c, COMMIT_GATE_BYPASSED, {"worktree": d.get("worktree"), "task_id": d.get("task_id")}))
    for task_id, task_commits in sorted(tasks.items()):
        state = valstore.for_task(tx, task_id)
        v = state["validation"]
        holder = {"task_id": task_id, "commits": task_commits[:10]}
        if v is not None and v.status == "blocked":
            violations.append(violation(task_id, BOUNDARY_VALIDATION_BLOCKED, {**holder, "missing_task_types": v.missing_task_types}, missing=", ".join(v.missing_task_types)))
        elif v is not None and v.status == "pending_validation":
            warnings.append(f"task {task_id}: boundary validation pending ({', '.join(v.missing_task_types)} not done)")
        for inv in state["invalidations"]:
            violations.append(violation(task_id, DEPENDENCY_INVALIDATED, {**holder, "source_task_id": inv.source_task_id, "reason_type": inv.reason_type}, task_id=task_id))
    if unknown:
        warnings.append(f"{unknown} merged commit(s) have no recorded provenance")
    return violations, warnings, sorted(tasks)


def merge_gate(
    paths: RepoPaths,
    store: Store,
    *,
    env: Mapping[str, str] | None = None,
    ref: str | None = None,
    record_tree: bool = True,
    hook: bool = False,
) -> GateResult:
    """Refuse merging work whose boundary validation is blocked or whose dependencies went stale.

    As the pre-merge-commit hook (`hook=True`) the index holds the merge result: its tree is
    recorded so post-merge can tell this judged merge commit from one made with --no-verify.
    """
    wt = resolve_worktree(paths, store)
    root = paths.toplevel
    assert root is not None
    heads = [ref] if ref else _incoming_heads(paths, root, env)
    mode = wt.enforcement_mode
    commits = incoming_commits(root, env, heads)
    tree_id = write_tree(root, env) if (record_tree and not ref and (heads or hook)) else None
    parent = tree_of(run_git(["rev-parse", "--verify", "-q", "HEAD"], root, env=env, check=False)) if tree_id else None
    window = stale_minutes(store.state_dir)
    open_bypass = held_bypass(store, wt.name, root, env)

    def fn(tx: Tx) -> GateResult:
        violations, warnings, tasks = merge_findings(tx, commits)
        ok = mode == "observed" or not violations
        lease = leasemod.active_for_worktree(tx, wt.name, window)
        state_c = compliance_for(lease, len(violations), open_bypass)
        wtmod.set_compliance(tx, wt.name, state_c)
        row = tx.audit(
            "merge_gate",
            audit_status(ok, len(violations)),
            reason_code=violations[0].reason_code if violations else None,
            worktree=wt.name,
            task_id=lease.task_id if lease else None,
            lease_id=lease.id if lease else None,
            details={"mode": mode, "heads": heads, "commits": len(commits), "tasks": tasks, "tree": tree_id, "parent": parent, "merge_parents": heads, "violations": [{"file": v.file, "reason_code": v.reason_code} for v in violations]},
        )
        if tree_id:
            runstore.insert_run(tx, wt.name, "merge", tree_id, ok, lease.id if lease else None, row.sequence, now_iso(), parent, heads)
        summary = "no merge in progress" if not heads else summary_line("merge", ok, mode, len(commits), violations, "incoming commit(s)")
        return GateResult(ok, "merge", wt.name, mode, lease.id if lease else None, state_c, [], [], violations, warnings, summary, row.sequence)

    return store.write(fn)
