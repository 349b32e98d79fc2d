"""Audit appends per second: in-process batches and transactions, and 8 processes at once."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_hooks import run
from lib.config import PY, TARGET_APPENDS, WORKERS
from lib.measure import Ctx, Result, interleave
from lib.procs import git
from lib.repos import (
    Repo,
    start,
    sw,
)

APPEND_WORKER = str(WORKERS / "append.py")
CHECKPOINT_WORKER = str(WORKERS / "checkpoint.py")


def fresh_store(ctx: Ctx) -> tuple[Repo, Path]:
    base = Path(tempfile.mkdtemp(prefix="appends-", dir=ctx.cache))
    env, root = start(base)
    git(root, env, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "--allow-empty", "-m", "init")
    repo = Repo(base, 0, env, {})
    sw(repo, "init")
    return repo, root / ".switchman"


def appends_inprocess_case(ctx: Ctx) -> Result:
    repo, state = fresh_store(ctx)
    xdg = repo.env["XDG_CONFIG_HOME"]
    per = {"batch of 1,000 (append_many)": ("batch", 1000), "1 event per transaction": ("single", 1000)}

    def one(name: str) -> Callable[[int], float]:
        mode, count = per[name]

        def go(_r: int) -> float:
            out = run([PY, APPEND_WORKER, str(state), mode, xdg, str(count), "agent-a"], repo.root, repo.env).decode().split()
            return count / float(out[0])  # events/s

        return go

    def checkpointed(_r: int) -> float:
        out = run([PY, CHECKPOINT_WORKER, str(state), xdg, "50"], repo.root, repo.env).decode().split()
        return 50 / float(out[0])

    variants = {name: one(name) for name in per}
    variants["1 event per transaction + signed checkpoint"] = checkpointed
    samples = interleave(variants, ctx.runs, ctx.warmup)
    rows = repo.audit_rows()
    ok = sw(repo, "audit", "verify", "--json")
    shutil.rmtree(repo.base, ignore_errors=True)
    res = Result("appends-inprocess", {"events_per_run": 1000}, samples, unit="events/s")
    worst = min(statistics.median(samples[k]) for k in per)
    res.target = f"≥ {TARGET_APPENDS:,.0f} events/s"
    res.figure = ", ".join(f"{statistics.median(samples[k]):,.0f}/s" for k in per)
    res.met = worst >= TARGET_APPENDS
    res.extra["verify_after"] = json.loads(ok)["ok"]
    res.extra["rows"] = rows
    return res


def appends_8proc_case(ctx: Ctx) -> Result:
    repo, state = fresh_store(ctx)
    xdg = repo.env["XDG_CONFIG_HOME"]
    per_proc = 250
    errors_total = 0

    def go(_r: int) -> float:
        nonlocal errors_total
        t0 = time.perf_counter()
        ps = [
            subprocess.Popen([PY, APPEND_WORKER, str(state), "single", xdg, str(per_proc), f"w{j}"], cwd=repo.root,
                             env=repo.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for j in range(8)
        ]
        for p in ps:
            out, err = p.communicate()
            errors_total += int(out.split()[1]) if p.returncode == 0 else per_proc
        return 8 * per_proc / (time.perf_counter() - t0)

    samples = interleave({"8 processes, 1 event per transaction": go}, ctx.runs, ctx.warmup)
    ok = json.loads(sw(repo, "audit", "verify", "--json"))["ok"]
    shutil.rmtree(repo.base, ignore_errors=True)
    res = Result("appends-8proc", {"processes": 8, "events_per_process": per_proc}, samples, unit="events/s")
    res.extra.update(errors=errors_total, verify_after=ok)
    res.figure = f"{res.med('8 processes, 1 event per transaction'):,.0f}/s, {errors_total} errors, verify {'ok' if ok else 'FAILED'}"
    return res
