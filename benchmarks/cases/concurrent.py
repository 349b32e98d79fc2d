"""8 processes committing at once through the installed hooks: latency percentiles and errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lib.config import FLEET, HERE, PY, TARGET_P99_MS, WORKERS
from lib.measure import Ctx, Result, label
from lib.procs import collect_committers
from lib.repos import (
    build_fleet,
    clean,
    sw,
)

COMMITTER = str(WORKERS / "committer.py")


def concurrent_case(ctx: Ctx, files: int, commits: int = 15, k: int = 10) -> Result:
    repo = build_fleet(ctx.cache, files)
    repo.heartbeat()
    clean(repo)

    def swarm(hooks: Path | None) -> tuple[list[float], list[str]]:
        ps = []
        for j in range(1, FLEET + 1):
            wt = repo.worktrees[f"agent-{j}"]
            start = ((j - 1) * 1000) % files
            args = [PY, COMMITTER, str(wt), json.dumps(repo.env), str(k), str(commits), str(start), f"agent-{j}",
                    str(hooks) if hooks else "", str(HERE)]
            ps.append(subprocess.Popen(args, cwd=wt, env=repo.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        return collect_committers(ps)

    bare_lat, bare_err = swarm(repo.nohooks)
    hook_lat, hook_err = swarm(None)
    clean(repo)

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, max(0, int(round(q * len(xs) + 0.5)) - 1))]

    res = Result(
        f"concurrent-{label(files)}-w{FLEET}",
        {"files": files, "committers": FLEET, "commits_each": commits, "staged": k},
        {"bare": bare_lat, "hooks": hook_lat},
        [("bare", "hooks")],
    )
    p99 = pct(hook_lat, 0.99)
    res.extra.update(
        p50=pct(hook_lat, 0.50), p95=pct(hook_lat, 0.95), p99=p99, max=max(hook_lat), bare_p99=pct(bare_lat, 0.99),
        errors=hook_err[:10], error_count=len(hook_err), bare_errors=len(bare_err),
        verify_ok=json.loads(sw(repo, "audit", "verify", "--json"))["ok"],
    )
    res.target = f"p99 commit latency ≤ {TARGET_P99_MS:.0f} ms, no errors"
    res.figure = f"p50 {res.extra['p50']:.0f} / p95 {res.extra['p95']:.0f} / p99 {p99:.0f} ms, {len(hook_err)} errors"
    res.met = p99 <= TARGET_P99_MS and not hook_err and res.extra["verify_ok"]
    return res


# --- the catalogue ---------------------------------------------------------------------------------
