"""SPEC §14, the lifecycle: unknown hook names refused, the framework hint, -q/-v, the signing key
found whatever HOME a process has, a failing command changing nothing, `uninstall --purge` and
`init --new-history` (issue 17). Real git, the real console scripts and installed hooks."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from switchman.checkpoint.keys import KEY_LOCATION
from testing.cli import Cli, assert_error, run_cli
from testing.env import BIN
from testing.git import add_worktree, git, write

HOOKRUN = str(BIN / "switchman-hookrun")


def hookrun(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HOOKRUN, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})


# --- 1. hook names, the framework hint, quiet and verbose ---------------------------------------


@pytest.mark.parametrize("name", ["pre-comit", "precommit", "Pre-Commit", ""])
def test_hookrun_refuses_an_unknown_hook_name(initialised: Path, name: str) -> None:
    proc = hookrun(name, cwd=initialised)
    assert proc.returncode == 2, proc
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown hook name"), proc.stderr
    assert "pre-commit" in lines[0] and "push-gate" in lines[0]


def test_hook_command_refuses_an_unknown_hook_name(initialised: Path) -> None:
    res = run_cli("hook", "pre-comit", cwd=initialised)
    assert res.code == 2 and "unknown hook name 'pre-comit'" in res.err


def test_unknown_name_is_refused_even_where_switchman_is_not_set_up(repo: Path, tmp_path: Path) -> None:
    assert hookrun("pre-comit", cwd=repo).returncode == 2
    assert hookrun("pre-comit", cwd=tmp_path).returncode == 2
    assert hookrun("pre-commit", cwd=repo).returncode == 0  # a known name there stays out of the way


def test_framework_without_init_says_once_how_to_start(repo: Path) -> None:
    first = hookrun("gate", cwd=repo, env={"PRE_COMMIT": "1"})
    assert first.returncode == 0 and "switchman-hook init" in first.stderr, first
    assert len(first.stderr.splitlines()) == 1
    again = hookrun("gate", cwd=repo, env={"PRE_COMMIT": "1"})
    assert again.returncode == 0 and again.stderr == ""
    assert hookrun("pre-commit", cwd=repo).stderr == ""  # direct hooks in a repo never set up: silent


def _observed_commit(initialised: Path, cli: Cli, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    write(initialised / "notes.txt", f"{os.urandom(4).hex()}\n")
    git(initialised, "add", "notes.txt")
    return subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=initialised, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_quiet_drops_observed_warnings_on_the_hook_path(initialised: Path, cli: Cli) -> None:
    cli.ok("hooks", "install")
    loud = _observed_commit(initialised, cli)
    assert loud.returncode == 0 and "warning" in loud.stderr.lower(), loud.stderr
    quiet = _observed_commit(initialised, cli, {"SWITCHMAN_QUIET": "1"})
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    write(initialised / "more.txt", "x\n")
    git(initialised, "add", "more.txt")
    assert hookrun("-q", "pre-commit", cwd=initialised).stderr == ""
    assert "warning" in hookrun("pre-commit", cwd=initialised).stderr.lower()


def test_quiet_still_prints_refusals(initialised: Path, cli: Cli) -> None:
    cli.ok("hooks", "install")
    cli.ok("policy", "mode", "guarded")
    cli.ok("worktree", "mode", "main", "guarded")
    proc = _observed_commit(initialised, cli, {"SWITCHMAN_QUIET": "1"})
    assert proc.returncode != 0 and "no_active_lease" in proc.stderr, proc.stderr


def test_cli_quiet_and_verbose(initialised: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    res = cli.ok("-q", "uninstall")
    assert "--purge" not in res.out  # the success chatter is dropped
    assert "--purge" in cli.ok("uninstall").out
    assert "next:" in cli.ok("init").out and "next:" not in cli.ok("--quiet", "init").out
    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("switchman.status.collect", boom)
    plain = cli("status")  # the internal error path: one line, a traceback only with -v
    assert plain.code == 3 and "Traceback" not in plain.err and "-v" in plain.err, plain.err
    assert "Traceback" in cli("-v", "status").err
    assert os.environ.get("SWITCHMAN_VERBOSE") is None and os.environ.get("SWITCHMAN_QUIET") is None


# --- 3. the key, whatever HOME ------------------------------------------------------------------


def _home(tmp_path: Path, name: str) -> dict[str, str]:
    home = tmp_path / name
    home.mkdir()
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


def test_a_process_with_another_home_finds_the_key(initialised: Path, tmp_path: Path) -> None:
    recorded = (initialised / ".switchman" / KEY_LOCATION).read_text().strip()
    assert os.path.exists(recorded) and recorded.startswith(os.environ["XDG_CONFIG_HOME"])
    other = _home(tmp_path, "sandbox")
    res = run_cli("task", "add", "from the sandbox", cwd=initialised, env=other)
    assert res.code == 0, res.err
    assert not os.path.exists(Path(other["XDG_CONFIG_HOME"]) / "switchman-hook")  # no second key
    verify = run_cli("audit", "verify", cwd=initialised, env=other)
    assert verify.code == 0, verify.err + verify.out


def test_rotate_key_from_another_home_locks_nobody_out(initialised: Path, cli: Cli, tmp_path: Path) -> None:
    other = _home(tmp_path, "second-user")
    rotated = run_cli("audit", "rotate-key", cwd=initialised, env=other)
    assert rotated.code == 0, rotated.err
    cli.ok("task", "add", "first user, after the rotation")  # the first user's HOME
    assert run_cli("task", "add", "second user", cwd=initialised, env=other).code == 0
    assert run_cli("audit", "verify", cwd=initialised).code == 0


def test_rotate_key_refuses_when_the_key_location_is_not_visible(initialised: Path, cli: Cli) -> None:
    rid = Path((initialised / ".switchman" / KEY_LOCATION).read_text().strip()).name
    (initialised / ".switchman" / KEY_LOCATION).write_text(f"/nonexistent-mount/keys/{rid}\n")
    before = cli.json("audit", "list")["events"]
    res = cli("audit", "rotate-key")
    assert_error(res, 3, "lock out")
    assert cli.json("audit", "list")["events"] == before


def _snapshot(root: Path) -> tuple[list[str], str]:
    conn = sqlite3.connect(root / ".switchman" / "switchman.db")
    try:
        rows = list(conn.iterdump())
    finally:
        conn.close()
    refs = git(root, "for-each-ref", "refs/switchman/")
    return rows, refs


@pytest.mark.parametrize(
    "command",
    [
        ("task", "add", "faulted"),
        ("lease", "acquire", "T-fault", "main"),
        ("claim", "T-fault", "main", "src/auth/login.py"),
        ("policy", "mode", "strict"),
        ("policy", "allow", "dist/**"),
        ("worktree", "mode", "main", "strict"),
        ("audit", "checkpoint"),
    ],
)
def test_a_command_that_fails_on_its_key_changed_nothing(initialised: Path, cli: Cli, command: tuple[str, ...]) -> None:
    """The key read fails (injected: `checkpoint.read_key!raise`); before, it struck after the
    command's transaction had committed: exit 3 *and* the change made."""
    cli.ok("task", "add", "a task", "--id", "T-fault")
    before = _snapshot(initialised)
    res = run_cli(*command, cwd=initialised, env={"SWITCHMAN_FAULT": "checkpoint.read_key!raise"})
    assert res.code == 3, res.err + res.out
    assert "cannot read the checkpoint signing key" in res.err and "Traceback" not in res.err
    assert _snapshot(initialised) == before
    assert run_cli(*command, cwd=initialised).code == 0  # without the fault the command works


