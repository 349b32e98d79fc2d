"""Concurrency torture (issue 7 §1): N agent processes × M mixed operations on one store at once.

Each agent owns a linked worktree (half guarded, half strict) and a leased task scoped to
`area<i>/**`; all of them compete for
the same six `shared/` files. Operations: heartbeat, claim, release, `git commit` through the
installed hooks (pre-commit gate + post-commit provenance), `monitor once`, reads. Checked: no
operation fails (in particular none for `database is locked`), every audit event an agent caused is
there (counted per agent), the sequence is contiguous and chained, `audit verify` (chain, HMACs and
the signed checkpoint) passes, no path was ever held by two active claims (sampled *during* the run
too), `PRAGMA integrity_check` is ok. Hook latency percentiles come from git's own trace2 timings
of each hook child. Default 4 × 40; SWITCHMAN_STRESS_FULL=1: 8 × 200.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from testing.cli import Cli
from testing.git import git
from testing.stress import (
    FULL,
    console,
    contiguous,
    integrity,
    percentile,
    python_env,
    ro_connect,
    rows,
    size,
    swarm,
    verify,
)

WORKER = str(Path(__file__).with_name("swarm_worker.py"))


def _hook_latencies(trace_files: list[Path]) -> dict[str, list[float]]:
    """Per hook name, the wall time git measured for each hook child (trace2 child_exit t_rel)."""
    out: dict[str, list[float]] = {}
    for path in trace_files:
        starts: dict[tuple[str, int], str] = {}
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            key = (ev.get("sid", ""), ev.get("child_id", -1))
            if ev.get("event") == "child_start" and ev.get("child_class") == "hook":
                starts[key] = ev.get("hook_name", "?")
            elif ev.get("event") == "child_exit" and key in starts:
                out.setdefault(starts.pop(key), []).append(float(ev["t_rel"]))
    return out


class ClaimSampler(threading.Thread):
    """Polls the store while the agents run: any path with two active claims is a failure."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.stop = threading.Event()
        self.doubles: list[tuple[str, int]] = []
        self.samples = 0
        self.errors: list[str] = []

    def run(self) -> None:
        conn = ro_connect(self.root)
        try:
            while not self.stop.is_set():
                try:
                    got = conn.execute(
                        "SELECT file_path, count(*) FROM file_claims WHERE released_at IS NULL "
                        "GROUP BY file_path HAVING count(*) > 1"
                    ).fetchall()
                    self.doubles.extend((r[0], r[1]) for r in got)
                    self.samples += 1
                except Exception as exc:  # noqa: BLE001 - reported, not raised, from a thread
                    self.errors.append(repr(exc))
                self.stop.wait(0.05)
        finally:
            conn.close()


