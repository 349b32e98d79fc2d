"""`git push` of 100 new commits to a local bare remote, hooks vs none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lib.config import PUSH_COMMITS
from lib.measure import Ctx, Result, interleave
from lib.procs import proc, timed
from lib.repos import (
    build_push,
)


def pre_push_case(ctx: Ctx) -> Result:
    repo = build_push(ctx.cache)
    repo.heartbeat()
    a = repo.worktrees["agent-a"]
    remote = repo.base / "remote.git"

    def reset() -> None:
        proc(["git", "update-ref", "-d", "refs/heads/agent-a"], remote, repo.env)
        proc(["git", "update-ref", "-d", "refs/remotes/origin/agent-a"], repo.root, repo.env)

    def push(hooks: Path | None) -> Callable[[int], float]:
        def go(_r: int) -> float:
            reset()
            pre = ["git"] + (["-c", f"core.hooksPath={hooks}"] if hooks else [])
            return timed([*pre, "push", "-q", "origin", "agent-a"], a, repo.env)

        return go

    rows = repo.audit_rows()
    samples = interleave({"bare": push(repo.nohooks), "hooks": push(None)}, ctx.runs, ctx.warmup)
    reset()
    return Result(
        f"pre-push-{PUSH_COMMITS}",
        {"new_commits": PUSH_COMMITS, "audit_events_at_start": rows},
        samples,
        [("bare", "hooks")],
        extra={"note": "the push gate checks provenance of each new commit and verifies the whole audit trail + checkpoint"},
    )
