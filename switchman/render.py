"""Human-readable output, click-free: the caller passes a `paint(text, colour, bold)` (or none)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .doctor.checks import Report
from .doctor.context import Check

Paint = Callable[[str, str, bool], str]  # (text, colour, bold) -> text


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
    checks = tuple(Check(c["id"], c["status"], c["detail"], c.get("fix", "")) for c in doc.get("checks", []))
    return Report(doc.get("root"), checks, tuple(doc.get("fixed", [])), "fixed" in doc)
