"""Fail-closed rules (issue 7 §4), driven through real git and the installed hook scripts.

The rules (README "Failure behaviour"), per broken state — store missing (`.switchman/` there,
`switchman.db` gone), corrupt, locked beyond the busy timeout, interpreter gone:

| hook | observed | guarded / strict |
|---|---|---|
| pre-commit, pre-merge-commit, pre-push (gating) | warn, git goes on | refuse: git command fails |
| post-commit, post-checkout, post-merge, post-rewrite (recording) | warn, git goes on | warn, git goes on |

(Messages: `error: switchman HOOK refused (MODE mode fails closed): ...`, `warning: switchman HOOK
allowed unchecked (observed mode): ...`, `warning: switchman HOOK could not record: ...`.)

Interpreter gone is the shell script's business (SPEC §7): every gating hook refuses in every mode
(the script cannot know the mode); recording hooks must still never fail the git command.
A repository without `.switchman/` is not managed: every hook is silent and exits 0.
Each broken state must be visible in `doctor` afterwards.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from switchman import hookrun
from switchman.install import install
from switchman.repo import locate
from switchman.store import sqlite as connection
from testing.cli import Cli
from testing.git import git, write
from testing.stress import FULL, Agent, console, db_file, python_env, swarm

GATING = ("pre-commit", "pre-merge-commit", "pre-push")
RECORDING = ("post-commit", "post-checkout", "post-merge", "post-rewrite")


def _run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600)


class Scene:
    """One agent worktree with hooks installed, a side branch to merge and a bare remote."""

    def __init__(self, root: Path, cli: Cli, mode: str, tmp: Path) -> None:
        self.root = root
        self.cli = cli
        self.mode = mode
        self.agent: Agent = swarm(root, cli, 1, mode=mode)[0]
        wt = self.agent.path
        write(wt / "area0" / "base.txt", "base\n")
        git(wt, "add", "-A")
        git(wt, "commit", "-q", "-m", "base")
        git(wt, "branch", "side")
        git(wt, "checkout", "-q", "side")
        write(wt / "area0" / "side.txt", "side\n")
        git(wt, "add", "-A")
        git(wt, "commit", "-q", "-m", "side")
        git(wt, "checkout", "-q", "agent-0")
        write(wt / "area0" / "main.txt", "main\n")
        git(wt, "add", "-A")
        git(wt, "commit", "-q", "-m", "main side")
        self.remote = tmp / "remote.git"
        git(tmp, "init", "-q", "--bare", str(self.remote))
        self.n = 0

    def exercise(self, env: dict[str, str] | None = None) -> dict[str, subprocess.CompletedProcess[str]]:
        """Every hook fires at least once: commit, checkout, amend, merge, push."""
        wt = self.agent.path
        self.n += 1
        out = {}
        write(wt / "area0" / f"n{self.n}.txt", f"{self.n}\n")
        git(wt, "add", "-A", "--", "area0")
        out["commit"] = _run(wt, "commit", "-q", "-m", f"n{self.n}", env=env)
        out["checkout"] = _run(wt, "checkout", "-q", "-b", f"probe-{self.n}", env=env)
        _run(wt, "checkout", "-q", "agent-0", env=env)
        out["amend"] = _run(wt, "commit", "-q", "--amend", "--no-verify", "--allow-empty", "-m", f"amended {self.n}", env=env)
        out["merge"] = _run(wt, "merge", "-q", "--no-ff", "-m", f"merge {self.n}", "side", env=env)
        if out["merge"].returncode != 0:
            _run(wt, "merge", "--abort", env=env)
        else:
            _run(wt, "reset", "-q", "--hard", "HEAD^", env=env)
        out["push"] = _run(wt, "push", "-q", str(self.remote), f"HEAD:refs/heads/p{self.n}", env=env)
        return out

    def doctor(self) -> dict[str, dict[str, str]]:
        res = console("-C", str(self.root), "doctor", "--json")
        assert "Traceback" not in res.err, res.err
        doc = json.loads(res.out)
        return {c["id"]: c for c in doc["checks"]}


def _switchman_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if "switchman" in ln and ln.startswith(("error:", "warning:"))]


def _assert_rules(out: dict[str, subprocess.CompletedProcess[str]], mode: str, why: str, root: Path) -> None:
    blocking = mode != "observed"
    for op, proc in out.items():
        assert "Traceback" not in proc.stderr, (op, proc.stderr)
    gate_ops = {"commit": "pre-commit", "merge": "pre-merge-commit", "push": "pre-push"}
    for op, hook in gate_ops.items():
        proc = out[op]
        lines = _switchman_lines(proc)
        if blocking:
            assert proc.returncode != 0, f"{why}: {hook} let `git {op}` through in {mode} mode: {proc.stderr}"
            assert any(ln.startswith(f"error: switchman {hook} refused ({mode} mode fails closed)") for ln in lines), (op, proc.stderr)
        else:
            assert proc.returncode == 0, f"{why}: {hook} blocked `git {op}` in observed mode: {proc.stderr}"
            assert any(ln.startswith(f"warning: switchman {hook} allowed unchecked (observed mode)") for ln in lines), (op, proc.stderr)
    # post-commit is sh: it spools the commit without touching the store, silently, and the commit
    # is recorded once the store answers again (the spool is kept until then).
    assert list((root / ".git" / "switchman-spool").iterdir()), f"{why}: post-commit kept nothing"
    for op, hooks in {"checkout": ["post-checkout"], "amend": ["post-rewrite"]}.items():
        proc = out[op]
        assert proc.returncode == 0, f"{why}: a recording hook failed `git {op}`: {proc.stderr}"
        for hook in hooks:
            assert any(ln.startswith(f"warning: switchman {hook} ") for ln in _switchman_lines(proc)), (op, hook, proc.stderr)
    if not blocking:
        assert any(ln.startswith("warning: switchman post-merge ") for ln in _switchman_lines(out["merge"])), out["merge"].stderr


def _checkpoint(root: Path) -> None:
    """Fold the WAL into the file (hooks exit without closing): a page still in the WAL would
    shadow the damage done to the file below."""
    conn = sqlite3.connect(db_file(root), isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _break_missing(root: Path) -> None:
    _checkpoint(root)
    for suffix in ("", "-wal", "-shm"):
        db = Path(str(db_file(root)) + suffix)
        if db.exists():
            db.rename(db.with_name(db.name + ".moved"))


def _break_corrupt(root: Path) -> None:
    _checkpoint(root)
    with open(db_file(root), "r+b") as fh:
        fh.write(b"definitely not an SQLite database")


BREAKERS = {"missing": _break_missing, "corrupt": _break_corrupt}
DOCTOR_SEES = {"missing": "state_dir", "corrupt": "integrity"}


@pytest.mark.parametrize("mode", ["observed", "guarded", "strict"])
@pytest.mark.parametrize("broken", sorted(BREAKERS))
def test_broken_store_fails_closed_except_in_observed(initialised: Path, cli: Cli, tmp_path: Path, mode: str, broken: str) -> None:
    scene = Scene(initialised, cli, mode, tmp_path)
    healthy = scene.exercise()
    assert all(p.returncode == 0 for op, p in healthy.items() if op != "merge"), {k: v.stderr for k, v in healthy.items()}
    BREAKERS[broken](initialised)
    _assert_rules(scene.exercise(), mode, f"store {broken}", initialised)
    check = scene.doctor()[DOCTOR_SEES[broken]]
    assert check["status"] == "fail", check


def test_unmanaged_repo_hooks_stay_silent(initialised: Path, cli: Cli, tmp_path: Path) -> None:
    scene = Scene(initialised, cli, "strict", tmp_path)
    state = initialised / ".switchman"
    state.rename(initialised.parent / "switchman-state-aside")
    out = scene.exercise()
    for op, proc in out.items():
        assert proc.returncode == 0, (op, proc.stderr)
        assert _switchman_lines(proc) == [], (op, proc.stderr)


# --- interpreter gone ----------------------------------------------------------------------------


def _interpreter_gone(scene: Scene, tmp: Path) -> dict[str, str]:
    fake = tmp / "gone" / "python"
    fake.parent.mkdir()
    fake.symlink_to(sys.executable)
    install(locate(str(scene.root)), interpreter=str(fake))
    fake.unlink()
    bin_dir = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p and Path(p).resolve() != Path(bin_dir).resolve() and p != bin_dir)
    return {"PATH": path}


@pytest.mark.parametrize("mode", ["observed", "guarded"])
def test_interpreter_gone_gating_hooks_refuse(initialised: Path, cli: Cli, tmp_path: Path, mode: str) -> None:
    scene = Scene(initialised, cli, mode, tmp_path)
    env = _interpreter_gone(scene, tmp_path)
    out = scene.exercise(env)
    for op in ("commit", "merge", "push"):
        assert out[op].returncode != 0, (op, out[op].stderr)
        assert "nor switchman-hook on PATH exists" in out[op].stderr
        assert "Traceback" not in out[op].stderr
    check = scene.doctor()["hooks_interpreter"]
    assert check["status"] == "fail", check


def test_interpreter_gone_recording_hooks_never_fail_git(initialised: Path, cli: Cli, tmp_path: Path) -> None:
    scene = Scene(initialised, cli, "guarded", tmp_path)
    env = _interpreter_gone(scene, tmp_path)
    proc = _run(scene.agent.path, "checkout", "-q", "-b", "after-uninstall", env=env)
    assert proc.returncode == 0, proc.stderr
    proc = _run(scene.root, "worktree", "add", "-q", str(tmp_path / "late"), env=env)
    assert proc.returncode == 0, proc.stderr


# --- locked beyond the busy timeout ------------------------------------------------------------

HOLDER = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


class Lock:
    """Another process holding BEGIN IMMEDIATE on the store until released."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db_file(root))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=python_env(),
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == b"locked"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def _hook_in_process(monkeypatch, cwd: Path, name: str, args: list[str], capsys) -> tuple[int, str, float]:  # type: ignore[no-untyped-def]
    """The hook entry point exactly as the script calls it, in-process so timeouts can shrink.

    The store reads its busy timeout from a module constant (no env var), so a subprocess would
    wait the full 8 x 10 s; here BUSY_TIMEOUT_MS/RETRY_ATTEMPTS are patched for this test only.
    """
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    capsys.readouterr()
    t0 = time.perf_counter()
    code = hookrun.main([name, *args])
    took = time.perf_counter() - t0
    return code, capsys.readouterr().err, took


