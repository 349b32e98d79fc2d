"""`switchman-hook doctor --json` on the healthy 100k repository."""

from __future__ import annotations

import json
import time

from bench_hooks import CONSOLE
from lib.measure import Ctx, Result, interleave, label
from lib.procs import proc, timed
from lib.repos import (
    build_pair,
)


def doctor_case(ctx: Ctx, files: int = 100_000) -> Result:
    repo = build_pair(ctx.cache, files, 10)
    repo.heartbeat()
    a = repo.worktrees["agent-a"]
    state = {"healthy": None}

    def doctor(_r: int) -> float:
        t0 = time.perf_counter()
        p = proc([str(CONSOLE), "doctor", "--json"], repo.root, repo.env)
        ms = (time.perf_counter() - t0) * 1000
        report = json.loads(p.stdout)
        state["healthy"] = report["health"]
        return ms

    def status(_r: int) -> float:
        return timed(["git", "status", "--porcelain=v2", "-z", "-uall"], a, repo.env)

    samples = interleave({"git status (agent-a)": status, "doctor": doctor}, ctx.runs, ctx.warmup)
    res = Result(f"doctor-{label(files)}", {"files": files, "audit_events": repo.audit_rows()}, samples,
                 [("git status (agent-a)", "doctor")])
    res.extra["health"] = state["healthy"]
    res.figure = f"health: {state['healthy']}"
    return res
