"""`git commit` of K staged files: no hooks, only pre-commit, every hook (and `git status` for strict)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench_hooks import timed_commit
from lib.config import PY, TARGET_PRE_10K, TARGET_PRE_100K, TARGET_STRICT_RATIO
from lib.content import content_of, path_of
from lib.measure import Ctx, Result, interleave, label
from lib.procs import git, timed
from lib.repos import (
    build_pair,
)


def baseline_hooks(cache: Path, src: Path) -> Path:
    """A hooks dir whose pre-commit runs the switchman package found in `src` (another checkout)."""
    hooks = cache / "baseline-hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    script = hooks / "pre-commit"
    script.write_text(
        "#!/bin/sh\n"
        f"exec \"{PY}\" -E -c 'import sys; sys.path[:1] = [\"{src}\"]; "
        "from switchman.hookrun import main; sys.exit(main())' pre-commit \"$@\"\n"
    )
    script.chmod(0o755)
    return hooks


def commit_case(ctx: Ctx, files: int, n: int, k: int, mode: str) -> Result:
    repo = build_pair(ctx.cache, files, n)
    repo.heartbeat()
    repo.mode("agent-a", mode)
    a = repo.worktrees["agent-a"]
    paths = [path_of(i) for i in range(k)]
    state = {"rev": int(time.time() * 1000)}

    def stage() -> int:
        state["rev"] += 1
        rev = state["rev"]
        for i, p in enumerate(paths):
            (a / p).write_bytes(content_of(i, rev))
        git(a, repo.env, "add", "--pathspec-from-file=-", "--pathspec-file-nul", input="\0".join(paths).encode())
        return rev

    def commit_with(hooks: Path | None) -> Callable[[int], float]:
        def go(_r: int) -> float:
            return timed_commit(a, hooks, stage(), repo.env)

        return go

    variants: dict[str, Callable[[int], float]] = {
        "bare": commit_with(repo.nohooks),
        "pre-commit": commit_with(repo.precommit_only),
        "hooks": commit_with(None),
    }
    if ctx.baseline is not None:
        variants["pre-commit (baseline)"] = commit_with(ctx.baseline)
    if mode == "strict":

        def status(_r: int) -> float:
            stage()
            return timed(["git", "status", "--porcelain=v2", "-z", "-uall"], a, repo.env)

        variants["git status"] = status
    samples = interleave(variants, ctx.runs, ctx.warmup)
    git(a, repo.env, "reset", "-q")  # the status variant leaves its last staging behind
    git(a, repo.env, "checkout", "-q", "--", "src")
    res = Result(
        f"commit-{label(files)}-n{n}-k{k}-{mode}",
        {"files": files, "foreign_claims": n, "foreign_glob_scopes": n, "staged": k, "mode": mode},
        samples,
        [("bare", "pre-commit"), ("bare", "hooks"), ("pre-commit", "hooks")]
        + ([("pre-commit (baseline)", "pre-commit")] if ctx.baseline is not None else []),
    )
    pre = res.med("pre-commit") - res.med("bare")
    res.extra["pre_commit_overhead_ms"] = pre
    res.extra["post_commit_overhead_ms"] = res.med("hooks") - res.med("pre-commit")
    if mode in ("observed", "guarded") and (files, n, k) in ((10_000, 10, 10), (100_000, 5_000, 1_000)):
        limit = TARGET_PRE_10K if files == 10_000 else TARGET_PRE_100K
        res.target = f"pre-commit overhead ≤ {limit:.0f} ms"
        res.figure = f"{pre:+.0f} ms"
        res.met = pre <= limit
    if mode == "strict":
        status_ms = res.med("git status")
        guarded = ctx.results.get(f"commit-{label(files)}-n{n}-k{k}-guarded")
        res.extra["git_status_ms"] = status_ms
        res.extra["strict_overhead_over_status"] = pre / status_ms
        if guarded is not None:
            extra = pre - guarded.extra["pre_commit_overhead_ms"]
            res.extra["strict_extra_over_guarded_ms"] = extra
            res.target = f"strict − guarded ≤ {TARGET_STRICT_RATIO}× git status"
            res.figure = f"{extra:+.0f} ms = {extra / status_ms:.2f}× ({pre / status_ms:.2f}× incl. base)"
            res.met = extra <= TARGET_STRICT_RATIO * status_ms
        else:
            res.target = f"overhead ≤ {TARGET_STRICT_RATIO}× git status (run the guarded case for the increment)"
            res.figure = f"{pre / status_ms:.2f}×"
            res.met = pre <= TARGET_STRICT_RATIO * status_ms
    return res
