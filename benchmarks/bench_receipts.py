"""Receipt costs: sign + append one receipt, read_all of N notes, verify_range of N commits.

    python benchmarks/bench_receipts.py [N ...]     (default 100 1000; prints ms, median of runs)

Builds throwaway repos in a temp dir: N linear commits (one fast-import), one allowed receipt each.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from switchman.checkpoint.keys import Signer
from switchman.receipts import envelope, notes
from switchman.receipts.verify import commit_facts, decide, range_facts, verify_range

KEY = Signer.from_seed("bench", bytes(32))


def git(root: str, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=root, input=input, capture_output=True, check=True).stdout.decode()


def build(n: int) -> tuple[str, list[str]]:
    root = tempfile.mkdtemp(prefix=f"receipts-bench-{n}-")
    git(root, "init", "-q", "-b", "main")
    stream = []
    for i in range(n):
        body = f"{i}\n".encode()
        parent = b"from :%d\n" % i if i else b""
        stream.append(b"commit refs/heads/main\nmark :%d\ncommitter B <b@x> %d +0000\ndata 2\nc\n%s"
                      b"M 100644 inline f%d.txt\ndata %d\n%s\n" % (i + 1, 1_700_000_000 + i, parent, i % 50, len(body), body))
    git(root, "fast-import", "--quiet", input=b"".join(stream))
    return root, git(root, "rev-list", "--reverse", "main").split()


def line_for(f) -> str:  # type: ignore[no-untyped-def]
    st = envelope.build_statement(f.commit, tree=f.tree, parents=f.parents, verdict="allowed", mode="guarded",
                                  operation="commit", changes=f.changes, worktree="w", task_id="t", lease_id="l",
                                  audit_sequence=1, entry_hash="0" * 64)
    return envelope.receipt_line(st, KEY)


def ms(fn, runs: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def one_size(n: int) -> str:
    root, commits = build(n + 1)  # commits[0] is the base: N commits to verify
    facts = commit_facts(root, commits)
    lines = {f.commit: [line_for(f)] for f in facts}
    notes.append(root, dict(list(lines.items())[:-5]))
    last = iter(commits[-5:])
    one = ms(lambda: notes.append(root, {(c := next(last)): lines[c]}))
    sign = ms(lambda: line_for(facts[0]), runs=50)
    read = ms(lambda: notes.read_all(root))
    spawn = ms(lambda: git(root, "rev-parse", "HEAD"))
    facts_ms = ms(lambda: range_facts(root, commits[0], "main"))
    rf, al = range_facts(root, commits[0], "main"), notes.read_all(root)
    decide_ms = ms(lambda: decide(rf, al, [KEY.verifier]))
    verify = ms(lambda: verify_range(root, commits[0], "main", [KEY.verifier]))
    report = verify_range(root, commits[0], "main", [KEY.verifier])
    assert report.ok and len(report.commits) == n, report.summary
    return (f"N={n}: sign one {sign:.2f} ms · append one (over {n - 4} notes) {one:.1f} ms · "
            f"read_all {n + 1} notes {read:.1f} ms · verify_range {n} commits {verify:.1f} ms "
            f"(git log {facts_ms:.1f}, decide {decide_ms:.1f}) · one `git rev-parse` {spawn:.1f} ms")


def main(sizes: list[int]) -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for n in sizes:
        print(one_size(n))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000])
