"""Schema and forward migrations, versioned with `PRAGMA user_version`.

Version 1 is switchman-dev 0.1.3's schema (12 tables, same columns). A 0.1.3 database has
user_version 0 and those tables; it is migrated in place by adding what later versions need.
Migrations only add: they never rewrite or re-sign audit rows.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 5

# switchman-dev 0.1.3, column for column.
V1_TABLES = """
CREATE TABLE IF NOT EXISTS tasks (
  id           TEXT PRIMARY KEY,
  title        TEXT NOT NULL,
  description  TEXT,
  status       TEXT NOT NULL DEFAULT 'pending',
  worktree     TEXT,
  agent        TEXT,
  priority     INTEGER DEFAULT 5,
  created_at   TEXT NOT NULL DEFAULT (datetime('now')),
  updated_at   TEXT NOT NULL DEFAULT (datetime('now')),
  completed_at TEXT
);
CREATE TABLE IF NOT EXISTS leases (
  id            TEXT PRIMARY KEY,
  task_id       TEXT NOT NULL,
  worktree      TEXT NOT NULL,
  agent         TEXT,
  status        TEXT NOT NULL DEFAULT 'active',
  started_at    TEXT NOT NULL DEFAULT (datetime('now')),
  heartbeat_at  TEXT NOT NULL DEFAULT (datetime('now')),
  finished_at   TEXT,
  failure_reason TEXT,
  FOREIGN KEY(task_id) REFERENCES tasks(id)
);
CREATE TABLE IF NOT EXISTS file_claims (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id     TEXT NOT NULL,
  lease_id    TEXT,
  file_path   TEXT NOT NULL,
  worktree    TEXT NOT NULL,
  agent       TEXT,
  claimed_at  TEXT NOT NULL DEFAULT (datetime('now')),
  released_at TEXT,
  FOREIGN KEY(task_id) REFERENCES tasks(id),
  FOREIGN KEY(lease_id) REFERENCES leases(id)
);
CREATE TABLE IF NOT EXISTS worktrees (
  name          TEXT PRIMARY KEY,
  path          TEXT NOT NULL,
  branch        TEXT NOT NULL,
  agent         TEXT,
  status        TEXT NOT NULL DEFAULT 'idle',
  enforcement_mode TEXT NOT NULL DEFAULT 'observed',
  compliance_state TEXT NOT NULL DEFAULT 'observed',
  registered_at TEXT NOT NULL DEFAULT (datetime('now')),
  last_seen     TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS conflict_log (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  detected_at       TEXT NOT NULL DEFAULT (datetime('now')),
  worktree_a        TEXT NOT NULL,
  worktree_b        TEXT NOT NULL,
  conflicting_files TEXT NOT NULL,
  resolved          INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS audit_log (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  event_type   TEXT NOT NULL,
  status       TEXT NOT NULL DEFAULT 'info',
  reason_code  TEXT,
  worktree     TEXT,
  task_id      TEXT,
  lease_id     TEXT,
  file_path    TEXT,
  details      TEXT,
  created_at   TEXT NOT NULL DEFAULT (datetime('now')),
  sequence     INTEGER,
  prev_hash    TEXT,
  entry_hash   TEXT,
  signature    TEXT
);
CREATE TABLE IF NOT EXISTS worktree_snapshots (
  worktree     TEXT NOT NULL,
  file_path    TEXT NOT NULL,
  fingerprint  TEXT NOT NULL,
  observed_at  TEXT NOT NULL DEFAULT (datetime('now')),
  PRIMARY KEY (worktree, file_path)
);
CREATE TABLE IF NOT EXISTS task_specs (
  task_id      TEXT PRIMARY KEY,
  spec_json    TEXT NOT NULL,
  updated_at   TEXT NOT NULL DEFAULT (datetime('now')),
  FOREIGN KEY(task_id) REFERENCES tasks(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS scope_reservations (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  lease_id        TEXT NOT NULL,
  task_id         TEXT NOT NULL,
  worktree        TEXT NOT NULL,
  ownership_level TEXT NOT NULL,
  scope_pattern   TEXT,
  subsystem_tag   TEXT,
  reserved_at     TEXT NOT NULL DEFAULT (datetime('now')),
  released_at     TEXT,
  FOREIGN KEY(lease_id) REFERENCES leases(id),
  FOREIGN KEY(task_id) REFERENCES tasks(id)
);
CREATE TABLE IF NOT EXISTS boundary_validation_state (
  lease_id           TEXT PRIMARY KEY,
  task_id            TEXT NOT NULL,
  pipeline_id        TEXT,
  status             TEXT NOT NULL,
  missing_task_types TEXT NOT NULL DEFAULT '[]',
  touched_at         TEXT,
  last_evaluated_at  TEXT NOT NULL DEFAULT (datetime('now')),
  details            TEXT,
  FOREIGN KEY(lease_id) REFERENCES leases(id),
  FOREIGN KEY(task_id) REFERENCES tasks(id)
);
CREATE TABLE IF NOT EXISTS dependency_invalidations (
  id                   INTEGER PRIMARY KEY AUTOINCREMENT,
  source_lease_id      TEXT NOT NULL,
  source_task_id       TEXT NOT NULL,
  source_pipeline_id   TEXT,
  source_worktree      TEXT,
  affected_task_id     TEXT NOT NULL,
  affected_pipeline_id TEXT,
  affected_worktree    TEXT,
  status               TEXT NOT NULL DEFAULT 'stale',
  reason_type          TEXT NOT NULL,
  subsystem_tag        TEXT,
  source_scope_pattern TEXT,
  affected_scope_pattern TEXT,
  details              TEXT,
  created_at           TEXT NOT NULL DEFAULT (datetime('now')),
  resolved_at          TEXT,
  FOREIGN KEY(source_lease_id) REFERENCES leases(id),
  FOREIGN KEY(source_task_id) REFERENCES tasks(id),
  FOREIGN KEY(affected_task_id) REFERENCES tasks(id)
);
CREATE TABLE IF NOT EXISTS code_objects (
  object_id      TEXT PRIMARY KEY,
  file_path      TEXT NOT NULL,
  kind           TEXT NOT NULL,
  name           TEXT NOT NULL,
  source_text    TEXT NOT NULL,
  subsystem_tags TEXT NOT NULL DEFAULT '[]',
  area           TEXT,
  updated_at     TEXT NOT NULL DEFAULT (datetime('now'))
);
"""

# Columns older 0.1.x databases may lack; 0.1.3 added them with ALTER TABLE the same way.
V1_LATE_COLUMNS = [
    ("file_claims", "lease_id", "TEXT REFERENCES leases(id)"),
    ("worktrees", "enforcement_mode", "TEXT NOT NULL DEFAULT 'observed'"),
    ("worktrees", "compliance_state", "TEXT NOT NULL DEFAULT 'observed'"),
    ("audit_log", "sequence", "INTEGER"),
    ("audit_log", "prev_hash", "TEXT"),
    ("audit_log", "entry_hash", "TEXT"),
    ("audit_log", "signature", "TEXT"),
]

V1_INDEXES = """
CREATE INDEX IF NOT EXISTS idx_tasks_status ON tasks(status);
CREATE INDEX IF NOT EXISTS idx_leases_task ON leases(task_id);
CREATE INDEX IF NOT EXISTS idx_leases_status ON leases(status);
CREATE UNIQUE INDEX IF NOT EXISTS idx_leases_unique_active_task ON leases(task_id) WHERE status='active';
CREATE INDEX IF NOT EXISTS idx_file_claims_task_id ON file_claims(task_id);
CREATE INDEX IF NOT EXISTS idx_file_claims_lease_id ON file_claims(lease_id);
CREATE INDEX IF NOT EXISTS idx_file_claims_path ON file_claims(file_path);
CREATE INDEX IF NOT EXISTS idx_file_claims_active ON file_claims(released_at) WHERE released_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS idx_file_claims_unique_active ON file_claims(file_path) WHERE released_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_audit_log_event_type ON audit_log(event_type);
CREATE INDEX IF NOT EXISTS idx_audit_log_created_at ON audit_log(created_at);
CREATE UNIQUE INDEX IF NOT EXISTS idx_audit_log_sequence ON audit_log(sequence) WHERE sequence IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_worktree_snapshots_worktree ON worktree_snapshots(worktree);
CREATE INDEX IF NOT EXISTS idx_task_specs_updated_at ON task_specs(updated_at);
CREATE INDEX IF NOT EXISTS idx_scope_reservations_lease_id ON scope_reservations(lease_id);
CREATE INDEX IF NOT EXISTS idx_scope_reservations_task_id ON scope_reservations(task_id);
CREATE INDEX IF NOT EXISTS idx_scope_reservations_active ON scope_reservations(released_at) WHERE released_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_scope_reservations_scope_pattern ON scope_reservations(scope_pattern);
CREATE INDEX IF NOT EXISTS idx_scope_reservations_subsystem_tag ON scope_reservations(subsystem_tag);
CREATE INDEX IF NOT EXISTS idx_boundary_validation_pipeline_id ON boundary_validation_state(pipeline_id);
CREATE INDEX IF NOT EXISTS idx_boundary_validation_status ON boundary_validation_state(status);
CREATE INDEX IF NOT EXISTS idx_dependency_invalidations_source_lease ON dependency_invalidations(source_lease_id);
CREATE INDEX IF NOT EXISTS idx_dependency_invalidations_affected_task ON dependency_invalidations(affected_task_id);
CREATE INDEX IF NOT EXISTS idx_dependency_invalidations_affected_pipeline ON dependency_invalidations(affected_pipeline_id);
CREATE INDEX IF NOT EXISTS idx_dependency_invalidations_status ON dependency_invalidations(status);
CREATE INDEX IF NOT EXISTS idx_code_objects_file_path ON code_objects(file_path);
CREATE INDEX IF NOT EXISTS idx_code_objects_name ON code_objects(name);
"""

# Version 2: what switchman-hook adds. Gate runs let post-commit tell a judged tree from a
# bypass inside the same database transaction as the audit row; commit_provenance indexes the
# commit_recorded / commit_gate_bypassed rows by commit id for the push, merge and CI gates;
# meta holds repo-level facts (repo id, baseline refs).
V2 = """
CREATE TABLE IF NOT EXISTS gate_runs (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  worktree    TEXT NOT NULL,
  gate        TEXT NOT NULL,
  tree_id     TEXT,
  ok          INTEGER NOT NULL,
  lease_id    TEXT,
  audit_sequence INTEGER,
  created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_gate_runs_tree ON gate_runs(worktree, tree_id);
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT
);
CREATE TABLE IF NOT EXISTS commit_provenance (
  commit_id      TEXT PRIMARY KEY,
  tree_id        TEXT,
  worktree       TEXT,
  lease_id       TEXT,
  task_id        TEXT,
  status         TEXT NOT NULL,
  operation      TEXT,
  audit_sequence INTEGER,
  created_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_commit_provenance_task ON commit_provenance(task_id);
CREATE INDEX IF NOT EXISTS idx_audit_log_task ON audit_log(task_id);
CREATE INDEX IF NOT EXISTS idx_leases_worktree_active ON leases(worktree) WHERE status='active';
"""

# --- version 3: checkpoints -----------------------------------------------------------------------
# audit_tree: the Merkle compact range (right-edge stack) folded in by every append, so a
# checkpoint never rescans the log. checkpoint_keys: the Ed25519 keyring (C2SP verifier keys); a
# retired key stays trusted for checkpoints up to `retired_size`.
V3 = """
CREATE TABLE IF NOT EXISTS audit_tree (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  size       INTEGER NOT NULL,
  last_hash  TEXT,
  stack      BLOB NOT NULL,
  root       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoint_keys (
  verifier_key TEXT PRIMARY KEY,
  key_hash     TEXT NOT NULL,
  added_at     TEXT NOT NULL,
  retired_at   TEXT,
  retired_size INTEGER
);
"""

# --- version 4: gate runs bound to parent and merge parents; leftover blobs -----------------
# gate_runs becomes an index of the signed commit_gate/merge_gate rows: the parent the gate judged
# (NULL for a root commit) and the other merge parents (space-separated oids, "" for none). The
# signed row's details are the authority; these columns only narrow the lookup.
V4_PROVENANCE_COLUMNS = [
    ("gate_runs", "parent", "TEXT"),
    ("gate_runs", "merge_parents", "TEXT"),
]
V4_PROVENANCE = """
CREATE INDEX IF NOT EXISTS idx_commit_provenance_worktree_status ON commit_provenance(worktree, status);
"""


def _migrate_v4_provenance(conn: sqlite3.Connection) -> None:
    for table, column, decl in V4_PROVENANCE_COLUMNS:
        if column not in _columns(conn, table):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
    for stmt in _split(V4_PROVENANCE):
        conn.execute(stmt)



# leftover claims cover only the content recorded when their task completed
# claim_leftovers: the blob ids (fingerprints) of the uncommitted changes a worktree had under a
# task's claims when the task completed. A completed claim covers a path only for that content.
V4_OWNERSHIP = """
CREATE TABLE IF NOT EXISTS claim_leftovers (
  claim_id     INTEGER NOT NULL,
  blob         TEXT NOT NULL,
  recorded_at  TEXT NOT NULL,
  PRIMARY KEY (claim_id, blob)
);
"""


# --- version 5: machines ----------------------------------------------------------------------
# A shared (PostgreSQL) store serves clones on many machines, and two machines can have a checkout
# at the same path: a worktree's identity there is (machine, path). Each machine signs its
# checkpoints and receipts with its own Ed25519 key; the keyring records whose key each is, so
# a rotation retires only the rotating machine's. SQLite records the machine too (the same for
# every row of one file), so `worktree list` and a later `store migrate` carry it.
V5_MACHINE_COLUMNS = [("worktrees", "machine", "TEXT"), ("checkpoint_keys", "machine", "TEXT")]

# Every column a version after 1 added with ALTER TABLE (the PostgreSQL schema is derived with them).
ADDED_COLUMNS = V4_PROVENANCE_COLUMNS + V5_MACHINE_COLUMNS


def _migrate_v5_machine(conn: sqlite3.Connection, machine: str | None) -> None:
    """Add the machine columns; the worktrees and keys there already are this machine's."""
    for table, column, decl in V5_MACHINE_COLUMNS:
        if column not in _columns(conn, table):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
    if machine is not None:
        for table, _column, _decl in V5_MACHINE_COLUMNS:
            conn.execute(f"UPDATE {table} SET machine = ? WHERE machine IS NULL", (machine,))


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, machine: str | None = None) -> int:
    """Bring the schema to SCHEMA_VERSION; the caller holds a write transaction.

    `machine`: this machine's id, recorded on worktree rows registered before version 5."""
    version = current_version(conn)
    if version >= SCHEMA_VERSION:
        return version
    if version < 1:
        for stmt in _split(V1_TABLES):
            conn.execute(stmt)
        for table, column, decl in V1_LATE_COLUMNS:
            if column not in _columns(conn, table):
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        for stmt in _split(V1_INDEXES):
            conn.execute(stmt)
    if version < 2:
        for stmt in _split(V2):
            conn.execute(stmt)
    if version < 3:  # checkpoints
        for stmt in _split(V3):
            conn.execute(stmt)
    if version < 4:  # provenance binding (gate_runs parent / merge parents) and leftover blobs
        _migrate_v4_provenance(conn)
        for stmt in _split(V4_OWNERSHIP):
            conn.execute(stmt)
    if version < 5:
        _migrate_v5_machine(conn, machine)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return SCHEMA_VERSION


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
