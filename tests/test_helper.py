"""The warm helper (switchman/helper/): started by the first hook, never required, never fooled.

Real commits through the installed scripts; the helper is the real detached process. Each test
repo's helper leaves after SWITCHMAN_HELPER_IDLE (5 s in the suite, testing/env.py).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from switchman import helper as helperpkg
from switchman import helperstate
from switchman.helper import client
from testing.gates import Env, commit, head, run_git, settle
from testing.git import git
from testing.helper import children, other_version


def wait_for(pred, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def running(env: Env) -> helperstate.HelperState:
    assert wait_for(lambda: helperstate.status(str(env.root / ".git")).state == "running"), "no helper started"
    return helperstate.status(str(env.root / ".git"))


def probe(env: Env, wt: Path, **extra: str) -> dict:  # type: ignore[type-arg]
    """The pre-commit hook's probe answer, run through the installed script as git would."""
    proc = subprocess.run([str(env.root / ".git" / "hooks" / "pre-commit")], cwd=wt, capture_output=True,
                          env={**os.environ, "SWITCHMAN_DOCTOR_PROBE": "1", **extra})
    line = next(ln for ln in proc.stdout.decode().splitlines() if ln.startswith("switchman-probe "))
    return json.loads(line.split(" ", 1)[1])


def test_constants_in_the_standalone_client_match_the_package() -> None:
    assert (client.SOCKET, client.LOG, client.MAGIC) == (helperpkg.SOCKET, helperpkg.LOG, helperpkg.MAGIC)
    assert client.DISABLE_ENV.decode() == helperpkg.DISABLE_ENV
    import switchman

    assert client._version(os.path.dirname(switchman.__file__)).decode() == switchman.__version__


def test_the_first_hook_starts_it_and_later_hooks_run_in_its_forks(env: Env) -> None:
    common = env.root / ".git"
    assert helperstate.status(str(common)).state == "stopped"
    assert probe(env, env.a)["helper"] is False  # no helper yet: in-process, and one is started
    state = running(env)
    sock = common / helperpkg.SOCKET
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
    assert probe(env, env.a)["helper"] is True and probe(env, env.b)["helper"] is True
    assert probe(env, env.a, SWITCHMAN_NO_HELPER="1")["helper"] is False
    doc = env.cli.json("helper", "status")
    assert doc["state"] == "running" and doc["pid"] == state.pid
    checks = {c["id"]: c for c in env.cli("doctor", "--json").json["checks"]}
    assert checks["helper"]["status"] == "ok" and "running" in checks["helper"]["detail"]
    assert env.cli.json("helper", "stop")["state"] == "stopped"
    assert not sock.exists() and helperstate.status(str(common)).state == "stopped"


def _refused_commit(env: Env, extra: dict[str, str]) -> tuple[int, str, list[tuple[str, str, str, str]]]:
    """Exit code, stderr and the (event, status, reason, file) rows this one refused commit appended."""
    before = env.events(limit=1)[0]["sequence"]
    env.change(env.a, "docs/guide.md", "taken\n")
    res = commit(env.a, "sneak", env=extra)
    git(env.a, "reset", "-q", "--hard", "HEAD")
    rows = [(e["event_type"], e["status"], e["reason_code"], e["file_path"]) for e in env.events() if e["sequence"] > before]
    return res.code, res.err, rows


