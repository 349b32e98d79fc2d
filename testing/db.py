"""Reading and editing the store directly, for test setup and inspection, on either backend.

A repository initialised with `init --store URL` (`.switchman/store.json`) is reached on that
PostgreSQL server as the URL's role (the tests' superuser: it may edit audit rows, as a
tamperer would), inside the repository (row-level security); the SQL is the SQLite dialect the
table modules use, translated by the backend's own `translate`. Otherwise the SQLite file.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def db_path(root: Path) -> Path:
    return root / ".switchman" / "switchman.db"


def pg_selection(root: Path) -> tuple[str, str] | None:
    """(url, repo id) when this repository uses a PostgreSQL store, else None."""
    cfg = root / ".switchman" / "store.json"
    if not cfg.exists():
        return None
    data = json.loads(cfg.read_text())
    return data["url"], data["repo_id"]


class _Row(dict):  # type: ignore[type-arg]
    """A row as sqlite3.Row reads: by column name or by position."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)


class _PgCursor:
    def __init__(self, cur: Any) -> None:
        from switchman.store.postgres_dialect import row_dict

        self.rowcount = cur.rowcount
        self._rows = [_Row(row_dict(cur, r)) for r in cur.fetchall()] if cur.description else []

    def fetchone(self) -> _Row | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[_Row]:
        return list(self._rows)

    def __iter__(self) -> Iterator[_Row]:
        return iter(self._rows)


class _PgConn:
    """`execute(sql, params)` in the SQLite dialect, autocommit, rows by name or position."""

    def __init__(self, url: str, repo_id: str) -> None:
        import psycopg

        self._conn = psycopg.connect(url, autocommit=True)
        self._conn.execute("SELECT set_config('switchman.repo_id', %s, false)", (repo_id,))

    def execute(self, sql: str, params: Any = ()) -> _PgCursor:
        from switchman.store.postgres_dialect import params_of, translate

        return _PgCursor(self._conn.execute(translate(sql), params_of(params)))

    def close(self) -> None:
        self._conn.close()


@contextmanager
def connect(root: Path) -> Iterator[Any]:
    """A plain connection for test setup and inspection (autocommit): sqlite3, or the server."""
    pg = pg_selection(root)
    if pg is not None:
        conn: Any = _PgConn(*pg)
    else:
        conn = sqlite3.connect(db_path(root), isolation_level=None)
        conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def execute(root: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    """One statement (test setup, or tampering as someone with write access to the store)."""
    with connect(root) as conn:
        conn.execute(sql, params)


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
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)
    stamp = past.strftime("%Y-%m-%dT%H:%M:%S.") + f"{past.microsecond // 1000:03d}Z"
    execute(root, "UPDATE leases SET heartbeat_at = ? WHERE id = ?", (stamp, lease_id))


def all_details_are_json(root: Path) -> None:
    """SPEC §3: `details` is JSON text or null in every row."""
    for row in events(root):
        if row["details"] is not None:
            json.loads(row["details"])