HOOK_ARGS = {
    "pre-commit": [],
    "pre-merge-commit": [],
    "pre-push": ["origin", "file:///nowhere"],
    "post-commit": [],
    "post-checkout": ["0" * 40, "0" * 40, "1"],
    "post-merge": ["0"],
    "post-rewrite": ["amend"],
}


@pytest.mark.parametrize("mode", ["observed", "guarded", "strict"])
def test_locked_store_fails_closed_except_in_observed(initialised: Path, cli: Cli, tmp_path: Path, monkeypatch, capsys, mode: str) -> None:  # type: ignore[no-untyped-def]
    scene = Scene(initialised, cli, mode, tmp_path)
    wt = scene.agent.path
    write(wt / "area0" / "locked.txt", "locked\n")
    git(wt, "add", "-A", "--", "area0")
    scene.exercise()  # the gate remembers this worktree's mode beside its git dir
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_MS", 150)
    monkeypatch.setattr(connection, "RETRY_ATTEMPTS", 2)
    lock = Lock(initialised)
    try:
        for name, args in HOOK_ARGS.items():
            code, err, _ = _hook_in_process(monkeypatch, wt, name, args, capsys)
            lines = [ln for ln in err.splitlines() if ln.strip()]
            assert len(lines) == 1 and "Traceback" not in err, (name, err)
            assert "locked" in lines[0], (name, lines)
            if name in GATING and mode != "observed":
                assert code == 1 and lines[0].startswith(f"error: switchman {name} refused ({mode} mode fails closed)"), (name, err)
            elif name in GATING:
                assert code == 0 and lines[0].startswith(f"warning: switchman {name} allowed unchecked (observed mode)"), (name, err)
            else:
                assert code == 0 and lines[0].startswith(f"warning: switchman {name} "), (name, err)
    finally:
        lock.release()


