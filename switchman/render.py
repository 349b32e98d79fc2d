"""Human output, without click: the hooks print gate results with it, the CLI everything else.

Functions return text (or lines) and never print. Colour, where there is any, comes from a
`paint(text, colour, bold)` callback the CLI passes in, so this module stays click-free and
cheap to import on the hook path (the records it formats are imported for type checking only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import reasons
from .cli_quote import shown

if TYPE_CHECKING:
    from collections.abc import Callable

    from .doctor.checks import Report
    from .gates.common import GateResult
    from .monitor import MonitorResult
    from .status import StatusReport

    # (text, colour or None, bold) -> text; the CLI's paints with click when stdout is a terminal.
    StatusPaint = Callable[[str, str | None, bool], str]
    Paint = Callable[[str, str, bool], str]  # (text, colour, bold) -> text, for doctor


# gates ------------------------------------------------------------------------------------------


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
        lines.append(f"  {shown(v.file, pasteable=True)}: {reasons.text(v.reason_code)} [{v.reason_code}]{holder}")
        if v.fix and reasons.fix_names_path(v.reason_code):
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


# monitor ----------------------------------------------------------------------------------------


def format_result(result: MonitorResult, *, quiet: bool = False) -> str:
    """Short human summary of a monitor pass; `quiet` leaves out worktrees where nothing happened."""
    lines = [f"switchman monitor: {result.summary}"]
    for r in result.worktrees:
        busy = r.observed or r.quarantined or r.warnings or r.failures
        if quiet and not busy:
            continue
        head = f"  {r.name} [{r.mode}, {r.compliance_state}]: {len(r.changed_files)} changed"
        if r.baselined:
            head += " (first pass: baseline recorded)"
        elif r.observed:
            head += f", {len(r.observed)} new"
        lines.append(head)
        for o in r.observed[:50]:
            lines.append(f"    {'allowed' if o.allowed else 'denied '} {shown(o.file)} [{o.reason_code}]")
        if len(r.observed) > 50:
            lines.append(f"    … and {len(r.observed) - 50} more (`switchman-hook monitor once --json`)")
        for q in r.quarantined:
            where = f" → {shown(q.quarantine_path)}" if q.quarantine_path else ""
            lines.append(f"    quarantined {shown(q.file)} ({q.action}){where}")
        for w in r.warnings:
            lines.append(f"    warning: {w}")
        for f in r.failures:
            lines.append(f"    FAILED: {f}")
    for s in result.skipped:
        lines.append(f"  {s.name}: skipped ({s.reason})")
    return "\n".join(lines)


# status -----------------------------------------------------------------------------------------

COMPLIANCE_COLOURS = {"stale": "red", "non_compliant": "red", "managed": "green", "observed": "yellow"}


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Left-aligned columns under a header row; "" when there are no rows."""
    if not rows:
        return ""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())
    return "\n".join(lines)


