#!/usr/bin/env python3
"""Where a pre-commit (or post-commit) hook spends its time, in real commits.

Runs N commits of K staged files in one of benchmarks/run.py's cached repositories with a hook
that wraps the gate's steps in timers (wall clock, ms) and prints the median of each step. The
hook is the real one (`switchman.hookrun`), started the way the installed script starts it; the
timers only wrap functions. Complements `python -X importtime` (imports) and benchmarks/run.py
(end-to-end overhead against a commit without hooks).

    .venv/bin/python benchmarks/profile_hook.py --repo pair-100000-n5000 -k 1000 -n 15
    .venv/bin/python benchmarks/profile_hook.py --repo pair-10000-n10 -k 10 --hook post-commit
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lib.config import DEFAULT_CACHE  # noqa: E402
from lib.content import content_of, path_of  # noqa: E402
from lib.procs import git  # noqa: E402
from lib.repos import build_pair  # noqa: E402

# Runs inside the hook process: times the steps, then the real hook entry point.
HOOK = r"""
import os, sys, time
T0 = time.perf_counter()
sys.path[:1] = []
import switchman.hookrun as h
T1 = time.perf_counter()
import switchman.gates.commit as g, switchman.gates.history as gh, switchman.checkpoint.writer as cp, switchman.ownership as own
import switchman.fingerprints as fp, switchman.ops.validation as val, switchman.repo as repo
import switchman.store.snapshots as snap
from switchman.store import sqlite as con
T2 = time.perf_counter()
log = []
def wrap(obj, name, label):
    f = getattr(obj, name, None)
    if f is None:  # the code moved: update the names below (they are what the hook calls)
        raise SystemExit(f"profile_hook: {getattr(obj, '__name__', obj)} has no {name!r}")
    def w(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            log.append((label, (time.perf_counter() - t) * 1000))
    setattr(obj, name, w)
wrap(repo, "locate", "git rev-parse (locate)")
wrap(h, "_prefetch", "start prefetched git commands")
wrap(h, "_warm_signer", "import cryptography (ed25519)")
wrap(fp, "staged_changes", "diff-index: wait + parse")
wrap(repo.GitProcess, "result", "waiting for git (every command, incl. the above)")
wrap(fp, "worktree_changes", "git status + hash changed files")
wrap(g, "resolve_worktree", "resolve worktree")
wrap(gh, "resolve_worktree", "resolve worktree")  # post-commit's own import of it
wrap(g, "load_context", "ownership: claims + scopes")
wrap(snap, "diff_snapshot", "snapshot diff")
wrap(g, "record_observations", "write_observed rows (judge + append)")
wrap(con.Tx, "audit_many", "audit rows (Tx.audit_many, every batch)")
wrap(val, "evaluate_lease", "boundary validation")
wrap(val, "record_touched_paths", "dependency check (other tasks' scopes)")
wrap(cp, "write_checkpoint", "signed checkpoint (sign + ref)")
wrap(gh, "_head", "rev-parse HEAD: wait")
wrap(gh, "prepare_record", "prepare the record (git facts)")
wrap(gh, "write_receipts", "receipts (sign + notes)")
_open = con.Store.open.__func__
def opener(cls, *a, **k):
    t = time.perf_counter()
    store = _open(cls, *a, **k)
    log.append(("open store", (time.perf_counter() - t) * 1000))
    return store
con.Store.open = classmethod(opener)
h._FAST_EXIT = True
t = time.perf_counter()
code = h.run(sys.argv[1], sys.argv[2:])
T3 = time.perf_counter()
with open(os.environ["PROFILE_LOG"], "a") as out:
    out.write(f"import switchman.hookrun\t{(T1 - T0) * 1000}\n")
    out.write(f"import the gate modules\t{(T2 - T1) * 1000}\n")
    for label, ms in log:
        out.write(f"{label}\t{ms}\n")
    out.write(f"hook total (after interpreter start)\t{(T3 - T0) * 1000}\n")
sys.stdout.flush(); sys.stderr.flush()
os._exit(code)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--repo", default="pair-10000-n10", help="a pair-<files>-n<N> repository (built if missing)")
    ap.add_argument("-k", type=int, default=10, help="staged files per commit")
    ap.add_argument("-n", type=int, default=15, help="commits")
    ap.add_argument("--hook", choices=["pre-commit", "post-commit"], default="pre-commit")
    args = ap.parse_args()
    _, files, n = args.repo.split("-")
    repo = build_pair(args.cache, int(files), int(n[1:]))
    repo.heartbeat()
    a = repo.worktrees["agent-a"]
    with tempfile.TemporaryDirectory() as tmp:
        hooks = Path(tmp)
        script = hooks / "hook.py"
        script.write_text(HOOK)
        (hooks / args.hook).write_text(f'#!/bin/sh\nexec "{sys.executable}" -E "{script}" {args.hook} "$@"\n')
        os.chmod(hooks / args.hook, 0o755)
        log = hooks / "profile.log"
        env = {**repo.env, "PROFILE_LOG": str(log)}
        if args.hook == "post-commit":  # the pre-commit hook too, as installed, untimed
            (hooks / "pre-commit").write_bytes((repo.precommit_only / "pre-commit").read_bytes())
            os.chmod(hooks / "pre-commit", 0o755)
        paths = [path_of(i) for i in range(args.k)]
        samples: dict[str, list[float]] = defaultdict(list)
        order: list[str] = []
        for c in range(args.n + 1):
            rev = int(time.time() * 1000) + c
            for i, p in enumerate(paths):
                (a / p).write_bytes(content_of(i, rev))
            git(a, repo.env, "add", "--pathspec-from-file=-", "--pathspec-file-nul", input="\0".join(paths).encode())
            log.write_text("")
            proc = subprocess.run(["git", "-c", f"core.hooksPath={hooks}", "commit", "-q", "-m", f"profile {c}"], cwd=a, env=env)
            if proc.returncode != 0:
                raise SystemExit("commit failed")
            if c == 0:
                continue  # warm-up
            seen: dict[str, float] = defaultdict(float)
            for line in log.read_text().splitlines():
                label, ms = line.rsplit("\t", 1)
                seen[label] += float(ms)
                if label not in order:
                    order.append(label)
            for label, ms in seen.items():
                samples[label].append(ms)
    print(f"{args.hook}, {args.repo}, K={args.k}: median of {args.n} commits (load {os.getloadavg()[0]:.2f})")
    print("| step | ms |\n|---|---:|")
    for label in order:
        print(f"| {label} | {statistics.median(samples[label]):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
