"""Reading the store's SQLite file directly, for test setup and inspection."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def db_path(root: Path) -> Path:
    return root / ".switchman" / "switchman.db"


@contextmanager
def connect(root: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection for test setup and inspection (autocommit)."""
    conn = sqlite3.connect(db_path(root), isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def query(root: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with connect(root) as conn:
        return [dict(r) for r in conn.execute(sql, params)]


def scalar(root: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with connect(root) as conn:
        row = conn.execute(sql, params).fetchone()
        return row[0] if row is not None else None


def events(root: Path, event_type: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM audit_log"
    params: tuple[Any, ...] = ()
    if event_type:
        sql += " WHERE event_type = ?"
        params = (event_type,)
    return query(root, sql + " ORDER BY id", params)


def age_heartbeat(root: Path, lease_id: str, minutes: float = 60) -> None:
    """Test setup: make a lease look abandoned by moving its heartbeat into the past."""
    with connect(root) as conn:
        conn.execute(
            "UPDATE leases SET heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) WHERE id = ?",
            (f"-{minutes} minutes", lease_id),
        )


def all_details_are_json(root: Path) -> None:
    """SPEC §3: `details` is JSON text or null in every row."""
    for row in events(root):
        if row["details"] is not None:
            json.loads(row["details"])