def status_lines(report: StatusReport, paint: StatusPaint | None = None) -> list[str]:
    """`status` for a person: tasks, leases, worktrees, claims, then whatever needs attention."""
    p: StatusPaint = paint or (lambda text, colour, bold: text)
    counts = ", ".join(f"{k} {v}" for k, v in report.task_counts.items()) or "none"
    lines = [p("Tasks", None, True) + f": {counts}", ""]
    lines.append(p("Active leases", None, True))
    rows = [
        [
            lease["id"],
            lease["task_id"],
            lease["worktree"],
            lease.get("agent") or "-",
            p("STALE", "red", False) if lease["stale"] else "ok",
            lease.get("heartbeat_at") or "-",
            ", ".join(lease["scopes"]) or "-",
        ]
        for lease in report.leases
    ]
    lines += (table(rows, ["LEASE", "TASK", "WORKTREE", "AGENT", "HEARTBEAT", "LAST ACTIVITY", "SCOPE"]) or "  none").split("\n") + [""]
    lines.append(p("Worktrees", None, True))
    rows = [
        [w["name"], w["enforcement_mode"], p(w["compliance_state"], COMPLIANCE_COLOURS.get(w["compliance_state"]), False), w["path"]]
        for w in report.worktrees
    ]
    lines += (table(rows, ["NAME", "MODE", "COMPLIANCE", "PATH"]) or "  none").split("\n") + [""]
    lines.append(p("Claims", None, True) + f" ({len(report.claims)})")
    for c in report.claims[:20]:
        lines.append(f"  {shown(c['file_path'])} → {c['task_id']} ({c['worktree']})")
    if len(report.claims) > 20:
        lines.append(f"  … {len(report.claims) - 20} more (`switchman-hook claims`)")
    if report.validations:
        lines += ["", p("Boundary validations", None, True)]
        for v in report.validations:
            lines.append(f"  {v['task_id']}: {v['status']} (missing: {', '.join(v['missing_task_types']) or '-'})")
    if report.invalidations:
        lines += ["", p("Stale dependency invalidations", None, True)]
        for i in report.invalidations:
            lines.append(f"  {i['affected_task_id']} invalidated by {i['source_task_id']} ({i['reason_type']})")
    if report.open_bypasses:
        lines += ["", p("Bypassed commits still on a branch", None, True)]
        for b in report.open_bypasses:
            lines.append(f"  {b['commit'][:12]} [{b.get('worktree') or '-'}]  redo through the gate: git reset --soft <base> && git commit")
    if report.recent_denials:
        lines += ["", p("Recent denials and bypasses", None, True)]
        for d in report.recent_denials:
            where = f" {shown(d['file_path'])}" if d.get("file_path") else ""
            lines.append(
                f"  #{d['sequence']} {d['created_at']} {d['event_type']} {d.get('reason_code') or ''}{where} [{d.get('worktree') or '-'}]"
            )
    if report.recent_weakening:
        lines += ["", p("Recent weakening", "yellow", True) + f" (last {report.weakening_window:g} min)"]
        for w in report.recent_weakening:
            target = w.get("worktree") or "every worktree"
            lines.append(
                f"  #{w['sequence']} {w['created_at']} {w['what']} [{target}] by {w.get('by_worktree') or '(outside any worktree)'}"
            )
    return lines


# doctor ----------------------------------------------------------------------------------------

LABELS = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}
HEALTH_COLOURS = {"healthy": "green", "attention": "yellow", "blocked": "red"}


def render_lines(report: Report, paint: Paint | None = None) -> list[str]:
    """The human report: one line per check, the fix under any that is not ok, then the health."""
    p: Paint = paint or (lambda text, colour, bold: text)
    lines: list[str] = []
    if report.root:
        lines.append(f"switchman-hook doctor: {report.root}")
    lines += [f"fixed: {action}" for action in report.fixed]
    width = max((len(c.id) for c in report.checks), default=0)
    for c in report.checks:
        label, colour = LABELS[c.status]
        lines.append(f"{p(label.ljust(4), colour, c.status == 'fail')}  {c.id.ljust(width)}  {c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"{'':4}  {'':{width}}  fix: {c.fix}")
    fails = sum(c.status == "fail" for c in report.checks)
    warns = sum(c.status == "warn" for c in report.checks)
    counts = f"{fails} failing, {warns} to look at" if fails or warns else f"all {len(report.checks)} checks ok"
    lines.append(f"health: {p(report.health, HEALTH_COLOURS[report.health], True)} ({counts})")
    return lines


def report_from_json(doc: dict[str, Any]) -> Report:
    """Rebuild a Report from `doctor --json` output (the demo renders a real run this way)."""
    from .doctor.checks import Report
    from .doctor.context import Check

    checks = tuple(Check(c["id"], c["status"], c["detail"], c.get("fix", "")) for c in doc.get("checks", []))
    return Report(doc.get("root"), checks, tuple(doc.get("fixed", [])), "fixed" in doc)
