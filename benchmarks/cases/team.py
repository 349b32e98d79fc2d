"""The team backend (SPEC §12) beside SQLite, in the same run: what a hook and a command cost on
PostgreSQL over its unix socket and over TCP loopback, and 8 agents committing at once from two
clones on two machines through one server (throughput, latency percentiles, errors, and the
audit sequence checked gapless and verified from both clones afterwards)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench_hooks import CONSOLE, timed_commit
from lib.config import PY, WORKERS
from lib.content import content_of
from lib.measure import Ctx, Result, interleave, label
from lib.procs import collect_committers, git, timed
from lib.team import STORES, Clone, Team, gapless, main_claims, sqlite_sequences, verify_ok

COMMITTER = str(WORKERS / "committer.py")
FILES = 10_000
K = 10


def team_latency_case(ctx: Ctx, files: int = FILES) -> Result:
    """`git commit` of K claimed files (all hooks installed, guarded; through the warm helper and
    with SWITCHMAN_NO_HELPER=1) and `status --json`, on each store, interleaved; `bare` is the
    same commit with no hooks."""
    with Team(ctx.cache, files) as team:
        clones = {s: team.clone(s, s, f"bench-{s}") for s in STORES}
        paths = {s: main_claims(c, K) for s, c in clones.items()}
        nohooks = team.work / "nohooks"
        nohooks.mkdir()
        rev = {"n": int(time.time() * 1000)}

        def stage(c: Clone, ps: list[str]) -> int:
            rev["n"] += 1
            for i, p in enumerate(ps):
                (c.path / p).write_bytes(content_of(i, rev["n"]))
            git(c.path, c.env, "add", "--", *ps)
            return rev["n"]

        def commit(store: str, hooks: Path | None = None, helper: bool = True) -> Callable[[int], float]:
            c = clones[store]
            env = c.env if helper else {**c.env, "SWITCHMAN_NO_HELPER": "1"}
            return lambda _r: timed_commit(c.path, hooks, stage(c, paths[store]), env)

        def status(store: str) -> Callable[[int], float]:
            c = clones[store]
            return lambda _r: timed([str(CONSOLE), "status", "--json"], c.path, c.env)

        commits = interleave(
            {"bare": commit("sqlite", nohooks), **{s: commit(s) for s in STORES},
             **{f"{s}, no helper": commit(s, helper=False) for s in STORES}},
            ctx.runs, ctx.warmup,
        )
        statuses = interleave({f"status {s}": status(s) for s in STORES}, ctx.runs, ctx.warmup)
    res = Result(
        f"team-commit-status-{label(files)}",
        {"files": files, "staged": K, "mode": "guarded", "pg": "PostgreSQL, fsync on, agent login role"},
        {**commits, **statuses},
        [("bare", "sqlite"), ("sqlite", "pg-unix"), ("sqlite", "pg-tcp"),
         ("bare", "sqlite, no helper"), ("sqlite, no helper", "pg-unix, no helper"), ("sqlite, no helper", "pg-tcp, no helper"),
         ("status sqlite", "status pg-unix"), ("status sqlite", "status pg-tcp")],
    )
    res.extra.update(delta_ms={f"{b} - {a}": res.med(b) - res.med(a) for a, b in res.pairs})
    d = {b: res.med(b) - res.med(a) for a, b in res.pairs}
    res.figure = (
        f"PostgreSQL over SQLite: commit {d['pg-unix']:+.0f} (unix) / {d['pg-tcp']:+.0f} ms (tcp) with the helper, "
        f"{d['pg-unix, no helper']:+.0f} / {d['pg-tcp, no helper']:+.0f} ms without; "
        f"status {d['status pg-unix']:+.0f} / {d['status pg-tcp']:+.0f} ms"
    )
    return res


def _swarm(clones: list[tuple[Clone, list[int]]], commits: int, files: int) -> tuple[list[float], list[str], float]:
    """Every agent worktree of every clone commits at once; (latencies, errors, wall seconds)."""
    ps = []
    t0 = time.perf_counter()
    for clone, agents in clones:
        for j in agents:
            wt = clone.worktrees[f"agent-{j}"]
            start = ((j - 1) * 1000) % files
            args = [PY, COMMITTER, str(wt), json.dumps(clone.env), str(K), str(commits), str(start), f"agent-{j}", "",
                    str(WORKERS.parent)]
            ps.append(subprocess.Popen(args, cwd=wt, env=clone.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    lat, errors = collect_committers(ps)
    return lat, errors, time.perf_counter() - t0


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * len(xs) + 0.5)) - 1))] if xs else float("nan")


def team_concurrent_case(ctx: Ctx, files: int = FILES, commits: int = 15) -> Result:
    """8 committers: on SQLite, 8 linked worktrees of one clone; on PostgreSQL (unix socket), 4 in
    each of two clones on two machines, one database. Each makes `commits` commits of K files."""
    with Team(ctx.cache, files) as team:
        lite = team.clone("lite", "sqlite", "bench-lite", agents=list(range(1, 9)))
        db = team.database()
        a = team.clone("machine-a", "pg-unix", "bench-machine-a", database=db, agents=[1, 2, 3, 4])
        b = team.clone("machine-b", "pg-unix", "bench-machine-b", database=db, agents=[5, 6, 7, 8])
        runs = {
            "sqlite": _swarm([(lite, list(range(1, 9)))], commits, files),
            "pg 2 clones": _swarm([(a, [1, 2, 3, 4]), (b, [5, 6, 7, 8])], commits, files),
        }
        checks = {
            "sqlite": {"gapless": gapless(sqlite_sequences(lite)), "verify": verify_ok(lite)},
            "pg 2 clones": {"gapless": gapless(team.sequences(db)), "verify": verify_ok(a) and verify_ok(b),
                            "events": len(team.sequences(db))},
        }
    res = Result(
        f"team-concurrent-{label(files)}-w8",
        {"files": files, "committers": 8, "commits_each": commits, "staged": K, "pg": "unix socket, fsync on"},
        {k: v[0] for k, v in runs.items()},
        [("sqlite", "pg 2 clones")],
    )
    figures = []
    for name, (lat, errors, wall) in runs.items():
        tput = (len(lat) - len(errors)) / wall
        res.extra[name] = {
            "throughput_commits_s": round(tput, 2), "p50": _pct(lat, 0.5), "p99": _pct(lat, 0.99), "max": max(lat),
            "errors": len(errors), "first_errors": errors[:3], "wall_s": round(wall, 1), **checks[name],
        }
        figures.append(
            f"{name}: {tput:.1f} commits/s, p50 {_pct(lat, 0.5):.0f} / p99 {_pct(lat, 0.99):.0f} ms, {len(errors)} errors, "
            f"{'gapless' if checks[name]['gapless'] else 'GAPS'}, verify {'ok' if checks[name]['verify'] else 'FAILED'}"
        )
    res.figure = "; ".join(figures)
    res.target = "no errors, gapless sequence, audit verify ok from every clone"
    res.met = all(v["errors"] == 0 and v["gapless"] and v["verify"] for k, v in res.extra.items() if isinstance(v, dict))
    return res
