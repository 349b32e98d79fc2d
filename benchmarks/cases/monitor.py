"""`switchman-hook monitor once` over 8 worktrees against `git status` in each."""

from __future__ import annotations

import time

from bench_hooks import CONSOLE
from lib.config import DIRTY, FLEET
from lib.measure import Ctx, Result, interleave, label
from lib.procs import proc, timed
from lib.repos import (
    build_fleet,
    clean,
    dirty,
)


def monitor_case(ctx: Ctx, files: int) -> Result:
    repo = build_fleet(ctx.cache, files)
    repo.heartbeat()
    state = {"rev": int(time.time() * 1000)}

    def monitor(_r: int) -> float:
        state["rev"] += 1
        dirty(repo, state["rev"])  # 50 newly changed files per worktree every time
        return timed([str(CONSOLE), "monitor", "once", "--json"], repo.root, repo.env, quiet=False)

    def statuses(_r: int) -> float:
        state["rev"] += 1
        dirty(repo, state["rev"])
        t0 = time.perf_counter()
        for wt in [repo.root, *repo.worktrees.values()]:
            proc(["git", "status", "--porcelain=v2", "-z", "-uall"], wt, repo.env)
        return (time.perf_counter() - t0) * 1000

    ref = f"git status x{FLEET + 1}"
    samples = interleave({ref: statuses, "monitor once": monitor}, ctx.runs, ctx.warmup)
    clean(repo)
    return Result(
        f"monitor-{label(files)}-w{FLEET}",
        {"files": files, "worktrees": FLEET, "dirty_per_worktree": DIRTY},
        samples,
        [(ref, "monitor once")],
        extra={"note": "each run re-dirties the 400 files, so every run records 400 new observations; the "
                       "main worktree (clean) is observed too, so the reference is 9 `git status` runs; "
                       "`monitor once` is the click CLI (its start-up included)"},
    )
