"""The SQLite backend's audit append: `audit.key` on disk, HMAC computed here in Python.

A server backend computes the HMAC itself with a key that never leaves the server, so nothing
outside a backend reads the key file.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from typing import Any

from ..audit import AuditRow, check_events, seal
from ..errors import EnvironmentProblem
from ..fsutil import create_exclusive, read_text
from ..timeutil import now_iso
from . import audit_log
from .base import db_text

KEY_FILE = "audit.key"


def key_path(state_dir: str) -> str:
    return os.path.join(state_dir, KEY_FILE)


def read_key(state_dir: str) -> str | None:
    """The HMAC key text, or None when the file is absent. A malformed key is an error."""
    path = key_path(state_dir)
    text = read_text(path, fix="restore audit.key from a backup", code="key_unreadable")
    if text is None:
        return None
    key = text.strip()
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise EnvironmentProblem(
            f"{path} is not 64 lowercase hex characters",
            "restore audit.key from a backup; never regenerate it while the log has rows",
            code="key_malformed",
        )
    return key


def create_key(state_dir: str) -> str:
    """Write a fresh key with mode 0600, never replacing one, never visible half-written
    (`fsutil.create_exclusive`): a concurrent reader sees no key or the whole key, and an
    existing key always wins (its text is returned)."""
    key = os.urandom(32).hex()
    try:
        create_exclusive(key_path(state_dir), (key + "\n").encode("ascii"), 0o600)
    except FileExistsError:
        existing = read_key(state_dir)
        if existing is None:  # pragma: no cover - removed between link and read
            raise
        return existing
    return key


def key_missing_error(state_dir: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"audit key {key_path(state_dir)} is missing but the audit log has rows",
        "restore .switchman/audit.key from a backup; it is never regenerated",
        code="key_missing",
    )


def append_many(conn: sqlite3.Connection, key: str, events: Iterable[dict[str, Any]]) -> list[AuditRow]:
    """Append signed rows in order inside the caller's BEGIN IMMEDIATE transaction.

    One chain-head read, one `executemany`, one Merkle fold: a commit recording 1,000
    `write_observed` rows pays four statements, not 4,000.
    """
    batch = check_events(events)
    if not batch:
        return []
    last = audit_log.chain_head(conn)
    first_seq = (last[0] + 1) if last else 1
    first_prev = last[1] if last else None
    sealed, leaves = seal(batch, first_seq, first_prev, key, now_iso)
    params = [
        (r[0], r[1], r[2], db_text(r[3]), r[4], r[5], db_text(r[6]), db_text(r[7]), *r[8:]) for r in sealed
    ]
    if len(params) == 1:
        last_id = conn.execute(audit_log.INSERT, params[0]).lastrowid or 0
    else:
        conn.executemany(audit_log.INSERT, params)
        last_id = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
    # Row ids: one writer holds the lock and AUTOINCREMENT hands out consecutive ids.
    first_id = int(last_id) - len(params) + 1
    rows = [AuditRow(first_id + i, *r) for i, r in enumerate(sealed)]
    audit_log.fold_leaves(conn, first_seq, first_prev, leaves, sealed[-1][11])
    return rows
