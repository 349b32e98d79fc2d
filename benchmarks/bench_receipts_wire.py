"""Receipts wired in: the added cost per recorded commit, and `gate ci` end to end.

    python benchmarks/bench_receipts_wire.py [N ...]     (default 100 1000)

1. Per commit: `write_receipts` (one `git log` for the facts, one Ed25519 signature, notes.append's
   `cat-file` + `fast-import` + `update-ref`) for the real recording row of a real hooked commit,
   the notes ref deleted before each round so every round writes.
2. `switchman-hook gate ci --base FIRST --trusted-keys FILE --json` as a process, in a repo of N
   commits with one allowed receipt each (what CI runs in a fresh clone).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_receipts import KEY, build, line_for  # noqa: E402

from switchman.receipts import notes  # noqa: E402
from switchman.receipts.verify import range_facts  # noqa: E402


def git(root: str, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, check=True).stdout.decode()


def per_commit(rounds: int = 15) -> float:
    from switchman.install import install
    from switchman.receipts.record import write_receipts
    from switchman.repo import locate
    from switchman.state import open_store

    root = tempfile.mkdtemp(prefix="receipts-hook-")
    git(root, "init", "-q", "-b", "main")
    with open(os.path.join(root, "a.txt"), "w") as fh:
        fh.write("a\n")
    git(root, "add", "a.txt")
    git(root, "-c", "user.name=B", "-c", "user.email=b@x", "commit", "-q", "-m", "one")
    subprocess.run(["switchman-hook", "init"], cwd=root, capture_output=True, check=True)
    paths = locate(root)
    install(paths)
    with open(os.path.join(root, "a.txt"), "w") as fh:
        fh.write("b\n")
    git(root, "add", "a.txt")
    git(root, "-c", "user.name=B", "-c", "user.email=b@x", "commit", "-q", "-m", "two")
    store = open_store(paths)
    row = store.one("SELECT * FROM audit_log WHERE event_type = 'commit_recorded' ORDER BY sequence DESC LIMIT 1")
    assert row is not None
    from types import SimpleNamespace

    rec = SimpleNamespace(**row)
    times = []
    for _ in range(rounds):
        git(root, "update-ref", "-d", notes.REF)
        t = time.perf_counter()
        written = write_receipts(paths, store, [rec], mode="guarded")
        times.append((time.perf_counter() - t) * 1000)
        assert written, "no receipt written"
    return statistics.median(times)


def gate_ci(n: int, runs: int = 3) -> float:
    root, commits = build(n)
    facts = range_facts(root, commits[0], commits[-1])
    notes.append(root, {f.commit: [line_for(f)] for f in facts})
    keys = os.path.join(root, "..", f"keys-{n}.txt")
    with open(keys, "w") as fh:
        fh.write(KEY.verifier.text + "\n")
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(["switchman-hook", "gate", "ci", "--base", commits[0], "--trusted-keys", keys, "--json"],
                              cwd=root, capture_output=True)
        times.append((time.perf_counter() - t) * 1000)
        assert proc.returncode == 0, proc.stderr.decode()
    return statistics.median(times)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000]
    print(f"receipt per recorded commit (write_receipts): {per_commit():.1f} ms")
    for n in sizes:
        print(f"gate ci --base, {n} commits (process, fresh-clone mode): {gate_ci(n):.0f} ms")


if __name__ == "__main__":
    main()
