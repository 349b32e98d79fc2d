"""A switchman-dev 0.1.3 database (and an older, pre-chain 0.1.x one) opens, migrates in place and
verifies unchanged; new events chain on from the old ones."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from switchman.store import sqlite_schema as schema
from switchman.store.sqlite_schema import SCHEMA_VERSION
from testing.cli import Cli, assert_error
from testing.db import connect, query

from .test_audit import EVENT1, EVENT2, HASH1, HASH2, SIG1, SIG2, ZERO_KEY

AUDIT_COLUMNS = (
    "id, event_type, status, reason_code, worktree, task_id, lease_id, file_path, details, created_at, "
    "sequence, prev_hash, entry_hash, signature"
)


def _audit_snapshot(conn: sqlite3.Connection, columns: str = AUDIT_COLUMNS) -> list[tuple[Any, ...]]:
    """Every column with its SQLite storage class, so a TEXT→BLOB or 1→'1' change shows up."""
    cols = [c.strip() for c in columns.split(",")]
    sel = ", ".join(f"{c}, typeof({c})" for c in cols)
    return [tuple(r) for r in conn.execute(f"SELECT {sel} FROM audit_log ORDER BY id")]


def _state(repo: Path) -> Path:
    state = repo / ".switchman"
    state.mkdir()
    (state / "audit.key").write_text(ZERO_KEY + "\n")
    (state / "audit.key").chmod(0o600)
    return state


def _seed_domain(conn: sqlite3.Connection) -> None:
    """A task, its lease and a claim as 0.1.3 wrote them (sqlite `datetime('now')` timestamps)."""
    conn.execute(
        "INSERT INTO worktrees (name, path, branch, status, registered_at, last_seen) "
        "VALUES ('wt-a', '/nonexistent/wt-a', 'feature-a', 'busy', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
    )
    conn.execute(
        "INSERT INTO tasks (id, title, status, worktree, priority, created_at, updated_at) "
        "VALUES ('T1', 'Old task', 'in_progress', 'wt-a', 5, '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
    )
    conn.execute(
        "INSERT INTO task_specs (task_id, spec_json, updated_at) VALUES "
        "('T1', '{\"allowed_paths\":[\"src/auth/**\"],\"subsystem_tags\":[\"auth\"],\"legacy\":true}', '2024-01-01 00:00:00')"
    )
    conn.execute(
        "INSERT INTO leases (id, task_id, worktree, agent, status, started_at, heartbeat_at) "
        "VALUES ('lease-1', 'T1', 'wt-a', NULL, 'active', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
    )
    conn.execute(
        "INSERT INTO file_claims (task_id, lease_id, file_path, worktree, claimed_at) "
        "VALUES ('T1', 'lease-1', 'src/auth/x.js', 'wt-a', '2024-01-01 00:00:01')"
    )
    conn.execute(
        "INSERT INTO scope_reservations (lease_id, task_id, worktree, ownership_level, scope_pattern, reserved_at) "
        "VALUES ('lease-1', 'T1', 'wt-a', 'path_scope', 'src/auth/**', '2024-01-01 00:00:00')"
    )


def make_013_db(repo: Path) -> Path:
    state = _state(repo)
    conn = sqlite3.connect(state / "switchman.db", isolation_level=None)
    conn.executescript(schema.V1_TABLES)
    conn.executescript(schema.V1_INDEXES)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    for ev, h, sig in ((EVENT1, HASH1, SIG1), (EVENT2, HASH2, SIG2)):
        conn.execute(
            "INSERT INTO audit_log (event_type, status, reason_code, worktree, task_id, lease_id, file_path, details, "
            "created_at, sequence, prev_hash, entry_hash, signature) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                ev["event_type"], ev["status"], ev["reason_code"], ev["worktree"], ev["task_id"], ev["lease_id"],
                ev["file_path"], ev["details"], ev["created_at"], ev["sequence"], ev["prev_hash"], h, sig,
            ),
        )
    _seed_domain(conn)
    conn.close()
    return state / "switchman.db"


def test_013_database_verifies_migrates_and_chains_on(repo: Path, cli: Cli) -> None:
    db = make_013_db(repo)
    with sqlite3.connect(db) as conn:
        before = _audit_snapshot(conn)
        tables_before = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert len(tables_before - {"sqlite_sequence"}) == 12

    verify = cli.json("audit", "verify")  # the first open migrates
    assert (verify["ok"], verify["count"], verify["failures"]) == (True, 2, [])

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables >= tables_before | {"gate_runs", "meta", "commit_provenance"}
        assert _audit_snapshot(conn) == before  # byte-identical, never re-signed
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    # the old domain rows are readable through the CLI
    shown = cli.json("task", "show", "T1")
    assert shown["task"]["status"] == "in_progress"
    assert shown["spec"]["legacy"] is True
    assert shown["lease"]["id"] == "lease-1" and shown["lease"]["stale"] is True
    assert [c["file_path"] for c in shown["claims"]] == ["src/auth/x.js"]
    assert cli.json("lease", "list", "--status", "stale")["leases"][0]["id"] == "lease-1"
    assert cli.json("status")["task_counts"] == {"in_progress": 1}

    # init on the migrated store is idempotent: it keeps the key and the rows
    cli.ok("init")
    assert (repo / ".switchman" / "audit.key").read_text() == ZERO_KEY + "\n"
    with sqlite3.connect(db) as conn:
        assert _audit_snapshot(conn)[:2] == before

    # new events chain on from sequence 3
    reaped = cli.json("lease", "reap")["expired"]
    assert [lease["id"] for lease in reaped] == ["lease-1"]
    cli.ok("task", "add", "New task", "--id", "T2")
    rows = query(repo, "SELECT sequence, prev_hash, event_type FROM audit_log ORDER BY id")
    assert [r["sequence"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[2]["prev_hash"] == HASH2
    assert rows[2]["sequence"] == 3
    assert "lease_expired" in [r["event_type"] for r in rows] and rows[-1]["event_type"] == "task_created"
    final = cli.json("audit", "verify")
    assert final["ok"] is True and final["count"] == len(rows)
    with sqlite3.connect(db) as conn:
        assert _audit_snapshot(conn)[:2] == before
    assert cli.json("task", "show", "T1")["task"]["status"] == "pending"
    assert cli.json("claims")["claims"] == []


def test_013_database_with_tampered_row_still_reports_it(repo: Path, cli: Cli) -> None:
    db = make_013_db(repo)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_log SET file_path = 'src/auth/y.js' WHERE sequence = 2")
    bad = cli("audit", "verify", "--json")
    assert bad.code == 1
    assert [f["reason_code"] for f in bad.json["failures"]] == ["entry_hash_mismatch"]


def test_migration_is_idempotent_and_read_only_for_data(repo: Path, cli: Cli) -> None:
    db = make_013_db(repo)
    cli.ok("task", "list")
    with sqlite3.connect(db) as conn:
        schema_sql = sorted(r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
        snap = _audit_snapshot(conn)
    cli.ok("task", "list")
    cli.ok("audit", "verify")
    with sqlite3.connect(db) as conn:
        assert sorted(r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")) == schema_sql
        assert _audit_snapshot(conn) == snap


# --- a pre-chain 0.1.x database ---------------------------------------------------------------------

PRE_CHAIN = """
CREATE TABLE tasks (
  id TEXT PRIMARY KEY, title TEXT NOT NULL, description TEXT, status TEXT NOT NULL DEFAULT 'pending',
  worktree TEXT, agent TEXT, priority INTEGER DEFAULT 5,
  created_at TEXT NOT NULL DEFAULT (datetime('now')), updated_at TEXT NOT NULL DEFAULT (datetime('now')),
  completed_at TEXT
);
CREATE TABLE leases (
  id TEXT PRIMARY KEY, task_id TEXT NOT NULL, worktree TEXT NOT NULL, agent TEXT,
  status TEXT NOT NULL DEFAULT 'active', started_at TEXT NOT NULL DEFAULT (datetime('now')),
  heartbeat_at TEXT NOT NULL DEFAULT (datetime('now')), finished_at TEXT, failure_reason TEXT,
  FOREIGN KEY(task_id) REFERENCES tasks(id)
);
CREATE TABLE file_claims (
  id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, file_path TEXT NOT NULL,
  worktree TEXT NOT NULL, agent TEXT, claimed_at TEXT NOT NULL DEFAULT (datetime('now')), released_at TEXT,
  FOREIGN KEY(task_id) REFERENCES tasks(id)
);
CREATE TABLE worktrees (
  name TEXT PRIMARY KEY, path TEXT NOT NULL, branch TEXT NOT NULL, agent TEXT,
  status TEXT NOT NULL DEFAULT 'idle', registered_at TEXT NOT NULL DEFAULT (datetime('now')),
  last_seen TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT, event_type TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'info',
  reason_code TEXT, worktree TEXT, task_id TEXT, lease_id TEXT, file_path TEXT, details TEXT,
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
"""
PRE_CHAIN_COLUMNS = "id, event_type, status, reason_code, worktree, task_id, lease_id, file_path, details, created_at"


def make_pre_chain_db(repo: Path) -> Path:
    state = _state(repo)
    conn = sqlite3.connect(state / "switchman.db", isolation_level=None)
    conn.executescript(PRE_CHAIN)
    conn.execute("INSERT INTO worktrees (name, path, branch) VALUES ('wt-a', '/nonexistent', 'a')")
    conn.execute("INSERT INTO tasks (id, title) VALUES ('T1', 'old')")
    conn.execute("INSERT INTO file_claims (task_id, file_path, worktree) VALUES ('T1', 'src/a.py', 'wt-a')")
    conn.execute("INSERT INTO audit_log (event_type, status, task_id) VALUES ('task_created', 'info', 'T1')")
    conn.execute(
        "INSERT INTO audit_log (event_type, status, task_id, file_path, details) "
        "VALUES ('file_claimed', 'allowed', 'T1', 'src/a.py', '{\"legacy\":1}')"
    )
    conn.close()
    return state / "switchman.db"


def test_pre_chain_database_migrates_and_reports_unsigned_rows(repo: Path, cli: Cli) -> None:
    db = make_pre_chain_db(repo)
    with sqlite3.connect(db) as conn:
        before = _audit_snapshot(conn, PRE_CHAIN_COLUMNS)

    res = cli("audit", "verify", "--json")
    assert res.code == 1, res.err
    doc = json.loads(res.out)
    assert doc["ok"] is False and doc["count"] == 2
    assert [(f["reason_code"], f["id"]) for f in doc["failures"]] == [("unsigned_row", 1), ("unsigned_row", 2)]

    with connect(repo) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        cols = {r[1] for r in conn.execute("PRAGMA table_info(audit_log)")}
        assert {"sequence", "prev_hash", "entry_hash", "signature"} <= cols
        assert {"enforcement_mode", "compliance_state"} <= {r[1] for r in conn.execute("PRAGMA table_info(worktrees)")}
        assert "lease_id" in {r[1] for r in conn.execute("PRAGMA table_info(file_claims)")}
        assert _audit_snapshot(conn, PRE_CHAIN_COLUMNS) == before
        assert conn.execute("SELECT COUNT(*) FROM audit_log WHERE entry_hash IS NOT NULL OR signature IS NOT NULL").fetchone()[0] == 0

    # the old rows stay unsigned forever; new ones start their own chain at sequence 1
    cli.ok("task", "add", "new", "--id", "T2")
    rows = query(repo, "SELECT id, sequence, prev_hash, entry_hash FROM audit_log ORDER BY id")
    assert [(r["sequence"], r["entry_hash"] is None) for r in rows] == [(None, True), (None, True), (1, False)]
    assert rows[2]["prev_hash"] is None
    doc = cli("audit", "verify", "--json").json
    assert [f["reason_code"] for f in doc["failures"]] == ["unsigned_row", "unsigned_row"]
    with connect(repo) as conn:
        assert _audit_snapshot(conn, PRE_CHAIN_COLUMNS)[:2] == before
    # the old domain rows work
    assert cli.json("worktree", "list")["worktrees"][0]["enforcement_mode"] == "observed"
    assert cli.json("claims")["claims"][0]["lease_id"] is None


def test_missing_key_on_an_old_database_is_key_missing(repo: Path, cli: Cli) -> None:
    make_013_db(repo)
    (repo / ".switchman" / "audit.key").unlink()
    res = cli("audit", "verify", "--json")
    assert res.code == 3
    assert res.json["failures"][0]["reason_code"] == "key_missing"
    assert_error(cli("task", "add", "x"), 3, "key")
    assert_error(cli("init"), 3)
    assert not (repo / ".switchman" / "audit.key").exists()


@pytest.mark.parametrize("version", [1, 2])
def test_intermediate_versions_migrate_forward(repo: Path, cli: Cli, version: int) -> None:
    db = make_013_db(repo)
    with sqlite3.connect(db) as conn:
        if version >= 2:
            conn.executescript(schema.V2)
        conn.execute(f"PRAGMA user_version = {version}")
        snap = _audit_snapshot(conn)
    assert cli.json("audit", "verify")["ok"] is True
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert _audit_snapshot(conn) == snap


def test_version_4_gains_machines_for_the_rows_it_has(repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Schema 5: worktrees and checkpoint keys record their machine; a version 4 store's rows were
    all made on the machine holding the file, so they get its id, and the trail is untouched."""
    monkeypatch.setenv("SWITCHMAN_MACHINE_ID", "machine-m")
    cli.ok("init")
    with connect(repo) as conn:
        conn.execute("ALTER TABLE worktrees DROP COLUMN machine")
        conn.execute("ALTER TABLE checkpoint_keys DROP COLUMN machine")
        conn.execute("PRAGMA user_version = 4")
        snap = _audit_snapshot(conn)
    assert cli.json("audit", "verify")["ok"] is True
    with connect(repo) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        assert _audit_snapshot(conn) == snap
    assert [w["machine"] for w in cli.json("worktree", "list")["worktrees"]] == ["machine-m"]
    assert [k["machine"] for k in cli.json("audit", "pubkey")["keyring"]] == ["machine-m"]
