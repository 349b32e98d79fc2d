"""Human text for gate results: shared by the hooks (no click there) and `switchman-hook gate`."""

from __future__ import annotations

from .cli_quote import shown
from .gates import GateResult

REASON_TEXT = {
    "no_active_lease": "this worktree holds no active lease",
    "lease_expired": "this worktree's lease is stale (no heartbeat)",
    "path_claimed_by_other_lease": "claimed by another lease",
    "path_scoped_by_other_lease": "inside another lease's reserved scope",
    "path_not_claimed": "not claimed and outside this lease's scope",
    "missing_provenance": "no recorded provenance (committed without the hooks)",
    "commit_gate_bypassed": "committed with the gate bypassed (--no-verify)",
    "audit_verify_failed": "the audit trail does not verify",
    "boundary_validation_blocked": "boundary validation is blocked",
    "dependency_invalidated": "a dependency invalidated this task's work",
}


# Reasons whose fix names the path itself; other fixes (lease next / heartbeat) are shared.
PATH_FIXES = frozenset({"path_not_claimed", "path_claimed_by_other_lease", "path_scoped_by_other_lease"})


def format_gate(result: GateResult) -> str:
    """Empty when there is nothing to say (a clean pass stays silent in hooks).

    One line per violation (path, reason, who holds it), its fix under it when the fix names the
    path; fixes shared by several violations (`lease next`, `lease heartbeat`) are printed once.
    """
    if not result.violations and not result.warnings:
        return ""
    lines = []
    tag = f"switchman ({result.mode})" if result.worktree is None else f"switchman [{result.worktree}, {result.mode}]"
    lines.append(f"{tag}: {result.summary}")
    shared: list[str] = []
    for v in result.violations[:50]:
        holder = ""
        h = v.holder or {}
        if h.get("task_id") and h.get("worktree") != result.worktree:
            holder = f" — held by task {h['task_id']}" + (f" in {h['worktree']}" if h.get("worktree") else "")
        lines.append(f"  {shown(v.file, pasteable=True)}: {REASON_TEXT.get(v.reason_code, v.reason_code)} [{v.reason_code}]{holder}")
        if v.fix and v.reason_code in PATH_FIXES:
            lines.append(f"      fix: {v.fix}")
        elif v.fix and v.fix not in shared:
            shared.append(v.fix)
    if len(result.violations) > 50:
        lines.append(f"  … and {len(result.violations) - 50} more (`switchman-hook gate {result.gate} --json`)")
    lines.extend(f"  fix: {fix}" for fix in shared)
    for w in result.warnings:
        lines.append(f"  warning: {w}")
    if result.violations and result.ok and result.mode == "observed":
        lines.append("  (observed mode: recorded, not blocked)")
    return "\n".join(lines)
