"""Time `audit verify` on a large log, and the cost of one signed checkpoint.

Builds a real git repo in a temp dir, runs `switchman-hook init` (with a private
XDG_CONFIG_HOME, so no key lands in your config), bulk-inserts N correctly chained and signed
audit rows (default 100,000), rebuilds the Merkle state and signs one checkpoint. Then it times:

- `switchman-hook audit verify --json` end to end (subprocess: interpreter start, imports, git);
- the in-process verify (HMAC chain + Merkle recomputation + checkpoint/reflog checks);
- `write_checkpoint` after a one-row append (hot: cryptography already imported), K times;
- one append + checkpoint in a fresh process (cold: what a hook pays, imports included).

Usage: python benchmarks/bench_audit_verify.py [N] [K]
Targets (issue 5): verify of 100k events < 3 s; a checkpoint <= 50 ms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from switchman import audit  # noqa: E402
from switchman.checkpoint import verify as cpverify  # noqa: E402
from switchman.checkpoint import writer as checkpoints  # noqa: E402
from switchman.store import audit_log  # noqa: E402
from switchman.store.sqlite import Store  # noqa: E402

BIN = Path(sys.executable).parent
CONSOLE = str(BIN / "switchman-hook")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def bulk_rows(store: Store, n: int) -> None:
    """Append n rows with correct sequence, chain, entry hash and HMAC, in one transaction."""
    key = store.key()
    last = store.conn.execute(
        "SELECT sequence, entry_hash FROM audit_log WHERE sequence IS NOT NULL ORDER BY sequence DESC LIMIT 1"
    ).fetchone()
    seq, prev = (last[0], last[1]) if last else (0, None)
    rows = []
    for i in range(seq + 1, seq + n + 1):
        event = {
            "sequence": i,
            "prev_hash": prev,
            "event_type": "write_observed",
            "status": "allowed",
            "reason_code": "path_claimed",
            "worktree": f"agent-{i % 4}",
            "task_id": f"task-{i % 97}",
            "lease_id": f"lease-{i % 97}",
            "file_path": f"src/pkg{i % 300}/module_{i}.py",
            "details": f'{{"fingerprint":"{i:040x}"}}',
            "created_at": "2026-01-01T00:00:00.000Z",
        }
        digest = audit.entry_hash(event)
        rows.append(
            (
                event["event_type"], event["status"], event["reason_code"], event["worktree"], event["task_id"],
                event["lease_id"], event["file_path"], event["details"], event["created_at"], i, prev, digest,
                audit.sign(key, digest),
            )
        )
        prev = digest
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO audit_log (event_type, status, reason_code, worktree, task_id, lease_id, file_path, details, "
        "created_at, sequence, prev_hash, entry_hash, signature) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    audit_log.tree_rebuild(conn)
    conn.execute("COMMIT")


COLD = """
import sys, time
t0 = time.perf_counter()
from switchman.checkpoint import writer as checkpoints
from switchman.store.sqlite import Store
store = Store.open(sys.argv[1])
with checkpoints.suspended():
    store.write(lambda tx: tx.audit("task_created", "info", task_id="cold"))
t1 = time.perf_counter()
res = checkpoints.write_checkpoint(store)
t2 = time.perf_counter()
assert res.written, res
print(f"{(t1 - t0) * 1000:.1f} {(t2 - t1) * 1000:.1f}")
"""


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with tempfile.TemporaryDirectory(prefix="switchman-bench-") as tmp:
        os.environ["XDG_CONFIG_HOME"] = os.path.join(tmp, "xdg")
        for var in [v for v in os.environ if v.startswith("GIT_")]:
            del os.environ[var]
        repo = Path(tmp) / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        git(repo, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "--allow-empty", "-m", "init")
        subprocess.run([CONSOLE, "init"], cwd=repo, check=True, capture_output=True)
        state = str(repo / ".switchman")
        store = Store.open(state)
        t = time.perf_counter()
        bulk_rows(store, n)
        build = time.perf_counter() - t
        res = checkpoints.write_checkpoint(store)
        assert res.written, res
        print(f"built {res.size} events in {build:.1f} s (bulk insert, not timed below)")

        # verify, end to end
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            proc = subprocess.run([CONSOLE, "audit", "verify", "--json"], cwd=repo, capture_output=True, text=True)
            runs.append(time.perf_counter() - t)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        print(f"`audit verify --json` on {res.size} events (CLI, end to end): best {min(runs):.2f} s, median {statistics.median(runs):.2f} s")

        # verify, in process, split into its parts
        from switchman.repo import locate

        paths = locate(repo)
        t = time.perf_counter()
        leaves: list[bytes] = []
        result = audit_log.verify(store.conn, store.key(), leaves=leaves)
        t_chain = time.perf_counter() - t
        t = time.perf_counter()
        status = cpverify.verify_checkpoint(paths, store, leaves=leaves)
        t_tree = time.perf_counter() - t
        assert result.ok and status.ok, (result.failures[:3], status.failures[:3])
        print(f"  in process: HMAC chain + leaf hashes {t_chain:.2f} s, Merkle root + checkpoint/reflog checks {t_tree:.2f} s")

        # one checkpoint after a one-row append, hot
        costs = []
        for i in range(k):
            with checkpoints.suspended():
                store.write(lambda tx, i=i: tx.audit("task_created", "info", task_id=f"bench-{i}"))
            t = time.perf_counter()
            res = checkpoints.write_checkpoint(store)
            costs.append((time.perf_counter() - t) * 1000)
            assert res.written, res
        costs.sort()
        print(
            f"checkpoint after an append (in process, {k} runs, log of {res.size}): "
            f"median {statistics.median(costs):.1f} ms, p90 {costs[int(len(costs) * 0.9) - 1]:.1f} ms, max {costs[-1]:.1f} ms"
        )

        # one checkpoint in a fresh process: what a hook pays, cryptography import included
        cold = []
        for _ in range(5):
            out = subprocess.run([sys.executable, "-c", COLD, state], capture_output=True, text=True, check=True).stdout
            cold.append(float(out.split()[1]))
        print(f"checkpoint in a fresh process (imports included): median {statistics.median(cold):.1f} ms")
        store.close()


if __name__ == "__main__":
    main()
