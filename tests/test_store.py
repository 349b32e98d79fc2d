"""`init` and the store: state files, exclude, worktree registration, PRAGMAs, transactions."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from switchman.errors import EnvironmentProblem
from switchman.store import sqlite as connmod
from switchman.store.sqlite import Store
from switchman.store.sqlite_schema import SCHEMA_VERSION
from testing.cli import Cli, assert_error, json_error, run_cli
from testing.db import db_path, events, scalar
from testing.git import add_worktree, git

V013_TABLES = {
    "tasks",
    "leases",
    "file_claims",
    "worktrees",
    "conflict_log",
    "audit_log",
    "worktree_snapshots",
    "task_specs",
    "scope_reservations",
    "boundary_validation_state",
    "dependency_invalidations",
    "code_objects",
}


def exclude_lines(repo: Path) -> list[str]:
    return (repo / ".git" / "info" / "exclude").read_text().splitlines()


# --- init ------------------------------------------------------------------------------------


def test_init_creates_state_key_policy_and_exclude(repo: Path, cli: Cli) -> None:
    data = cli.json("init")
    state = repo / ".switchman"
    assert data["ok"] is True and data["created"] is True and data["key_created"] is True
    assert data["state_dir"] == str(state)
    assert data["mode"] == "observed"
    assert {p.name for p in state.iterdir()} >= {"switchman.db", "audit.key", "enforcement.json"}
    key = state / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert re.fullmatch(rb"[0-9a-f]{64}\n", key.read_bytes())
    assert json.loads((state / "enforcement.json").read_text()) == {
        "default_mode": "observed",
        "allowed_generated_paths": [],
    }
    assert exclude_lines(repo).count("/.switchman/") == 1
    # git really ignores it: nothing of the state shows up as untracked
    assert ".switchman" not in git(repo, "status", "--porcelain", "--untracked-files=all")
    assert [w["name"] for w in data["registered"]] == ["main"]


def test_init_is_idempotent(repo: Path, cli: Cli) -> None:
    cli.ok("init")
    key = (repo / ".switchman" / "audit.key").read_bytes()
    policy = (repo / ".switchman" / "enforcement.json").read_text()
    count = len(events(repo))
    again = cli.json("init")
    assert again["created"] is False and again["key_created"] is False
    assert again["registered"] == []
    assert again["excluded"] is False
    assert (repo / ".switchman" / "audit.key").read_bytes() == key
    assert (repo / ".switchman" / "enforcement.json").read_text() == policy
    assert exclude_lines(repo).count("/.switchman/") == 1
    assert len(events(repo)) == count  # nothing re-registered, nothing re-signed
    assert cli.json("audit", "verify")["ok"] is True
    human = cli.ok("init").out
    assert "already initialised" in human


def test_init_keeps_an_existing_exclude_entry_and_missing_newline(repo: Path, cli: Cli) -> None:
    exclude = repo / ".git" / "info" / "exclude"
    exclude.parent.mkdir(exist_ok=True)
    exclude.write_text("*.log")  # no trailing newline
    cli.ok("init")
    lines = exclude_lines(repo)
    assert lines[0] == "*.log" and lines.count("/.switchman/") == 1
    exclude.write_text(".switchman/\n")
    cli.ok("init")
    assert "/.switchman/" not in exclude_lines(repo)


def test_init_registers_every_git_worktree(repo: Path, cli: Cli) -> None:
    a = add_worktree(repo, "agent-a")
    b = add_worktree(repo, "agent-b", branch="feature/b")
    data = cli.json("init")
    got = {w["name"]: (w["path"], w["branch"]) for w in data["registered"]}
    assert got == {
        "main": (str(repo.resolve()), "main"),
        "agent-a": (str(a), "agent-a"),
        "agent-b": (str(b), "feature/b"),
    }
    regs = events(repo, "worktree_registered")
    assert len(regs) == 3


def test_init_from_linked_worktree_subdirectory_puts_state_at_main_root(repo: Path, cli: Cli) -> None:
    wt = add_worktree(repo, "agent-a")
    sub = wt / "src" / "auth"
    res = run_cli("init", "--json", cwd=sub)  # the real console script, from a linked worktree
    assert res.code == 0, res.err
    assert json.loads(res.out)["state_dir"] == str(repo / ".switchman")
    assert (repo / ".switchman" / "switchman.db").exists()
    assert not (wt / ".switchman").exists() and not (sub / ".switchman").exists()
    # the exclude lives in the common dir, shared by every worktree
    assert exclude_lines(repo).count("/.switchman/") == 1
    assert ".switchman" not in git(wt, "status", "--porcelain", "--untracked-files=all")
    names = {w["name"] for w in cli.json("worktree", "list", cwd=sub)["worktrees"]}
    assert names == {"main", "agent-a"}


def test_init_with_dash_c_from_elsewhere(repo: Path, tmp_path: Path) -> None:
    res = run_cli("-C", str(repo / "src"), "init", cwd=tmp_path)
    assert res.code == 0, res.err
    assert (repo / ".switchman" / "audit.key").exists()
    res = run_cli("-C", "repo/docs", "status", "--json", cwd=tmp_path)
    assert res.code == 0 and json.loads(res.out)["repo_root"] == str(repo.resolve())


def test_init_mode_guarded(repo: Path, cli: Cli) -> None:
    add_worktree(repo, "agent-a")
    data = cli.json("init", "--mode", "guarded")
    assert data["mode"] == "guarded"
    assert cli.json("policy", "show")["default_mode"] == "guarded"
    modes = {w["name"]: w["enforcement_mode"] for w in cli.json("worktree", "list")["worktrees"]}
    assert modes == {"main": "guarded", "agent-a": "guarded"}
    # a later init with another mode changes the default, not the registered worktrees
    cli.ok("init", "--mode", "strict")
    assert cli.json("policy", "show")["default_mode"] == "strict"
    assert {w["enforcement_mode"] for w in cli.json("worktree", "list")["worktrees"]} == {"guarded"}
    changes = [json.loads(e["details"]) for e in events(repo, "policy_updated")]
    assert [(c["previous"], c["default_mode"]) for c in changes] == [("observed", "guarded"), ("guarded", "strict")]
    cli.ok("init", "--mode", "strict")  # no change, no event
    assert len(events(repo, "policy_updated")) == 2
    assert_error(cli("init", "--mode", "loose"), 2)


def test_init_outside_a_git_repo_is_exit_3(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    res = run_cli("init", cwd=plain)
    assert_error(res, 3, "not a git repository")
    assert not (plain / ".switchman").exists()
    res = run_cli("task", "list", "--json", cwd=plain)
    json_error(res, 3, "not_a_repo")


def test_dash_c_to_a_missing_directory_is_exit_2(tmp_path: Path) -> None:
    assert_error(run_cli("-C", str(tmp_path / "nope"), "status"), 2, "no such directory")


def test_init_in_a_bare_repository(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    res = run_cli("init", cwd=bare)
    assert res.code == 0, res.err
    assert (bare / "switchman" / "switchman.db").exists()
    assert stat.S_IMODE((bare / "switchman" / "audit.key").stat().st_mode) == 0o600


def test_commands_before_init_are_exit_3(repo: Path, cli: Cli) -> None:
    for args in (["status"], ["task", "list"], ["audit", "verify"], ["worktree", "list"], ["policy", "show"]):
        assert_error(cli(*args), 3, "not initialised")
    json_error(cli("task", "list", "--json"), 3, "not_initialised")
    assert not (repo / ".switchman").exists()


def test_malformed_key_is_exit_3(initialised: Path, cli: Cli) -> None:
    (initialised / ".switchman" / "audit.key").write_text("not-a-key\n")
    assert_error(cli("task", "add", "x"), 3, "audit.key")
    assert_error(cli("init"), 3)


def test_unreadable_database_is_exit_3(initialised: Path, cli: Cli) -> None:
    db_path(initialised).write_bytes(b"this is not sqlite at all" * 100)
    for suffix in ("-wal", "-shm"):
        p = Path(str(db_path(initialised)) + suffix)
        if p.exists():
            p.unlink()
    assert_error(cli("task", "list"), 3)
    assert_error(cli("status", "--json"), 3)


def test_newer_schema_is_refused(initialised: Path, cli: Cli) -> None:
    conn = sqlite3.connect(db_path(initialised))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    assert_error(cli("task", "list"), 3, "newer")


# --- PRAGMAs and schema --------------------------------------------------------------------------


def test_pragmas_and_schema(initialised: Path) -> None:
    # persistent settings, seen by a brand-new plain connection
    conn = sqlite3.connect(db_path(initialised))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= V013_TABLES | {"gate_runs", "meta", "commit_provenance"}
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    # per-connection settings, set by every Store.open
    store = Store.open(str(initialised / ".switchman"))
    try:
        assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
        with pytest.raises(sqlite3.IntegrityError):
            store.conn.execute(
                "INSERT INTO leases (id, task_id, worktree, status) VALUES ('l', 'no-such-task', 'w', 'active')"
            )
    finally:
        store.close()


def test_store_open_without_create_is_not_initialised(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem) as info:
        Store.open(str(tmp_path))
    assert info.value.exit_code == 3 and info.value.code == "not_initialised"


# --- the transaction helper ------------------------------------------------------------------


def _store(initialised: Path) -> Store:
    return Store.open(str(initialised / ".switchman"))


def test_write_waits_for_a_competing_writer(initialised: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The busy timeout is one overall deadline for the wait, retries included.
    monkeypatch.setattr(connmod, "BUSY_TIMEOUT_MS", 3000)
    blocker = sqlite3.connect(db_path(initialised), isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    store = _store(initialised)
    release = threading.Timer(0.4, lambda: blocker.execute("COMMIT"))
    release.start()
    try:
        t0 = time.monotonic()
        store.write(lambda tx: tx.audit("task_created", "info", task_id="waited"))
        assert time.monotonic() - t0 >= 0.3
    finally:
        release.join()
        blocker.close()
        store.close()
    assert scalar(initialised, "SELECT COUNT(*) FROM audit_log WHERE task_id = 'waited'") == 1


def test_write_gives_up_with_store_locked(initialised: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connmod, "BUSY_TIMEOUT_MS", 20)
    monkeypatch.setattr(connmod, "RETRY_ATTEMPTS", 3)
    blocker = sqlite3.connect(db_path(initialised), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    store = _store(initialised)
    try:
        with pytest.raises(EnvironmentProblem) as info:
            store.write(lambda tx: tx.audit("task_created", "info", task_id="never"))
        assert info.value.code == "store_locked" and info.value.exit_code == 3
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        store.close()
    assert scalar(initialised, "SELECT COUNT(*) FROM audit_log WHERE task_id = 'never'") == 0


def test_write_rolls_back_state_and_audit_on_any_error(initialised: Path) -> None:
    store = _store(initialised)
    before = scalar(initialised, "SELECT COUNT(*) FROM audit_log")

    def fn(tx: connmod.Tx) -> None:
        tx.execute("INSERT INTO tasks (id, title, status, created_at, updated_at) VALUES ('T', 't', 'pending', 'x', 'x')")
        tx.audit("task_created", "info", task_id="T")
        raise sqlite3.IntegrityError("boom")

    try:
        with pytest.raises(EnvironmentProblem):
            store.write(fn)
        # the connection is usable again: no transaction left open
        store.write(lambda tx: tx.audit("task_created", "info", task_id="after"))
    finally:
        store.close()
    assert scalar(initialised, "SELECT COUNT(*) FROM tasks WHERE id = 'T'") == 0
    assert scalar(initialised, "SELECT COUNT(*) FROM audit_log") == before + 1


@pytest.mark.both_backends
def test_non_utf8_text_is_bad_input_not_a_crash(initialised: Path, cli: Cli) -> None:
    bad = os.fsdecode(b"caf\xe9")
    assert_error(run_cli("task", "add", bad, cwd=initialised), 2, "UTF-8")
    assert_error(run_cli("task", "show", bad, cwd=initialised), 2)
    cli.ok("task", "add", "ok", "--id", "T1")
    res = run_cli("lease", "acquire", "T1", "main", "--agent", bad, cwd=initialised)
    assert_error(res, 2)
    assert cli.json("task", "show", "T1")["task"]["status"] == "pending"


@pytest.mark.both_backends
def test_error_line_never_splits_on_newlines(initialised: Path, cli: Cli) -> None:
    assert_error(cli("task", "show", "a\nb"), 1, "no task")
    assert_error(cli("task", "add", "t", "--id", "has\nnewline"), 2)


def test_init_when_the_state_dir_is_blocked_by_a_file(repo: Path, cli: Cli) -> None:
    (repo / ".switchman").write_text("in the way")
    assert_error(cli("init"), 3, ".switchman")


@pytest.mark.parametrize(
    "args",
    [
        ["task", "add", "x", "-p", str(2**64)],
        ["audit", "list", "--limit", str(2**64)],
        ["audit", "export", "--since", str(2**64)],
        ["lease", "reap", "--stale-after", "nan"],
    ],
)
@pytest.mark.both_backends
def test_out_of_range_numbers_are_bad_input(initialised: Path, cli: Cli, args: list[str]) -> None:
    assert_error(cli(*args), 2)
