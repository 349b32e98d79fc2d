"""Many processes appending at once: no failure, no lost event, contiguous sequences, verify ok."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testing.cli import CONSOLE, Cli
from testing.db import query

WORKERS = 8
PER_WORKER = 25

# Each worker calls the real CLI entry point in a loop (store open, BEGIN IMMEDIATE, append, close),
# so the processes race on the same SQLite file exactly as agents' commands do.
WORKER = r"""
import sys
from switchman.cli import main

root, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.stdout = open("/dev/null", "w")
failures = 0
for i in range(count):
    code = main(["-C", root, "task", "add", f"task {worker}-{i}", "--id", f"W{worker}-{i}"])
    failures += code != 0
sys.exit(1 if failures else 0)
"""


def _assert_contiguous_and_verified(root: Path, cli: Cli, expected_tasks: set[str]) -> None:
    rows = query(root, "SELECT sequence, prev_hash, entry_hash FROM audit_log ORDER BY id")
    seqs = [r["sequence"] for r in rows]
    assert seqs == list(range(1, len(rows) + 1))
    assert all(rows[i]["prev_hash"] == rows[i - 1]["entry_hash"] for i in range(1, len(rows)))
    created = {r["task_id"] for r in query(root, "SELECT task_id FROM audit_log WHERE event_type = 'task_created'")}
    assert expected_tasks <= created
    assert {t["id"] for t in cli.json("task", "list")["tasks"]} >= expected_tasks
    result = cli.json("audit", "verify")
    assert result["ok"] is True and result["count"] == len(rows), result["failures"][:3]


@pytest.mark.stress
def test_eight_processes_append_concurrently(initialised: Path, cli: Cli) -> None:
    start = len(query(initialised, "SELECT id FROM audit_log"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(initialised), str(w), str(PER_WORKER)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for w in range(WORKERS)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode(errors="replace")
        assert b"Traceback" not in err
    expected = {f"W{w}-{i}" for w in range(WORKERS) for i in range(PER_WORKER)}
    created = query(initialised, "SELECT COUNT(*) AS n FROM audit_log WHERE event_type = 'task_created'")[0]["n"]
    assert created == WORKERS * PER_WORKER
    assert len(query(initialised, "SELECT id FROM audit_log")) == start + WORKERS * PER_WORKER
    _assert_contiguous_and_verified(initialised, cli, expected)


@pytest.mark.stress
def test_console_scripts_race_for_the_same_lease_and_claims(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    """The installed script, 8 at once: exactly one wins each contested lease and path."""
    for i in range(WORKERS):
        cli.ok("task", "add", f"t{i}", "--id", f"T{i}")
    a, b = agents
    # every process tries to lease T0 into its own worktree name/path: one winner
    procs = [
        subprocess.Popen(
            [CONSOLE, "-C", str(initialised), "lease", "acquire", "T0", str(a if i % 2 else b)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(WORKERS)
    ]
    codes = []
    for p in procs:
        _, err = p.communicate(timeout=120)
        codes.append(p.returncode)
        assert b"Traceback" not in err
        if p.returncode:
            assert len(err.decode().strip().splitlines()) == 1 and err.startswith(b"error: ")
    assert codes.count(0) == 1 and set(codes) <= {0, 1}
    assert len(query(initialised, "SELECT id FROM leases WHERE status = 'active'")) == 1

    # T1..T7 race to claim the same file through the main worktree's lease of each: one claim wins
    holder = query(initialised, "SELECT worktree FROM leases WHERE status = 'active'")[0]["worktree"]
    free = "agent-a" if holder == "agent-b" else "agent-b"
    cli.ok("lease", "acquire", "T1", free)
    cli.ok("lease", "acquire", "T2", "main")
    procs = [
        subprocess.Popen(
            [CONSOLE, "-C", str(initialised), "claim", task, wt, "src/auth/login.py"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for task, wt in [("T0", holder), ("T1", free), ("T2", "main")] * 2
    ]
    codes = [p.wait(timeout=120) for p in procs]
    for p in procs:
        assert b"Traceback" not in p.stderr.read()  # type: ignore[union-attr]
        p.stdout.close()  # type: ignore[union-attr]
        p.stderr.close()  # type: ignore[union-attr]
    claims = cli.json("claims")["claims"]
    assert len(claims) == 1
    winner = claims[0]["task_id"]
    assert codes.count(0) == 2  # the winner's second attempt is a no-op success
    assert set(codes) <= {0, 1}
    assert winner in {"T0", "T1", "T2"}
    _assert_contiguous_and_verified(initialised, cli, {f"T{i}" for i in range(WORKERS)})


@pytest.mark.stress
def test_concurrent_init_is_safe(repo: Path, cli: Cli) -> None:
    """Agents often `init` at once: every one succeeds, one key, one exclude line, one registration."""
    procs = [
        subprocess.Popen([CONSOLE, "-C", str(repo), "init"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode(errors="replace")
    key = (repo / ".switchman" / "audit.key").read_text()
    assert len(key) == 65
    exclude = (repo / ".git" / "info" / "exclude").read_text().splitlines()
    assert exclude.count("/.switchman/") == 1
    assert len(query(repo, "SELECT * FROM audit_log WHERE event_type = 'worktree_registered'")) == 1
    assert cli.json("audit", "verify")["ok"] is True


@pytest.mark.stress
def test_concurrent_lease_next_hands_out_each_task_once(initialised: Path, cli: Cli) -> None:
    from testing.git import add_worktree

    wts = [add_worktree(initialised, f"w{i}") for i in range(6)]
    cli.ok("worktree", "sync")
    for i in range(4):
        cli.ok("task", "add", f"t{i}", "--id", f"T{i}", "-p", str(i))
        cli.ok("task", "spec", f"T{i}", "--allowed-path", f"area{i}/**")
    cli.ok("task", "add", "wide", "--id", "WIDE", "-p", "0")
    cli.ok("task", "spec", "WIDE", "--allowed-path", "area0/sub/**")  # overlaps T0
    procs = [
        subprocess.Popen([CONSOLE, "lease", "next", str(wt), "--json"], cwd=wt, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for wt in wts
    ]
    got = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode(errors="replace")
        got.append(json.loads(out)["task"])
    leased = sorted(t["id"] for t in got if t is not None)
    assert leased == ["T0", "T1", "T2", "T3"]  # WIDE never: its scope overlaps T0's
    assert got.count(None) == 2
    assert len(query(initialised, "SELECT id FROM leases WHERE status = 'active'")) == 4
    assert cli.json("audit", "verify")["ok"] is True
