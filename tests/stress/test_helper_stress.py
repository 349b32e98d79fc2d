"""The warm helper under fire (issue 15): killed mid-hook, swapped for another version, a full spool.

Four agents commit at once through the installed hooks while a killer SIGKILLs the helper and
its forks at random and another thread keeps presenting a client of another version (which
retires the helper). The spool starts with 150 commits waiting. Afterwards every commit is
recorded exactly once, nothing is left spooled, and the trail verifies.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from switchman import helperstate, spool
from testing.gates import Env, commit, head, settle
from testing.git import add_worktree, git, write
from testing.helper import children, other_version

AGENTS = 4
COMMITS = 6
PREFILLED = 150


def _prefill(env: Env) -> list[str]:
    """PREFILLED real commits (off any branch) waiting in the spool, as a long rebase leaves them."""
    tree = git(env.a, "rev-parse", "HEAD^{tree}").strip()
    parent = head(env.a)
    made = []
    for i in range(PREFILLED):
        parent = git(env.a, "commit-tree", tree, "-p", parent, "-m", f"spooled {i}").strip()
        made.append(parent)
        spool.append(str(env.root / ".git"), [parent, "agent-a", "", "", "commit", "", "", "", ""])
    return made


def test_helper_killed_swapped_and_a_full_spool(env: Env, tmp_path: Path) -> None:
    worktrees = [env.a, env.b] + [add_worktree(env.root, f"agent-{c}") for c in "cd"]
    env.cli.ok("worktree", "sync")
    waiting = _prefill(env)
    client_of_other = other_version(tmp_path, "9.9.9-swapped")
    common = str(env.root / ".git")
    stop = threading.Event()
    kills = {"n": 0}

    def killer() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            time.sleep(rng.uniform(0.05, 0.25))
            state = helperstate.status(common)
            if state.pid:
                victims = children(state.pid) + ([state.pid] if rng.random() < 0.5 else [])
                for pid in victims:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        kills["n"] += 1
                    except ProcessLookupError:
                        pass

    def swapper() -> None:
        while not stop.is_set():
            time.sleep(0.4)
            subprocess.run([sys.executable, "-E", "-S", str(client_of_other), "pre-commit"],
                           cwd=env.a, capture_output=True, env={**os.environ, "SWITCHMAN_DOCTOR_PROBE": "1"})

    made: list[list[str]] = [[] for _ in worktrees]
    errors: list[str] = []

    def agent(i: int, wt: Path) -> None:
        for n in range(COMMITS):
            write(wt / f"area{i}" / "f.txt", f"{n}\n")
            git(wt, "add", "-A", "--", f"area{i}")
            res = commit(wt, f"agent {i} commit {n}")
            if res.code != 0:
                errors.append(res.err)
                continue
            made[i].append(head(wt))

    helpers = [threading.Thread(target=killer), threading.Thread(target=swapper)]
    agents = [threading.Thread(target=agent, args=(i, wt)) for i, wt in enumerate(worktrees)]
    for t in helpers + agents:
        t.start()
    for t in agents:
        t.join(300)
    stop.set()
    for t in helpers:
        t.join(10)

    assert errors == [] and all(len(m) == COMMITS for m in made), errors  # observed: nothing refused
    settle(env.root)
    assert not list((env.root / ".git" / spool.SPOOL).iterdir())
    rows = [json.loads(e["details"]) for e in env.events("commit_recorded", limit=10_000) + env.events("commit_gate_bypassed", limit=10_000)]
    counts: dict[str, int] = {}
    for d in rows:
        counts[d["commit"]] = counts.get(d["commit"], 0) + 1
    everything = [c for m in made for c in m] + waiting
    assert {c: counts.get(c, 0) for c in everything} == {c: 1 for c in everything}
    assert env.cli.json("audit", "verify")["ok"]
    assert kills["n"] > 0