def test_locked_store_gives_up_after_the_busy_timeout(initialised: Path, cli: Cli, tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    scene = Scene(initialised, cli, "guarded", tmp_path)
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_MS", 200)
    lock = Lock(initialised)
    try:
        code, err, took = _hook_in_process(monkeypatch, scene.agent.path, "pre-commit", [], capsys)
    finally:
        lock.release()
    assert code == 1, err
    assert took < 3 * 0.2, f"gave up after {took:.1f}s with a 0.2s busy timeout"


def test_unchecked_commit_while_locked_is_visible_in_doctor(initialised: Path, cli: Cli, tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    scene = Scene(initialised, cli, "observed", tmp_path)
    before = {k: v["status"] for k, v in scene.doctor().items()}
    wt = scene.agent.path
    write(wt / "area0" / "unchecked.txt", "x\n")
    git(wt, "add", "-A", "--", "area0")
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_MS", 150)
    monkeypatch.setattr(connection, "RETRY_ATTEMPTS", 2)
    lock = Lock(initialised)
    try:
        code, err, _ = _hook_in_process(monkeypatch, wt, "pre-commit", [], capsys)
        assert code == 0 and "allowed unchecked" in err
        # The commit itself, with git's hooks off (they would wait out the real lock); the
        # in-process calls around it stand for them.
        git(wt, "-c", f"core.hooksPath={tmp_path / 'no-hooks'}", "commit", "-q", "-m", "went through unchecked")
        code, err, _ = _hook_in_process(monkeypatch, wt, "post-commit", [], capsys)
        assert code == 0 and err.startswith("warning: switchman post-commit ")
    finally:
        lock.release()
    after = scene.doctor()
    newly = {k: v for k, v in after.items() if v["status"] != "ok" and before.get(k) == "ok"}
    assert newly, f"doctor shows nothing of the unchecked commit: {after}"


@pytest.mark.skipif(not FULL, reason="waits the real busy timeout x retries (SWITCHMAN_STRESS_FULL=1)")
def test_locked_store_real_wait(initialised: Path, cli: Cli, tmp_path: Path, figures) -> None:  # type: ignore[no-untyped-def]
    """The real thing, no patching: how long does `git commit` hang on a locked store?"""
    scene = Scene(initialised, cli, "guarded", tmp_path)
    wt = scene.agent.path
    write(wt / "area0" / "real.txt", "x\n")
    git(wt, "add", "-A", "--", "area0")
    lock = Lock(initialised)
    try:
        t0 = time.perf_counter()
        proc = _run(wt, "commit", "-q", "-m", "locked")
        took = time.perf_counter() - t0
    finally:
        lock.release()
    figures("real lock wait", f"git commit refused after {took:.1f}s (busy timeout {connection.BUSY_TIMEOUT_MS} ms x {connection.RETRY_ATTEMPTS} attempts)")
    assert proc.returncode == 1 and "fails closed" in proc.stderr, proc.stderr
