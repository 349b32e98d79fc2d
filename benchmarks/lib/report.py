"""The markdown table and the machine and commit a run describes."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from .config import ROOT
from .measure import Result, stats


def fmt3(samples: list[float], unit: str) -> str:
    s = stats(samples)
    if unit == "events/s":
        return f"{s['median']:,.0f} / {s['min']:,.0f} / {s['max']:,.0f}"
    return f"{s['median']:.0f} / {s['min']:.0f} / {s['max']:.0f}"


def table(results: list[Result]) -> str:
    lines = [
        "| case | A | A median / min / max | B | B median / min / max | B/A | B−A | target | figure | met |",
        "|---|---|---:|---|---:|---:|---:|---|---|:-:|",
    ]
    for r in results:
        verdict = "—" if r.met is None else ("✅ met" if r.met else "❌ not met")
        rows = r.pairs or [(next(iter(r.samples)), "")]
        for i, (a, b) in enumerate(rows):
            name = r.name if i == 0 else ""
            unit = "" if r.unit == "ms" else f" {r.unit}"
            if b:
                ratio = f"{r.med(b) / r.med(a):.2f}×"
                delta = f"{r.med(b) - r.med(a):+.0f}" + ("" if r.unit == "ms" else unit)
                cells = [a, fmt3(r.samples[a], r.unit) + unit, b, fmt3(r.samples[b], r.unit) + unit, ratio, delta]
            else:
                cells = [a, fmt3(r.samples[a], r.unit) + unit, "", "", "", ""]
            tail = [r.target, r.figure, verdict] if i == 0 else ["", "", ""]
            lines.append("| " + " | ".join([name, *cells, *tail]) + " |")
        extra_variants = [v for v in r.samples if all(v not in p for p in rows)]
        for v in extra_variants:
            lines.append(f"| | {v} | {fmt3(r.samples[v], r.unit)}{'' if r.unit == 'ms' else ' ' + r.unit} | | | | | | | |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git": git_version,
        "loadavg_start": os.getloadavg(),
    }


def commit_id() -> tuple[str, bool]:
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip())
    return sha, dirty
