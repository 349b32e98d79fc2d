"""`git checkout` between two branches of the 100k repository, hooks vs none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lib.config import OWN_CLAIMS
from lib.measure import Ctx, Result, interleave, label
from lib.procs import proc, timed
from lib.repos import (
    build_pair,
)


def post_checkout_case(ctx: Ctx, files: int = 100_000) -> Result:
    repo = build_pair(ctx.cache, files, 10)
    repo.heartbeat()
    repo.mode("agent-a", "guarded")
    a = repo.worktrees["agent-a"]

    def switch(hooks: Path | None) -> Callable[[int], float]:
        def go(_r: int) -> float:
            pre = ["git"] + (["-c", f"core.hooksPath={hooks}"] if hooks else [])
            ms = timed([*pre, "checkout", "-q", "bench-alt"], a, repo.env)
            proc([*pre, "checkout", "-q", "agent-a"], a, repo.env)
            return ms

        return go

    samples = interleave({"bare": switch(repo.nohooks), "hooks": switch(None)}, ctx.runs, ctx.warmup)
    return Result(
        f"post-checkout-{label(files)}",
        {"files": files, "differing_files": 1000 + OWN_CLAIMS},
        samples,
        [("bare", "hooks")],
        extra={"note": "git checkout between two branches; the hook re-baselines (one `git status`)"},
    )
