"""Human text for gate results: shared by the hooks (no click there) and `switchman-hook gate`."""

from __future__ import annotations

from .cli_quote import quote
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


def _shown(path: str) -> str:
    try:
        path.encode("utf-8")
        if path.isprintable():
            return path
    except UnicodeEncodeError:
        pass
    return quote(path)


def format_gate(result: GateResult) -> str:
    """Empty when there is nothing to say (a clean pass stays silent in hooks)."""
    if not result.violations and not result.warnings:
        return ""
    lines = []
    tag = f"switchman ({result.mode})" if result.worktree is None else f"switchman [{result.worktree}, {result.mode}]"
    lines.append(f"{tag}: {result.summary}")
    for v in result.violations[:50]:
        holder = ""
        if v.holder and v.holder.get("task_id"):
            holder = f" — held by task {v.holder['task_id']}"
            if v.holder.get("worktree"):
                holder += f" in {v.holder['worktree']}"
        lines.append(f"  {_shown(v.file)}: {REASON_TEXT.get(v.reason_code, v.reason_code)} [{v.reason_code}]{holder}")
        if v.fix:
            lines.append(f"      fix: {v.fix}")
    if len(result.violations) > 50:
        lines.append(f"  … and {len(result.violations) - 50} more (`switchman-hook gate {result.gate} --json`)")
    for w in result.warnings:
        lines.append(f"  warning: {w}")
    if result.violations and result.ok and result.mode == "observed":
        lines.append("  (observed mode: recorded, not blocked)")
    return "\n".join(lines)