def test_same_verdict_output_and_rows_with_and_without_it(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.lease("agent-b", "docs/guide.md")
    _refused_commit(env, {})  # starts the helper
    running(env)
    assert probe(env, env.a)["helper"] is True
    via = _refused_commit(env, {})
    without = _refused_commit(env, {"SWITCHMAN_NO_HELPER": "1"})
    assert via == without and via[0] == 1 and "docs/guide.md" in via[1] and via[2]


def test_pre_push_reads_its_stdin_through_it(env: Env) -> None:
    env.remote()
    probe(env, env.a)
    running(env)
    env.change(env.a, "src/auth/login.py", "v2\n")
    assert commit(env.a, "one").code == 0
    res = run_git(env.a, "push", "-q", "origin", "agent-a")
    assert res.code == 0, res.err
    assert env.last("push_gate")["status"] == "allowed"
    assert git(env.root.parent / "remote.git", "notes", "--ref", "switchman", "list", head(env.a)).strip()


def test_another_version_is_refused_and_the_hook_still_runs(env: Env, tmp_path: Path) -> None:
    probe(env, env.a)
    old = running(env)
    client_of_other = other_version(tmp_path, "0.0.0-other")
    proc = subprocess.run([sys.executable, "-E", "-S", str(client_of_other), "pre-commit"], cwd=env.a,
                          capture_output=True, env={**os.environ, "SWITCHMAN_DOCTOR_PROBE": "1"})
    answer = json.loads(proc.stdout.decode().split("switchman-probe ", 1)[1])
    assert proc.returncode == 0 and answer["helper"] is False  # judged in-process instead
    # A helper that meets a newer install leaves; the next hook starts one that matches.
    assert wait_for(lambda: helperstate.status(str(env.root / ".git")).pid != old.pid)


def test_idle_exit_and_off_switch(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHMAN_HELPER_IDLE", "0.5")
    probe(env, env.a)
    running(env)
    assert wait_for(lambda: helperstate.status(str(env.root / ".git")).state == "stopped")
    assert not (env.root / ".git" / helperpkg.SOCKET).exists()
    monkeypatch.setenv("SWITCHMAN_NO_HELPER", "1")
    env.change(env.a, "src/auth/login.py", "v2\n")
    assert commit(env.a, "one").code == 0
    time.sleep(0.5)
    assert helperstate.status(str(env.root / ".git")).state == "disabled"
    assert not (env.root / ".git" / helperpkg.SOCKET).exists()


def test_killed_mid_hook_the_commit_is_still_judged_and_recorded_once(env: Env) -> None:
    probe(env, env.a)
    helper = running(env)
    settle(env.root)
    db = sqlite3.connect(env.root / ".switchman" / "switchman.db", timeout=30)
    db.execute("BEGIN IMMEDIATE")  # the helper's child will wait for this lock
    env.change(env.a, "src/auth/login.py", "v2\n")
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(commit(env.a, "one").code))
    t.start()
    assert wait_for(lambda: bool(children(helper.pid)), 10)
    for pid in [*children(helper.pid), helper.pid]:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    db.rollback()
    db.close()
    t.join(60)
    assert result == [0]
    sha = head(env.a)
    settle(env.root)
    rows = [e for e in env.events("commit_recorded") if sha in (e["details"] or "")]
    assert len(rows) == 1 and env.cli.json("audit", "verify")["ok"]
    assert helperstate.status(str(env.root / ".git")).state in ("stale_socket", "stopped", "running")


def test_state_on_disk_starting_running_stale(tmp_path: Path) -> None:
    """helper status reads the lock (held by a live helper, with its pid) and the socket."""
    import fcntl
    import socket as socketmod

    common = str(tmp_path)
    assert helperstate.status(common).state == "stopped"
    fd = os.open(tmp_path / helperpkg.LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, f"{os.getpid()}\n".encode())
    assert helperstate.status(common).state == "starting"  # importing: no socket yet
    sock = socketmod.socket(socketmod.AF_UNIX)
    sock.bind(str(tmp_path / helperpkg.SOCKET))
    got = helperstate.status(common)
    assert got.state == "running" and got.pid == os.getpid()
    os.close(fd)  # the helper is gone, its socket left behind
    assert helperstate.status(common).state == "stale_socket"
    assert helperstate.stop(common).state == "stopped" and not (tmp_path / helperpkg.SOCKET).exists()
    sock.close()


def test_a_changed_module_changes_the_code_stamp(tmp_path: Path) -> None:
    """What retires a helper whose install changed under it (checked at most once a second)."""
    from switchman.helper.server import code_stamp

    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 1\n")
    first = code_stamp(str(pkg))
    os.utime(pkg / "sub" / "b.py", ns=(first[0] + 10**9, first[0] + 10**9))
    assert code_stamp(str(pkg)) != first
    second = code_stamp(str(pkg))
    (pkg / "c.py").write_text("z = 1\n")
    os.utime(pkg / "c.py", ns=(first[0], first[0]))  # older mtime, but one module more
    assert code_stamp(str(pkg)) != second