# --- 4. uninstall --purge, start over, init --new-history ---------------------------------------


def test_uninstall_purge_leaves_no_trace(repo: Path, cli: Cli) -> None:
    write(repo / ".git" / "hooks" / "pre-commit", "#!/bin/sh\necho mine\n")
    os.chmod(repo / ".git" / "hooks" / "pre-commit", 0o755)
    before_exclude = "# the user's own\n*.log\n"
    write(repo / ".git" / "info" / "exclude", before_exclude)
    wt = add_worktree(repo, "agent-a")
    cli.ok("init", "--install-hooks")
    write(wt / "a.txt", "a\n")
    git(wt, "add", "a.txt")
    git(wt, "commit", "-q", "-m", "a")  # leaves the per-worktree mode marker
    key = Path((repo / ".switchman" / KEY_LOCATION).read_text().strip())
    markers = [p for d in (repo / ".git", *(repo / ".git" / "worktrees").iterdir()) for p in d.glob("switchman-*")]
    assert key.exists() and markers
    assert cli.ok("uninstall").code == 0 and (repo / ".switchman").is_dir()  # without --purge: hooks only
    cli.ok("hooks", "install")
    doc = cli.json("uninstall", "--purge")
    removed = doc["removed"]
    assert str(key) in removed and str(repo / ".switchman") in removed
    assert "refs/switchman/audit-checkpoint" in removed
    assert all(str(m) in removed for m in markers), [str(m) for m in markers if str(m) not in removed]
    assert not (repo / ".switchman").exists() and not key.exists()
    assert git(repo, "for-each-ref", "refs/switchman/") == ""
    assert (repo / ".git" / "info" / "exclude").read_text() == before_exclude
    assert not [p for d in (repo / ".git", *(repo / ".git" / "worktrees").iterdir()) for p in d.glob("switchman-*")]
    assert (repo / ".git" / "hooks" / "pre-commit").read_text() == "#!/bin/sh\necho mine\n"  # restored
    cli.ok("init")  # after a purge, a plain init starts clean


def test_start_over_tells_init_new_history_and_then_works(initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "before the reset")
    shutil.rmtree(initialised / ".switchman")
    res = cli("init")
    assert_error(res, 3, "init --new-history")
    assert not (initialised / ".switchman").exists()  # refused before creating anything
    out = cli.json("init", "--new-history")
    assert out["ok"] is True
    events = sorted(cli.json("audit", "list")["events"], key=lambda e: e["sequence"])
    assert events[0]["event_type"] == "history_restarted"
    details = json.loads(events[0]["details"])
    assert details["previous_checkpoint"] and details["kept_as"].startswith("refs/switchman/previous/")
    cli.ok("task", "add", "after the reset")
    assert cli("audit", "verify").code == 0
    assert_error(cli("init", "--new-history"), 3, "uninstall --purge")  # a store exists: refused
