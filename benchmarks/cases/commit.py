"""`git commit` of K staged files: no hooks, only pre-commit, every hook (and `git status` for strict)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench_hooks import timed_commit
from lib.anchors import anchor_env, anchor_hooks
from lib.config import PY, TARGET_COMMIT, TARGET_STRICT_RATIO
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

    def commit_with(hooks: Path | None, env: dict[str, str] | None = None, silent: bool = True) -> Callable[[int], float]:
        def go(_r: int) -> float:
            return timed_commit(a, hooks, stage(), env or repo.env, silent=silent)

        return go

    anchors = anchor_hooks(repo.base, a, repo.nohooks, repo.env)
    aenv = anchor_env(repo.base, repo.env)
    variants: dict[str, Callable[[int], float]] = {
        "bare": commit_with(repo.nohooks),
        "pre-commit": commit_with(repo.precommit_only),
        "hooks": commit_with(None),
        "hooks, no helper": commit_with(None, {**repo.env, "SWITCHMAN_NO_HELPER": "1"}),
        **{f"{tool} true": commit_with(hooks, aenv, silent=False) for tool, hooks in anchors.items()},
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
        [("bare", "hooks"), ("bare", "hooks, no helper"), ("bare", "pre-commit")]
        + [("bare", f"{tool} true") for tool in anchors]
        + ([("pre-commit (baseline)", "pre-commit")] if ctx.baseline is not None else []),
    )
    bare = res.med("bare")
    pre = res.med("pre-commit") - bare
    whole = {v: res.med(v) - bare for v in ("hooks", "hooks, no helper", *(f"{t} true" for t in anchors))}
    res.extra["pre_commit_overhead_ms"] = pre
    res.extra["commit_overhead_ms"] = whole
    limits = TARGET_COMMIT.get((files, n, k))
    if mode in ("observed", "guarded") and limits is not None:
        helper, no_helper = limits
        res.target = f"whole commit ≤ {helper:.0f} ms with the helper" + (f", ≤ {no_helper:.0f} without" if no_helper else "") + "; below prek and lefthook"
        res.figure = (
            f"helper {whole['hooks']:+.0f}, no helper {whole['hooks, no helper']:+.0f}; "
            f"prek {whole['prek true']:+.0f}, lefthook {whole['lefthook true']:+.0f}, pre-commit {whole['pre-commit true']:+.0f}"
        )
        res.met = (
            whole["hooks"] <= helper
            and (no_helper is None or whole["hooks, no helper"] <= no_helper)
            and whole["hooks"] < min(whole["prek true"], whole["lefthook true"])
        )
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
