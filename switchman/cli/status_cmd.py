"""`status`: one screen of everything that is going on."""

from __future__ import annotations

import click

from .common import echo, emit_json, get_ctx, json_option, show_path, style, table


@click.command("status")
@json_option
def status_command(as_json: bool) -> None:
    """Tasks, leases, claims, reservations, compliance, validations, invalidations, denials."""
    from ..status import collect

    ctx = get_ctx()
    report = collect(ctx.paths, ctx.store)
    if as_json:
        emit_json(report)
        return
    counts = ", ".join(f"{k} {v}" for k, v in report.task_counts.items()) or "none"
    echo(style("Tasks", bold=True) + f": {counts}")
    echo()
    echo(style("Active leases", bold=True))
    rows = [
        [
            lease["id"],
            lease["task_id"],
            lease["worktree"],
            lease.get("agent") or "-",
            style("STALE", fg="red") if lease["stale"] else "ok",
            ", ".join(lease["scopes"]) or "-",
        ]
        for lease in report.leases
    ]
    echo(table(rows, ["LEASE", "TASK", "WORKTREE", "AGENT", "HEARTBEAT", "SCOPE"]) or "  none")
    echo()
    echo(style("Worktrees", bold=True))
    rows = [
        [w["name"], w["enforcement_mode"], _compliance(w["compliance_state"]), w["path"]] for w in report.worktrees
    ]
    echo(table(rows, ["NAME", "MODE", "COMPLIANCE", "PATH"]) or "  none")
    echo()
    echo(style("Claims", bold=True) + f" ({len(report.claims)})")
    for c in report.claims[:20]:
        echo(f"  {show_path(c['file_path'])} → {c['task_id']} ({c['worktree']})")
    if len(report.claims) > 20:
        echo(f"  … {len(report.claims) - 20} more (`switchman-hook claims`)")
    if report.validations:
        echo()
        echo(style("Boundary validations", bold=True))
        for v in report.validations:
            echo(f"  {v['task_id']}: {v['status']} (missing: {', '.join(v['missing_task_types']) or '-'})")
    if report.invalidations:
        echo()
        echo(style("Stale dependency invalidations", bold=True))
        for i in report.invalidations:
            echo(f"  {i['affected_task_id']} invalidated by {i['source_task_id']} ({i['reason_type']})")
    if report.recent_denials:
        echo()
        echo(style("Recent denials and bypasses", bold=True))
        for d in report.recent_denials:
            where = f" {show_path(d['file_path'])}" if d.get("file_path") else ""
            echo(f"  #{d['sequence']} {d['created_at']} {d['event_type']} {d.get('reason_code') or ''}{where} [{d.get('worktree') or '-'}]")


def _compliance(state: str) -> str:
    colors = {"stale": "red", "non_compliant": "red", "managed": "green", "observed": "yellow"}
    return style(state, fg=colors.get(state))
