"""One agent of the concurrency torture (run as a separate process by test_concurrency_torture).

Mixed operations in a loop, as an agent would do them: lease heartbeat, claim/release of files
every agent competes for, real `git commit` in its own linked worktree through the installed hooks, `git push` (pre-push gate),
`monitor once`, `audit verify`, reads. CLI operations call the real entry point in-process (store open, BEGIN
IMMEDIATE, close: exactly what the console script does, without paying Python start-up for each);
commits spawn git, which runs the installed hook scripts. Writes a JSON report: every operation's
outcome and the audit events this agent expects to find afterwards.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout

SHARED = [f"shared/f{k}.txt" for k in range(6)]


def main() -> int:
    cfg = json.loads(sys.argv[1])
    from switchman.cli import main as cli_main

    root, wt, name, task, lease = cfg["root"], cfg["path"], cfg["name"], cfg["task"], cfg["lease"]
    area, ops, rng = cfg["area"], cfg["ops"], random.Random(cfg["seed"])
    trace = cfg["trace"]
    report: dict = {"name": name, "ops": [], "expect": {}}
    expect = report["expect"]
    held: set[str] = set()
    env = {**os.environ, "GIT_TRACE2_EVENT": trace}

    def bump(key: str, n: int = 1) -> None:
        expect[key] = expect.get(key, 0) + n

    def cli(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = cli_main(["-C", root, *args])
        return code, out.getvalue(), err.getvalue()

    def record(op: str, ok: bool, code: int, took: float, err: str) -> None:
        report["ops"].append({"op": op, "ok": ok, "code": code, "secs": round(took, 4), "err": err[-2000:]})

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=wt, capture_output=True, text=True, env=env)

    commits = 0
    for i in range(ops):
        roll = rng.random()
        t0 = time.perf_counter()
        if roll < 0.18:
            code, _, err = cli("lease", "heartbeat", lease)
            ok = code == 0
            if ok:
                bump(f"lease_heartbeated|lease|{lease}")
            record("heartbeat", ok, code, time.perf_counter() - t0, err)
        elif roll < 0.38:
            path = rng.choice([p for p in SHARED if p not in held] or SHARED)
            code, out, err = cli("claim", task, name, path, "--json")
            ok = code in (0, 1) and (code == 0 or err.startswith("error: ")) and "locked" not in err
            if code == 0 and path not in held:
                held.add(path)
                bump(f"file_claimed|task|{task}")
            record("claim", ok, code, time.perf_counter() - t0, err)
        elif roll < 0.48:
            code, out, err = cli("release", task, "--json")
            ok = code == 0
            if ok:
                released = json.loads(out)["released"]
                got = len(released) if isinstance(released, list) else int(released)
                if got != len(held):
                    ok, err = False, f"released {got} claim(s), held {sorted(held)}: {out}"
                bump(f"claim_released|task|{task}", len(held))
                held.clear()
            record("release", ok, code, time.perf_counter() - t0, err)
        elif roll < 0.85:
            commits += 1
            rel = f"{area}/f{commits % 5}.txt"
            target = os.path.join(wt, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "a") as fh:
                fh.write(f"{name} op {i}\n")
            files = [rel]
            if held and rng.random() < 0.5:  # commit a shared file this agent holds a claim on
                shared = sorted(held)[0]
                full = os.path.join(wt, shared)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "a") as fh:
                    fh.write(f"{name} op {i}\n")
                files.append(shared)
            add = git("add", "--", *files)
            proc = git("commit", "-q", "-m", f"{name} op {i}")
            took = time.perf_counter() - t0
            ok = add.returncode == 0 and proc.returncode == 0
            if ok:
                bump(f"commit_gate|worktree|{name}")
                bump(f"commit_recorded|worktree|{name}")
            record("commit", ok, proc.returncode, took, add.stderr + proc.stderr)
        elif roll < 0.89:
            # Push this agent's branch: the pre-push gate checks provenance and verifies the trail.
            proc = git("push", "-q", cfg["remote"], f"HEAD:refs/heads/{name}")
            ok = proc.returncode == 0
            if ok or "push gate" in proc.stderr:
                bump(f"push_gate|worktree|{name}")
            record("push", ok, proc.returncode, time.perf_counter() - t0, proc.stderr)
        elif roll < 0.93:
            code, _, err = cli("monitor", "once", "--json")
            record("monitor", code == 0, code, time.perf_counter() - t0, err)
        elif roll < 0.97:
            # A reader verifying while everyone appends (what `audit verify`, doctor and CI do).
            code, out, err = cli("audit", "verify", "--json")
            ok = code == 0
            record("verify", ok, code, time.perf_counter() - t0, err if ok else err + out[-1500:])
        else:
            code, _, err = cli("claims", "--json")
            record("claims", code == 0, code, time.perf_counter() - t0, err)
    with open(cfg["out"], "w") as fh:
        json.dump(report, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