def test_agents_hammer_one_store(initialised: Path, cli: Cli, tmp_path: Path, figures) -> None:  # type: ignore[no-untyped-def]
    workers = size(4, 8)
    ops = size(40, 200)
    agents = swarm(initialised, cli, workers, mode="guarded")
    for a in agents:
        (a.path / a.area).mkdir()
        if a.index % 2:  # half the agents strict: whole-worktree scans, monitor quarantines
            cli.ok("worktree", "mode", a.name, "strict")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    start_seq = rows(initialised, "SELECT max(sequence) AS s FROM audit_log")[0]["s"]
    sampler = ClaimSampler(initialised)
    sampler.start()
    procs = []
    traces = []
    t0 = time.perf_counter()
    for a in agents:
        trace = tmp_path / f"trace-{a.index}.jsonl"
        traces.append(trace)
        cfg = {
            "root": str(initialised),
            "path": str(a.path),
            "name": a.name,
            "task": a.task,
            "lease": a.lease,
            "area": a.area,
            "ops": ops,
            "seed": 1000 + a.index,
            "trace": str(trace),
            "out": str(tmp_path / f"report-{a.index}.json"),
            "remote": str(remote),
        }
        procs.append(
            subprocess.Popen([sys.executable, WORKER, json.dumps(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=python_env())
        )
    for p in procs:
        _, err = p.communicate(timeout=3600 if FULL else 600)
        assert p.returncode == 0, err.decode(errors="replace")[-3000:]
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()

    reports = [json.loads((tmp_path / f"report-{a.index}.json").read_text()) for a in agents]
    all_ops = [op for r in reports for op in r["ops"]]
    failed = [op for op in all_ops if not op["ok"]]
    locked = [op for op in all_ops if "locked" in op["err"].lower() or "busy" in op["err"].lower()]
    tracebacks = [op for op in all_ops if "Traceback" in op["err"]]

    # -- figures --------------------------------------------------------------------------------
    latencies = _hook_latencies(traces)
    per_op: dict[str, list[float]] = {}
    for op in all_ops:
        per_op.setdefault(op["op"], []).append(op["secs"])
    figures("size", f"{workers} processes x {ops} ops = {len(all_ops)} ops in {wall:.1f}s")
    figures("ops", ", ".join(f"{k}={len(v)}" for k, v in sorted(per_op.items())))
    for hook, values in sorted(latencies.items()):
        figures(
            f"hook {hook} latency",
            f"n={len(values)} p50={percentile(values, 50) * 1000:.0f}ms p90={percentile(values, 90) * 1000:.0f}ms "
            f"p99={percentile(values, 99) * 1000:.0f}ms max={max(values) * 1000:.0f}ms",
        )
    for name, values in sorted(per_op.items()):
        figures(f"op {name} latency", f"p50={percentile(values, 50) * 1000:.0f}ms p99={percentile(values, 99) * 1000:.0f}ms max={max(values) * 1000:.0f}ms")
    figures("claim sampler", f"{sampler.samples} samples during the run, {len(sampler.doubles)} double claims")

    # -- nothing failed ---------------------------------------------------------------------------
    assert not locked, f"{len(locked)} operation(s) hit a locked database: {locked[:3]}"
    assert not tracebacks, tracebacks[:3]
    assert not failed, f"{len(failed)} of {len(all_ops)} operations failed: {failed[:5]}"
    assert not sampler.errors, sampler.errors[:3]
    assert not sampler.doubles, f"paths held by two active claims during the run: {sampler.doubles[:5]}"
    assert per_op.get("commit"), "the mix ran no commit"

    # -- no audit event lost ----------------------------------------------------------------------
    events = rows(
        initialised,
        "SELECT event_type, worktree, task_id, lease_id FROM audit_log WHERE sequence > ?",
        (start_seq,),
    )
    found: Counter[str] = Counter()
    for ev in events:
        found[f"{ev['event_type']}|worktree|{ev['worktree']}"] += 1
        found[f"{ev['event_type']}|task|{ev['task_id']}"] += 1
        found[f"{ev['event_type']}|lease|{ev['lease_id']}"] += 1
    missing = {}
    for r in reports:
        for key, n in r["expect"].items():
            if found[key] != n:
                missing[key] = (n, found[key])
    assert not missing, f"expected vs found audit events differ: {missing}"
    bypassed = [e for e in events if e["event_type"] == "commit_gate_bypassed"]
    assert not bypassed, f"commits through the hooks recorded as bypasses: {bypassed[:3]}"

    # -- the agents' work: all committed, nothing quarantined or left behind ------------------------
    for a in agents:
        assert git(a.path, "status", "--porcelain", "--untracked-files=all") == "", f"{a.name} has uncommitted leftovers"
    assert not (initialised / ".switchman" / "quarantine").exists(), "monitor quarantined an owned write"

    # -- store invariants -------------------------------------------------------------------------
    assert contiguous(initialised) == []
    assert integrity(initialised) == ["ok"]
    doubles = rows(
        initialised,
        "SELECT file_path, count(*) AS n FROM file_claims WHERE released_at IS NULL GROUP BY file_path HAVING n > 1",
    )
    assert doubles == []
    result = verify(initialised)
    assert result["ok"] is True, result["failures"][:5]
    total = rows(initialised, "SELECT count(*) AS n FROM audit_log")[0]["n"]
    assert result["count"] == total
    figures("audit", f"{total} events, verify ok, uncovered by checkpoint: {result.get('uncovered')}")
    if os.environ.get("SWITCHMAN_STRESS_KEEP"):
        print(f"repo kept at {initialised}")


def _racing_read_ref(monkeypatch, root: Path, *, before: bool) -> list[int]:  # type: ignore[no-untyped-def]
    """Make another process append (and checkpoint) right before/after verify reads the ref."""
    from switchman.checkpoint import ref as checkpoints

    real = checkpoints.read_ref
    fired: list[int] = []

    def racing(*args, **kwargs):  # type: ignore[no-untyped-def]
        def other_writer() -> None:
            if not fired:
                fired.append(1)
                res = console("-C", str(root), "task", "add", "racer", "--id", "RACER")
                assert res.code == 0, res.err

        if before:
            other_writer()
        got = real(*args, **kwargs)
        if not before:
            other_writer()
        return got

    monkeypatch.setattr(checkpoints, "read_ref", racing)
    return fired


def test_verify_racing_a_checkpoint_writer_after_the_ref_read(initialised: Path, cli: Cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fired = _racing_read_ref(monkeypatch, initialised, before=False)
    res = cli("audit", "verify", "--json")
    assert fired
    assert res.code == 0, res.out


def test_verify_racing_a_writer_between_rows_and_ref(initialised: Path, cli: Cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fired = _racing_read_ref(monkeypatch, initialised, before=True)
    res = cli("audit", "verify", "--json")
    assert fired
    assert res.code == 0, res.out


def test_push_gate_racing_another_agents_commit(initialised: Path, cli: Cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cli.ok("policy", "mode", "guarded", "--all-worktrees")
    head = git(initialised, "rev-parse", "HEAD").strip()
    fired = _racing_read_ref(monkeypatch, initialised, before=True)
    res = cli("gate", "push", "origin", "file:///nowhere", input=f"refs/heads/main {head} refs/heads/main {head}\n")
    assert fired
    assert res.code == 0, res.err + res.out
