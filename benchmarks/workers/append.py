"""Append audit events to a store and print "<seconds> <errors>".

argv: state dir, "batch" | "single", XDG_CONFIG_HOME, count, worktree tag."""

import os
import sys
import time

os.environ["XDG_CONFIG_HOME"] = sys.argv[3]
from switchman.checkpoint import writer as checkpoints
from switchman.store import sqlite_audit
from switchman.store.sqlite import Store

store = Store.open(sys.argv[1])
mode, count, tag = sys.argv[2], int(sys.argv[4]), sys.argv[5]
errors = 0
t0 = time.perf_counter()
with checkpoints.suspended():
    if mode == "batch":
        def fn(tx):
            rows = sqlite_audit.append_many(tx.conn, tx.store.key(), [
                {"event_type": "write_observed", "status": "allowed", "reason_code": "path_claimed",
                 "worktree": "agent-a", "task_id": "task-1", "lease_id": "lease-1",
                 "file_path": f"src/m000/d00/f{i:05d}.py",
                 "details": {"fingerprint": f"{i:040x}", "kind": "staged", "source": "bench"}} for i in range(count)])
            tx.appended.extend(rows)
        store.write(fn)
    else:
        for i in range(count):
            try:
                store.write(lambda tx, i=i: tx.audit("write_observed", "allowed", reason_code="path_claimed",
                    worktree=tag, task_id="task-1", lease_id="lease-1", file_path=f"src/{tag}/f{i:05d}.py",
                    details={"fingerprint": f"{i:040x}", "kind": "staged", "source": "bench"}))
            except Exception as exc:  # counted, reported
                errors += 1
                print(f"error: {exc}", file=sys.stderr)
print(f"{time.perf_counter() - t0} {errors}")
