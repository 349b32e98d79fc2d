"""What `whoami` and `check` compute and print, without click.

The click commands (`agents_cmd`) and the fast entry (`cli.fast`) both call these, so the two
paths cannot drift apart: same store, same policy window, same lines and JSON documents.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .context import Ctx


def window_and_globs(state_dir: str) -> tuple[float, tuple[str, ...]]:
    """The commit gate's stale window and policy globs (`check` judges exactly as it does)."""
    from .. import policy as policymod

    pol = policymod.load(state_dir)
    return policymod.stale_minutes(state_dir, pol), pol.allowed_generated_paths


def whoami(ctx: Ctx) -> dict[str, Any]:
    from ..ops import agents

    ctx.drain = False  # a question before an edit changes nothing (SPEC §13), not even the spool
    window, _ = window_and_globs(ctx.store.state_dir)
    return agents.whoami(ctx.store, ctx.paths.toplevel, window)


def whoami_lines(data: dict[str, Any]) -> list[str]:
    lease = data["lease"]
    lines = [f"worktree {data['worktree']} ({data['mode']}, {data['compliance_state']})"]
    if lease is None:
        return [*lines, f"no active lease — `switchman-hook lease next {data['worktree']}`"]
    lines.append(f"lease {lease.id}{' (STALE)' if lease.stale else ''}: task {lease.task_id} ({data['task'].title})")
    lines += [f"  scope: {p}" for p in data["scope"]["allowed_paths"]]
    lines += [f"  subsystem: #{t}" for t in data["scope"]["subsystem_tags"]]
    lines += [f"  claim: {c}" for c in data["claims"]]
    return lines


def check(ctx: Ctx, paths: Iterable[str], worktree: str | None) -> dict[str, Any]:
    from ..ops import agents

    ctx.drain = False  # as whoami: nothing recorded, not even the spool
    window, globs = window_and_globs(ctx.store.state_dir)
    return agents.check(
        ctx.store, paths, toplevel=ctx.paths.toplevel, cwd=ctx.cwd, worktree=worktree, stale_minutes=window, generated_globs=globs
    )


def check_doc(data: dict[str, Any]) -> dict[str, Any]:
    """SPEC §13's keys exactly: the fix is for the human output and the agent hook."""
    return {**data, "paths": [{k: v for k, v in r.items() if k != "fix"} for r in data["paths"]]}


def check_lines(data: dict[str, Any]) -> list[str]:
    from ..reasons import text

    lines = []
    for row in data["paths"]:
        verdict = "allowed" if row["allowed"] else "refused"
        holder = row["holder"] or {}
        held = f" — held by task {holder['task_id']} in {holder['worktree']}" if not row["allowed"] and holder.get("task_id") else ""
        lines.append(f"{row['path']}: {verdict} [{row['reason_code']}] {text(row['reason_code'])}{held}")
        if row["fix"]:
            lines.append(f"    fix: {row['fix']}")
    return lines
