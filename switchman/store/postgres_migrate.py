"""`store migrate --to URL`: copy a SQLite store into PostgreSQL, every row, and switch to it.

The audit trail must verify before (with audit.key) and after (the same rows, hashes and
signatures, now checked by the server with the imported key); the copy is one server transaction,
so a failure leaves the server as it was and the clone on SQLite. The URL must be the database
owner's (the agent role cannot write audit rows or keys): run it once, as the administrator.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from ..errors import EnvironmentProblem
from . import audit_log
from . import postgres as pgstore
from . import postgres_schema as schema
from .postgres_config import redact


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def migrate(sqlite_store: Any, key: str, url: str, repo_id: str) -> dict[str, Any]:
    before = audit_log.verify(sqlite_store, key)
    if not before.ok:
        raise EnvironmentProblem(
            f"the SQLite audit trail does not verify ({before.failures[0].reason_code}); nothing was copied",
            "run `switchman-hook audit verify` and fix the store first",
            code="audit_verify_failed",
        )
    src: sqlite3.Connection = sqlite_store.conn
    pg = pgstore.connect(url, repo_id, role=None, timeout=5)
    counts: dict[str, int] = {}
    try:
        with pg.transaction():
            if pg.execute(
                "SELECT 1 FROM switchman_repos WHERE repo_id = %s", (repo_id,)
            ).fetchone():
                if (
                    pg.execute(
                        "SELECT 1 FROM audit_log WHERE repo_id = %s LIMIT 1", (repo_id,)
                    ).fetchone()
                    or pg.execute(
                        "SELECT 1 FROM tasks WHERE repo_id = %s LIMIT 1", (repo_id,)
                    ).fetchone()
                ):
                    raise EnvironmentProblem(
                        f"repository {repo_id} already has rows on {redact(url)}; nothing was copied",
                        "migrate into a fresh repository id (`--repo-id`) or database",
                        code="store_not_empty",
                    )
                pg.execute("DELETE FROM switchman_audit_keys WHERE repo_id = %s", (repo_id,))
                pg.execute("DELETE FROM switchman_repos WHERE repo_id = %s", (repo_id,))
            head = audit_log.chain_head(sqlite_store)
            pg.execute(
                "INSERT INTO switchman_repos (repo_id, next_sequence, last_hash) VALUES (%s, %s, %s)",
                (repo_id, (head[0] + 1) if head else 1, head[1] if head else None),
            )
            pg.execute(
                "INSERT INTO switchman_audit_keys (repo_id, key) VALUES (%s, %s)", (repo_id, key)
            )
            for (
                name,
                table,
            ) in schema.tables().items():  # dict order = creation order: parents first
                try:
                    have = set(_columns(src, name))
                except sqlite3.Error:
                    have = set()
                cols = [c for c in table.columns if c in have]
                if not cols:
                    continue
                rows = src.execute(
                    f"SELECT {', '.join(cols)} FROM {name} ORDER BY rowid"
                ).fetchall()
                if rows:
                    with pg.cursor() as cur:
                        cur.executemany(
                            f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                            [pgstore.params_of(r) for r in rows],
                        )
                    if table.identity:
                        pg.execute(
                            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                            f"greatest((SELECT max(id) FROM {name}), nextval(pg_get_serial_sequence('{name}', 'id'))))"
                        )
                counts[name] = len(rows)
    except psycopg.Error as exc:
        raise EnvironmentProblem(
            f"copying into {redact(url)} failed, nothing was copied: {str(exc).strip().splitlines()[0]}",
            "pass the database owner's URL (the one `store setup` used)",
            code="store_error",
        ) from exc
    finally:
        pg.close()
    target = pgstore.open_store(sqlite_store.state_dir, url, repo_id)
    try:
        after = audit_log.verify(target, key)
        bad = target.bad_signatures()
    finally:
        target.close()
    if not after.ok or bad or after.count != before.count or after.last_hash != before.last_hash:
        raise EnvironmentProblem(
            f"the copied audit trail on {redact(url)} does not verify like the original; the clone stays on SQLite",
            "report it; the SQLite store is unchanged",
            code="audit_verify_failed",
        )
    return {"rows": counts, "audit_events": after.count, "last_hash": after.last_hash}
