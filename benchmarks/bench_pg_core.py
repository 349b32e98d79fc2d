"""PostgreSQL core costs (issue 14): throwaway-cluster start, one round trip over the unix socket and
TCP loopback, the server's canonical+HMAC (switchman/store/pg_audit.sql) for 1 and 1,000 rows, and
`import psycopg` in a fresh interpreter. Prints medians (min..max) of --runs rounds.

    python benchmarks/bench_pg_core.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testing.pg import start_cluster  # noqa: E402

KEY = "0" * 64
ONE_ROW = """
SELECT switchman_sign(%(key)s, switchman_entry_hash(
  1, NULL, 'write_observed', 'info', NULL, 'wt-a'::bytea, 'task-1', 'lease-1',
  'src/pkg/module_0001.py'::bytea, '{"bytes":123}'::bytea, '2026-11-24T18:33:00.123Z'))
"""
# 1,000 rows chained as the writing transaction chains them: each prev_hash is the previous hash.
CHAIN = """
DO $$
DECLARE prev text := NULL; h text;
BEGIN
  FOR i IN 1..%(n)s LOOP
    h := switchman_entry_hash(i, prev, 'write_observed', 'info', NULL, convert_to('wt-a', 'UTF8'),
           'task-1', 'lease-1', convert_to('src/pkg/d' || (i %% 50) || '/module_' || i || '.py', 'UTF8'),
           convert_to('{"bytes":' || i || '}', 'UTF8'), '2026-11-24T18:33:00.123Z');
    PERFORM switchman_sign('%(key)s', h);
    prev := h;
  END LOOP;
END $$
"""
# 1,000 independent rows in one statement (no chain): the per-row cost without PL/pgSQL's loop.
SET_1000 = """
SELECT count(switchman_sign(%(key)s, switchman_entry_hash(i, NULL, 'write_observed', 'info', NULL,
  convert_to('wt-a', 'UTF8'), 'task-1', 'lease-1', convert_to('src/pkg/{name}_' || i || '.py', 'UTF8'),
  convert_to('{{"bytes":' || i || '}}', 'UTF8'), '2026-11-24T18:33:00.123Z')))
FROM generate_series(1, 1000) AS i
"""
NON_UTF8_1000 = """
SELECT count(switchman_sign(%(key)s, switchman_entry_hash(i, NULL, 'write_observed', 'info', NULL,
  convert_to('wt-a', 'UTF8'), 'task-1', 'lease-1', '\\x6261645fff2f'::bytea || convert_to(i::text, 'UTF8'),
  NULL, '2026-11-24T18:33:00.123Z')))
FROM generate_series(1, 1000) AS i
"""


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def show(name: str, samples: list[float], unit: str = "ms") -> None:
    k = 1000.0 if unit == "ms" else 1e6
    med, lo, hi = statistics.median(samples) * k, min(samples) * k, max(samples) * k
    print(f"{name:<48} {med:9.3f} {unit}  ({lo:.3f}..{hi:.3f}, n={len(samples)})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")

    starts, stops = [], []
    for _ in range(args.runs):
        c = start_cluster()
        starts.append(c.start_seconds)
        t = time.perf_counter()
        c.stop()
        stops.append(time.perf_counter() - t)
    show("cluster start (template copy + boot)", starts)
    show("cluster stop (immediate + rm)", stops)

    imports = []
    for _ in range(args.runs):
        code = "import time; t = time.perf_counter(); import psycopg; print(time.perf_counter() - t)"
        imports.append(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                            check=True).stdout))
    show("import psycopg (fresh interpreter)", imports)

    import psycopg

    with start_cluster(tcp=True) as pg:
        name = pg.create_database()
        creates = timed(lambda: pg.drop_database(pg.create_database()), args.runs)
        show("create + drop database", creates)
        for label, tcp in (("unix socket", False), ("TCP 127.0.0.1", True)):
            connects = timed(lambda tcp=tcp: psycopg.connect(pg.conninfo(name, tcp=tcp)).close(), args.runs)
            show(f"connect ({label})", connects)
            with psycopg.connect(pg.conninfo(name, tcp=tcp), autocommit=True) as conn:
                for _ in range(50):
                    conn.execute("SELECT 1").fetchone()
                rt = timed(lambda conn=conn: conn.execute("SELECT 1").fetchone(), 500)
                show(f"round trip SELECT 1 ({label})", rt, "us")
        with psycopg.connect(pg.conninfo(name), autocommit=True) as conn:
            conn.execute(files("switchman.store").joinpath("pg_audit.sql").read_text(encoding="utf-8"))
            conn.execute(ONE_ROW, {"key": KEY}).fetchone()
            show("canonical+hash+hmac, 1 row (incl. round trip)",
                 timed(lambda: conn.execute(ONE_ROW, {"key": KEY}).fetchone(), 200), "us")
            show("canonical+hash+hmac, 1,000 rows chained (DO loop)",
                 timed(lambda: conn.execute(CHAIN % {"n": 1000, "key": KEY}), args.runs))
            show("canonical+hash+hmac, 1,000 rows one SELECT",
                 timed(lambda: conn.execute(SET_1000.format(name="module"), {"key": KEY}).fetchone(), args.runs))
            show("... 1,000 rows, non-ASCII UTF-8 file_path",
                 timed(lambda: conn.execute(SET_1000.format(name="módülé"), {"key": KEY}).fetchone(), args.runs))
            show("... 1,000 rows, non-UTF-8 file_path",
                 timed(lambda: conn.execute(NON_UTF8_1000, {"key": KEY}).fetchone(), args.runs))
            from switchman import audit

            def python_1000() -> None:
                prev = None
                for i in range(1, 1001):
                    h = audit.entry_hash({"sequence": i, "prev_hash": prev, "event_type": "write_observed",
                                          "status": "info", "worktree": "wt-a", "task_id": "task-1",
                                          "lease_id": "lease-1", "file_path": f"src/pkg/d{i % 50}/module_{i}.py",
                                          "details": f'{{"bytes":{i}}}', "created_at": "2026-11-24T18:33:00.123Z"})
                    audit.sign(KEY, h)
                    prev = h

            show("(python audit.entry_hash+sign, 1,000 rows)", timed(python_1000, args.runs))


if __name__ == "__main__":
    main()
