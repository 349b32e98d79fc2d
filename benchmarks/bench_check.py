#!/usr/bin/env python3
"""`check` and `agent-hook claude-code` at scale (issue 16): what an agent pays before every edit.

The repository is run.py's `pair` layout: 10k files; agent-b holds 5,000 claims and 5,000 glob
scopes (lib.content.scope_globs); agent-a holds 1,000 claims. Times, as separate processes (what an
agent really runs), the median of --runs of:

* `check` of 1 path agent-a owns, of 1 path agent-b holds, of 20 paths (owned and held), and of
  unclaimed paths judged by the scopes: inside one of agent-b's `dir/**` scopes, inside one of its
  compiled globs (`gen_K_*.py`: `pathspec` is imported), and in no scope at all;
* `agent-hook claude-code` with a Write payload on a held path (deny) and on an owned one;
* the in-process judgement alone (`ops.agents.check`, store opened once).

    .venv/bin/python benchmarks/bench_check.py            # target: check <= 60 ms per call
    .venv/bin/python benchmarks/bench_check.py --runs 21
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_hooks import CONSOLE  # noqa: E402
from lib.config import DEFAULT_CACHE  # noqa: E402
from lib.content import path_of  # noqa: E402
from lib.repos import build_pair  # noqa: E402

TARGET_MS = 60.0


Sample = tuple[float, float, float, float]  # wall median, min, max; CPU median (ms)


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def timed(args: list[str], cwd: Path, env: dict[str, str], runs: int, input: bytes | None = None) -> Sample:
    """One discarded warm-up (it writes any missing bytecode), then `runs` timed processes.

    CPU time (the process and the git it runs, user + system) is given beside the wall time: on
    a shared machine it is what the load does not inflate."""
    subprocess.run(args, cwd=cwd, env=env, input=input, capture_output=True)
    samples, cpu = [], []
    for _ in range(runs):
        c0, t0 = _cpu(), time.perf_counter()
        subprocess.run(args, cwd=cwd, env=env, input=input, capture_output=True)
        samples.append((time.perf_counter() - t0) * 1000)
        cpu.append((_cpu() - c0) * 1000)
    return statistics.median(samples), min(samples), max(samples), statistics.median(cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=5_000)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    opts = ap.parse_args()
    repo = build_pair(opts.cache, opts.files, opts.n)
    repo.heartbeat()
    load_before = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    a = repo.worktrees["agent-a"]
    # What an installed tool costs: its bytecode cached (a wheel install compiles it; this
    # environment may set PYTHONDONTWRITEBYTECODE, which would recompile every run).
    env = {k: v for k, v in repo.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    own, held = path_of(0), path_of(opts.files - 1)
    many = [path_of(i) for i in range(10)] + [path_of(opts.files - 1 - i) for i in range(10)]
    # Unclaimed paths the scopes decide (scope_globs: module 1 is agent-b's first).
    in_dir_scope, in_glob_scope, unscoped = "src/m001/d00/s0/new.py", "src/m001/d00/gen_0_new.py", "notes/new.txt"
    rows: list[tuple[str, Sample]] = []
    cli = [str(CONSOLE)]
    rows.append(("switchman-hook --version (click, process floor before)", timed([*cli, "--version"], a, env, opts.runs)))
    rows.append(("check 1 owned path", timed([*cli, "check", own, "--json"], a, env, opts.runs)))
    rows.append(("check 1 held path (refused)", timed([*cli, "check", held, "--json"], a, env, opts.runs)))
    rows.append(("check 20 paths", timed([*cli, "check", *many, "--json"], a, env, opts.runs)))
    rows.append(("check 1 path in a foreign dir/** scope", timed([*cli, "check", in_dir_scope, "--json"], a, env, opts.runs)))
    rows.append(("check 1 path in a foreign glob scope", timed([*cli, "check", in_glob_scope, "--json"], a, env, opts.runs)))
    rows.append(("check 1 path in no claim or scope", timed([*cli, "check", unscoped, "--json"], a, env, opts.runs)))
    rows.append(("check 1 owned path, text output", timed([*cli, "check", own], a, env, opts.runs)))
    rows.append(("whoami --json", timed([*cli, "whoami", "--json"], a, env, opts.runs)))
    for label, rel in (("deny", held), ("allow", own)):
        payload = json.dumps({"cwd": str(a), "tool_name": "Write", "tool_input": {"file_path": str(a / rel), "content": ""}})
        rows.append((f"agent-hook claude-code ({label})", timed([*cli, "agent-hook", "claude-code"], a, env, opts.runs, payload.encode())))
    code = (
        "import sys,time,statistics;from switchman.repo import locate;from switchman.state import open_store;"
        "from switchman.ops import agents;p=locate(sys.argv[1]);s=open_store(p);t=[]\n"
        "for _ in range(int(sys.argv[3])):\n"
        " t0=time.perf_counter();agents.check(s,[sys.argv[2]],toplevel=p.toplevel,cwd=p.toplevel,worktree=None,"
        "stale_minutes=15,generated_globs=());t.append((time.perf_counter()-t0)*1000)\n"
        "print(statistics.median(t))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(a), held, str(opts.runs)], env=env, capture_output=True, text=True)
    inproc = float(out.stdout.strip() or "nan")
    rows.append(("ops.agents.check in process, store open, repeated (1 held path)", (inproc, inproc, inproc, inproc)))
    load_after = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"| {opts.files} files, {opts.n} foreign claims + {opts.n} globs | wall median / min / max ms ({opts.runs} runs) | CPU median ms |")
    print("|---|---:|---:|")
    for label, (med, lo, hi, cpu) in rows:
        print(f"| {label} | {med:.1f} / {lo:.1f} / {hi:.1f} | {cpu:.1f} |")
    print(f"\nload average (1/5/15 min) before: {load_before}, after: {load_after}")
    worst = max(med for label, (med, _, _, _) in rows if label.startswith("check"))
    print(f"\ncheck target <= {TARGET_MS:.0f} ms per call: {'met' if worst <= TARGET_MS else 'NOT met'} (worst {worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
