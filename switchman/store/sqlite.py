"""The SQLite backend (the default store): connection, pragmas, the one write-transaction helper.

Every state change and the audit rows that record it commit together in one `BEGIN IMMEDIATE`
transaction, retried with backoff while another writer holds the lock. Nothing is signed
outside a transaction, so a killed process leaves the database as it was.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .. import faults, timeutil
from ..errors import EnvironmentProblem
from . import sqlite_schema as schema
from .base import AfterCommit, locked_error, not_utf8, store_error, write_once_keeping_refusals
from .postgres_config import machine_id

if TYPE_CHECKING:
    from ..audit import AuditRow

# `sqlite_audit` (which loads `audit`, hence hashlib/OpenSSL) and `random` are imported where they
# are used: a read-only command (`check`, `whoami`) never appends, signs or retries.

DB_FILE = "switchman.db"


def _busy_timeout_ms() -> int:
    try:
        return max(0, int(os.environ.get("SWITCHMAN_BUSY_TIMEOUT_MS", "10000")))
    except ValueError:
        return 10_000


# The whole wait for the write lock, across retries: a hook on a stuck store gives up after this.
BUSY_TIMEOUT_MS = _busy_timeout_ms()
RETRY_ATTEMPTS = 8

T = TypeVar("T")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def _decode_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        col[0]: (os.fsdecode(v) if isinstance(v, bytes) else v)
        for col, v in zip(cursor.description, row, strict=False)
    }


class Tx:
    """A write transaction in progress: execute SQL and append audit rows (`base.Tx`)."""

    shared = False

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn
        self.appended: list[AuditRow] = []

    @property
    def machine(self) -> str:
        return self.store.machine

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        cur = self.conn.execute(sql, params)
        if faults.ACTIVE:  # fault point (crash harness): mid-transaction
            faults.hit("store.execute")
        return cur

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        """Bulk statements (snapshots): no fault point, as a batch is one moment."""
        return self.conn.executemany(sql, rows)

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        cur = self.conn.execute(sql, params)
        row = cur.fetchone()
        return _decode_row(cur, row) if row is not None else None

    def all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        return [_decode_row(cur, r) for r in cur.fetchall()]

    def tuples(self, sql: str, params: Any = ()) -> Any:
        return iter(self.conn.execute(sql, params).fetchall())

    def audit_many(self, events: list[dict[str, Any]]) -> list[AuditRow]:
        """`audit` for a batch (one chain-head read, one insert, one Merkle fold)."""
        if not events:
            return []
        from . import sqlite_audit

        rows = sqlite_audit.append_many(self.conn, self.store.key(), events)
        self.appended.extend(rows)
        if faults.ACTIVE:  # fault point (crash harness): per row, as `audit` hits it
            for _ in rows:
                faults.hit("store.audit")
        return rows

    def audit(self, event_type: str, status: str = "info", **fields: Any) -> AuditRow:
        from . import sqlite_audit

        row = sqlite_audit.append_many(self.conn, self.store.key(), [{"event_type": event_type, "status": status, **fields}])[0]
        self.appended.append(row)
        if faults.ACTIVE:  # fault point (crash harness): audit row appended, not committed
            faults.hit("store.audit")
        return row


class Store:
    """An open switchman.db (`base.Store`). Reads go straight to the connection; writes go
    through `write`. `after_commit` runs once after each transaction that appended audit rows
    commits: the caller that opens the store for real hands it the checkpoint writer."""

    def __init__(self, state_dir: str, conn: sqlite3.Connection, after_commit: AfterCommit | None = None) -> None:
        self.state_dir = state_dir
        self.conn = conn
        self.after_commit = after_commit
        self.before_write: Callable[[Store], None] | None = None  # run before each write (commands)
        self._key: str | None = None
        self._machine: str | None = None

    # One machine's file: a worktree is known by its path alone (`base.Reader.shared`).
    shared = False

    @property
    def machine(self) -> str:
        """This machine's id (recorded on worktree rows), read on first use: hooks rarely need it."""
        if self._machine is None:
            self._machine = machine_id()
        return self._machine

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls, state_dir: str, *, create: bool = False, migrate: bool = True, after_commit: AfterCommit | None = None
    ) -> Store:
        path = os.path.join(state_dir, DB_FILE)
        if not create and not os.path.exists(path):
            raise EnvironmentProblem(
                f"switchman is not initialised here (no {path})",
                "run `switchman-hook init` in the repository",
                code="not_initialised",
            )
        if not create:
            try:
                empty = os.path.getsize(path) == 0
            except OSError:
                empty = False
            if empty:
                # sqlite3 would happily treat it as a brand-new database and lose the trail.
                raise EnvironmentProblem(
                    f"{path} is empty (truncated?)",
                    "restore .switchman/switchman.db from a backup",
                    code="store_unreadable",
                )
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                _retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise _open_error(path, exc) from exc
        store = cls(state_dir, conn, after_commit)
        timeutil.use_offset(0.0)  # one machine's file: its own clock (a server store sets its own)
        if migrate:
            store.ensure_schema()
        return store

    def ensure_schema(self) -> None:
        try:
            version = schema.current_version(self.conn)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise _open_error(self.db_path, exc) from exc
        if version > schema.SCHEMA_VERSION:
            raise EnvironmentProblem(
                f"{self.db_path} has schema version {version}, newer than this switchman-hook "
                f"({schema.SCHEMA_VERSION})",
                "upgrade switchman-hook (pip install -U switchman-hook)",
                code="schema_too_new",
            )
        if version < schema.SCHEMA_VERSION:
            self._write(lambda tx: schema.migrate(tx.conn, self.machine), audited=False)

    @property
    def db_path(self) -> str:
        return os.path.join(self.state_dir, DB_FILE)

    def close(self) -> None:
        self.conn.close()

    # -- key --------------------------------------------------------------------------------

    def key(self) -> str:
        if self._key is None:
            from . import sqlite_audit

            key = sqlite_audit.read_key(self.state_dir)
            if key is None:
                raise sqlite_audit.key_missing_error(self.state_dir)
            self._key = key
        return self._key

    # -- reads ------------------------------------------------------------------------------

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self._read(sql, params, one=True)
        return rows[0] if rows else None

    def all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return self._read(sql, params, one=False)

    def tuples(self, sql: str, params: Any = ()) -> Any:
        """Raw tuples (bytes not decoded), streamed: the audit walk reads a million rows this way."""
        try:
            cur = self.conn.execute(sql, params)
        except UnicodeEncodeError as exc:
            raise not_utf8(exc) from exc
        except sqlite3.OperationalError as exc:
            raise locked_error(self.db_path, exc) if _is_busy(exc) else store_error(self.db_path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise store_error(self.db_path, exc) from exc
        cur.arraysize = 4096
        return cur

    def _read(self, sql: str, params: Any, *, one: bool) -> list[dict[str, Any]]:
        """A read outside a write transaction: corruption is an environment error, not a crash."""
        try:
            cur = self.conn.execute(sql, params)
            rows = [cur.fetchone()] if one else cur.fetchall()
        except UnicodeEncodeError as exc:
            raise not_utf8(exc) from exc
        except sqlite3.OperationalError as exc:
            raise locked_error(self.db_path, exc) if _is_busy(exc) else store_error(self.db_path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise store_error(self.db_path, exc) from exc
        return [_decode_row(cur, r) for r in rows if r is not None]

    # -- writes -----------------------------------------------------------------------------

    def write(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn` in one BEGIN IMMEDIATE transaction, retried while the database is locked.

        `fn` may run more than once, so it must not have effects outside the transaction.
        A SwitchmanError rolls everything back; audit events it carries in `keep_events`
        (a refused action's own record, SPEC §3) are then appended in a transaction of their own.
        """
        return write_once_keeping_refusals(self, self._write, fn)

    def _write(self, fn: Callable[[Tx], T], *, audited: bool = True) -> T:
        # One deadline for the whole wait: each retry may only use what is left of it, so a
        # stuck writer costs a hook BUSY_TIMEOUT_MS, not RETRY_ATTEMPTS times that.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.02
        try:
            return self._attempts(fn, audited, deadline, delay)
        finally:
            if self._shortened:
                self._shortened = False
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    _shortened = False

    def _backoff(self, deadline: float, delay: float) -> float | None:
        """Sleep before the next attempt; None when the deadline has passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        import random

        time.sleep(min(remaining, delay * (1 + random.random())))
        remaining = deadline - time.monotonic()
        self.conn.execute(f"PRAGMA busy_timeout = {max(1, int(remaining * 1000))}")
        self._shortened = True
        return min(delay * 2, 1.0)

    def _attempts(self, fn: Callable[[Tx], T], audited: bool, deadline: float, delay: float) -> T:
        for attempt in range(RETRY_ATTEMPTS * 8):
            tx = Tx(self)
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _is_busy(exc) and attempt < RETRY_ATTEMPTS * 8 - 1:
                    next_delay = self._backoff(deadline, delay)
                    if next_delay is not None:
                        delay = next_delay
                        continue
                raise locked_error(self.db_path, exc) from exc
            if faults.ACTIVE:  # fault point (crash harness): inside BEGIN IMMEDIATE
                faults.hit("store.begin")
            try:
                result = fn(tx)
                if faults.ACTIVE:  # fault point (crash harness): all written, not committed
                    faults.hit("store.before_commit")
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._rollback()
                if _is_busy(exc) and attempt < RETRY_ATTEMPTS * 8 - 1:
                    next_delay = self._backoff(deadline, delay)
                    if next_delay is not None:
                        delay = next_delay
                        continue
                raise locked_error(self.db_path, exc) if _is_busy(exc) else store_error(self.db_path, exc) from exc
            except sqlite3.DatabaseError as exc:
                self._rollback()
                raise store_error(self.db_path, exc) from exc
            except UnicodeEncodeError as exc:
                self._rollback()
                raise not_utf8(exc) from exc
            except BaseException:
                self._rollback()
                raise
            if faults.ACTIVE:  # fault point (crash harness): committed, no checkpoint yet
                faults.hit("store.after_commit")
            if audited and tx.appended and self.after_commit is not None:
                self.after_commit(self, tx.appended)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")


def _retry(fn: Callable[[], Any]) -> Any:
    delay = 0.02
    for attempt in range(RETRY_ATTEMPTS):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or attempt == RETRY_ATTEMPTS - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    return None


def _open_error(path: str, exc: Exception) -> EnvironmentProblem:
    """Say "restore or move aside" only when the file really is not a database."""
    text = str(exc) if not isinstance(exc, UnicodeDecodeError) else "file is not a database"
    if "not a database" in text or "malformed" in text:
        return EnvironmentProblem(
            f"{path} is not a readable SQLite database: {text}",
            "restore .switchman/switchman.db from a backup (or move it and its -wal/-shm aside and run `switchman-hook init`)",
            code="store_unreadable",
        )
    return EnvironmentProblem(
        f"cannot open {path}: {text}",
        "make .switchman/ readable and writable by this user and check free disk space",
        code="store_unavailable",
    )


def open_store(
    state_dir: str, *, create: bool = False, migrate: bool = True, after_commit: AfterCommit | None = None
) -> Store:
    """Open (or with `create`, make) the SQLite store in `state_dir`."""
    return Store.open(state_dir, create=create, migrate=migrate, after_commit=after_commit)


def open_read_only(state_dir: str) -> Store:
    """used by doctor (`_Ctx.open_store`): a query-only connection that never migrates or writes.

    Raises sqlite3.DatabaseError when the file is not a readable database.
    """
    import urllib.parse  # lazy: only doctor opens read-only, hooks never do

    uri = "file:" + urllib.parse.quote(os.path.join(state_dir, DB_FILE)) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA query_only = 1")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return Store(state_dir, conn)


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """used by doctor (`_Ctx.has_table`): does the database have this table yet."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def integrity_problems(conn: sqlite3.Connection, limit: int = 20) -> list[str]:
    """used by doctor (integrity check): PRAGMA integrity_check's lines (["ok"] when sound)."""
    return [r[0] for r in conn.execute(f"PRAGMA integrity_check({int(limit)})")]
