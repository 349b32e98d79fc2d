#!/usr/bin/env python3
"""The switchman-hook benchmark suite : is the cost of the hooks close to nothing?

One command builds synthetic repositories once (kept under benchmarks/.cache/, gitignored; delete
a directory there to rebuild it) and times, end to end, what agents pay:

* `git commit` of K staged files with the installed hooks against the same commit with no hooks
  (and with only the pre-commit hook), for 10k/100k tracked files x N = 10/5,000 foreign claims
  AND N glob scope reservations (held by another worktree's lease) x K = 10/1,000 staged files, in
  observed, guarded and strict mode (strict also times `git status` on the same tree);
* post-commit (installed hooks vs pre-commit only), post-checkout (switching branches of 100k
  files), pre-push of 100 new commits;
* `monitor once` over 8 worktrees with 50 dirty files each;
* `audit verify` at 100k and 1M events; audit appends/s in-process and from 8 processes;
* `doctor` on a healthy 100k-file repository;
* 8 concurrent committers (latency percentiles, errors);
* the team backend beside SQLite: a commit and `status --json` on PostgreSQL over a unix socket
  and TCP loopback, and 8 committers from two clones on two machines through one server.

Every measurement is median / min / max over --runs (>= 7) runs after --warmup runs, with A/B
variants interleaved in rotating order within each round, and the ratio B/A printed per pair.
The result is a markdown table on stdout and JSON in benchmarks/results-<commit>.json.

    .venv/bin/python benchmarks/run.py                 # everything but the --heavy cases
    .venv/bin/python benchmarks/run.py --quick         # a small subset, < 2 minutes
    .venv/bin/python benchmarks/run.py --only commit-10k-n10   # substring or glob, comma-separated
    .venv/bin/python benchmarks/run.py --heavy --only '*w8'    # 100k x 8-worktree cases too
    .venv/bin/python benchmarks/run.py --list

Stdlib only (plus this package); never a timed assertion in the tests.
"""

import argparse
import fnmatch
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_hooks import CONSOLE  # noqa: E402
from cases.appends import appends_8proc_case, appends_inprocess_case  # noqa: E402
from cases.checkout import post_checkout_case  # noqa: E402
from cases.commit import baseline_hooks, commit_case  # noqa: E402
from cases.concurrent import concurrent_case  # noqa: E402
from cases.doctor import doctor_case  # noqa: E402
from cases.monitor import monitor_case  # noqa: E402
from cases.push import pre_push_case  # noqa: E402
from cases.team import team_concurrent_case, team_latency_case  # noqa: E402
from cases.verify import verify_case  # noqa: E402
from lib.config import DEFAULT_CACHE, HERE, PUSH_COMMITS  # noqa: E402
from lib.measure import Ctx, Result, label  # noqa: E402
from lib.report import commit_id, machine, table  # noqa: E402
from lib.repos import Repo, build_fleet, build_pair, build_push, build_verify  # noqa: E402


def catalogue(heavy: bool) -> list[tuple[str, Callable[[Ctx], Result]]]:
    cases: list[tuple[str, Callable[[Ctx], Result]]] = []
    for files in (10_000, 100_000):
        for n in (10, 5_000):
            for k in (10, 1_000):
                for mode in ("observed", "guarded", "strict"):
                    name = f"commit-{label(files)}-n{n}-k{k}-{mode}"
                    cases.append((name, lambda c, f=files, n=n, k=k, m=mode: commit_case(c, f, n, k, m)))
    cases += [
        ("post-checkout-100k", lambda c: post_checkout_case(c)),
        (f"pre-push-{PUSH_COMMITS}", pre_push_case),
        ("monitor-10k-w8", lambda c: monitor_case(c, 10_000)),
        ("verify-100k", lambda c: verify_case(c, 100_000)),
        ("verify-1m", lambda c: verify_case(c, 1_000_000)),
        ("appends-inprocess", appends_inprocess_case),
        ("appends-8proc", appends_8proc_case),
        ("doctor-100k", lambda c: doctor_case(c)),
        ("concurrent-10k-w8", lambda c: concurrent_case(c, 10_000)),
        ("team-commit-status-10k", team_latency_case),
        ("team-concurrent-10k-w8", team_concurrent_case),
    ]
    if heavy:
        cases += [
            ("monitor-100k-w8", lambda c: monitor_case(c, 100_000)),
            ("concurrent-100k-w8", lambda c: concurrent_case(c, 100_000)),
        ]
    return cases


def repos_for(name: str, cache: Path) -> list[Callable[[], Repo]]:
    """The cached repositories a case uses (for --build-only)."""
    parts = name.split("-")
    files = {"10k": 10_000, "100k": 100_000}
    size = next((files[p] for p in parts if p in files), 10_000)
    if name.startswith("commit-"):
        return [lambda: build_pair(cache, size, int(parts[2][1:]))]
    if name.startswith(("post-checkout-", "doctor-")):
        return [lambda: build_pair(cache, size, 10)]
    if name.startswith(("monitor-", "concurrent-")):
        return [lambda: build_fleet(cache, size)]
    if name.startswith("pre-push-"):
        return [lambda: build_push(cache)]
    if name.startswith("verify-"):
        return [lambda: build_verify(cache, 100_000 if parts[1] == "100k" else 1_000_000)]
    return []


QUICK = ("commit-10k-n10-k10-observed", "commit-10k-n10-k10-guarded", "commit-10k-n10-k10-strict", "appends-inprocess", "verify-100k")


def selected(names: list[str], only: str | None, quick: bool) -> list[str]:
    if quick and not only:
        return [n for n in names if n in QUICK]
    if not only:
        return names
    keep = []
    for n in names:
        for pat in only.split(","):
            pat = pat.strip()
            if (any(ch in pat for ch in "*?[") and fnmatch.fnmatch(n, pat)) or (pat and pat in n):
                keep.append(n)
                break
    return keep


# --- reporting ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the synthetic repos live")
    parser.add_argument("--runs", type=int, default=7, help="measured runs per variant (>= 7)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--only", help="comma-separated case names: substrings or globs")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)} (< 2 minutes)")
    parser.add_argument("--heavy", action="store_true", help="add the 100k x 8-worktree cases")
    parser.add_argument("--list", action="store_true", help="list the case names and exit")
    parser.add_argument("--build-only", action="store_true", help="build the selected cases' repositories, measure nothing")
    parser.add_argument("--baseline-src", type=Path, metavar="DIR",
                        help="also time the pre-commit hook of the switchman package in DIR (e.g. an older checkout)")
    parser.add_argument("--json", type=Path, help="where to write the JSON (default benchmarks/results-<commit>.json)")
    args = parser.parse_args(argv)
    cases = dict(catalogue(args.heavy))
    names = selected(list(cases), args.only, args.quick)
    if args.list:
        print("\n".join(names))
        return 0
    if not names:
        raise SystemExit("no case matches --only; see --list")
    if not CONSOLE.exists():
        raise SystemExit(f"{CONSOLE} not found: run with the interpreter of the environment switchman-hook is installed in")
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.build_only:
        built: set[str] = set()
        for name in names:
            for build in repos_for(name, args.cache):
                repo = build()
                if repo.base.name not in built:
                    built.add(repo.base.name)
                    print(f"{repo.base.name}: {json.loads((repo.base / 'ready.json').read_text()).get('built_in_s')} s", file=sys.stderr)
        return 0
    ctx = Ctx(args.cache, args.runs, args.warmup)
    if args.baseline_src is not None:
        ctx.baseline = baseline_hooks(args.cache, args.baseline_src.resolve())
    sha, dirty = commit_id()
    info = machine()
    results: list[Result] = []
    t_start = time.perf_counter()
    for name in names:
        print(f"… {name}  (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
        before = os.getloadavg()[0]
        t0 = time.perf_counter()
        res = cases[name](ctx)
        res.load = (before, os.getloadavg()[0])
        res.extra["case_seconds"] = round(time.perf_counter() - t0, 1)
        ctx.results[name] = res
        results.append(res)
        print(f"  {res.figure or 'done'}  ({res.extra['case_seconds']} s)", file=sys.stderr, flush=True)
    info["loadavg_end"] = os.getloadavg()
    header = [
        f"commit {sha}{' plus uncommitted changes' if dirty else ''}",
        f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['platform']}, Python {info['python']}, {info['git']}",
        f"load average (1/5/15 min) at start {'/'.join(f'{x:.2f}' for x in info['loadavg_start'])}, "
        f"at end {'/'.join(f'{x:.2f}' for x in info['loadavg_end'])}; {args.runs} runs after {args.warmup} warm-up, interleaved",
        "",
    ]
    print("\n".join(header) + table(results))
    growth = [
        (ctx.results.get(f"commit-10k-n5000-k1000-{m}"), ctx.results.get(f"commit-100k-n5000-k1000-{m}")) for m in ("observed", "guarded")
    ]
    for small, large in growth:
        if small and large:
            a, b = small.extra["pre_commit_overhead_ms"], large.extra["pre_commit_overhead_ms"]
            print(f"\ngrowth with tracked files ({large.params['mode']}, N=5,000, K=1,000): 10k {a:+.0f} ms -> 100k {b:+.0f} ms")
    out = args.json or HERE / f"results-{sha[:12]}{'-dirty' if dirty else ''}.json"
    out.write_text(json.dumps({
        "commit": sha, "dirty": dirty, "machine": info, "runs": args.runs, "warmup": args.warmup,
        "seconds": round(time.perf_counter() - t_start, 1), "cases": [r.to_json() for r in results],
    }, indent=1) + "\n")
    print(f"\n(JSON: {out})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
