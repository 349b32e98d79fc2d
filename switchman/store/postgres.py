"""The PostgreSQL backend (SPEC §12): one server, many repositories, many machines.

Imported only when a PostgreSQL URL is selected (psycopg is never loaded on the SQLite path).

Dialect: the table modules keep their SQLite SQL; `translate` rewrites it once per statement text
(cached): `?` -> `%s`, `INSERT OR IGNORE` -> `ON CONFLICT DO NOTHING`, `INSERT OR REPLACE` ->
`ON CONFLICT (repo_id, pk) DO UPDATE`, `ON CONFLICT(x)` -> `ON CONFLICT (repo_id, x)`, `IS ?` ->
`IS NOT DISTINCT FROM`. That is smaller than a second copy of every statement, and keeps one place
where the two dialects differ. Repository scoping needs no SQL at all: every table has a repo_id
defaulted from the session setting and row-level security filters by it (postgres_schema).

Transactions: READ COMMITTED; every write begins by locking the repository's head row
(`switchman_lock()`, SELECT ... FOR UPDATE), so writers of one repository are serialised as by
SQLite's BEGIN IMMEDIATE, and partial unique indexes stay a backstop. Deadlocks, serialization
failures and lost connections are retried a bounded number of times. Audit rows are numbered,
chained, hashed and signed by the server (`switchman_append`), with the server clock and a key the
agent role cannot read; the Merkle right edge is folded here in the same transaction.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pgerrors

from .. import faults, timeutil
from ..audit import AuditRow, check_events
from ..errors import EnvironmentProblem
from ..jsonutil import dumps
from ..merkle import entry_leaf
from . import audit_log
from . import postgres_schema as schema
from .base import AfterCommit, not_utf8, write_once_keeping_refusals
from .postgres_config import machine_id, redact
from .postgres_dialect import Compat, params_of, translate
from .postgres_dialect import row_dict as _dict
from .postgres_dialect import row_tuple as _tuple

T = TypeVar("T")
RETRY_ATTEMPTS = 8
CONNECT_TIMEOUT_S = 2  # libpq's minimum; the hook watchdog covers a frozen server


# --- errors ----------------------------------------------------------------------------------


def unreachable_error(url: str, exc: BaseException | str) -> EnvironmentProblem:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return EnvironmentProblem(
        f"the switchman store server {redact(url)} is not answering: {text}",
        "start the PostgreSQL server (or fix SWITCHMAN_DATABASE_URL / `init --store`), then retry",
        code="store_unavailable",
    )


def _store_error(url: str, exc: Exception) -> EnvironmentProblem:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return EnvironmentProblem(
        f"store {redact(url)}: {text}",
        "run `switchman-hook doctor` to check the store",
        code="store_error",
    )


def schema_mismatch(url: str, version: int | None) -> EnvironmentProblem:
    """The server's switchman schema is not the one this code reads and writes."""
    if version is not None and version > schema.SCHEMA_VERSION:
        return EnvironmentProblem(
            f"the switchman schema on {redact(url)} is version {version}, newer than this "
            f"switchman-hook's ({schema.SCHEMA_VERSION})",
            "upgrade switchman-hook on this machine (pip install -U 'switchman-hook[postgres]')",
            code="schema_too_new",
        )
    return EnvironmentProblem(
        f"the switchman schema on {redact(url)} is version {version or 'unknown'}, older than this "
        f"switchman-hook's ({schema.SCHEMA_VERSION})",
        f"run `switchman-hook store setup {redact(url)}` once as the database owner",
        code="schema_too_old",
    )


_RETRY = (pgerrors.SerializationFailure, pgerrors.DeadlockDetected, pgerrors.LockNotAvailable)


# --- transaction -----------------------------------------------------------------------------


class Tx:
    """A write transaction in progress (`base.Tx`)."""

    shared = True

    def __init__(self, store: Store) -> None:
        self.store = store
        self.machine = store.machine
        self.pg = store.pg
        self.conn = store.conn  # DB-API-style, translated (code that takes a connection)
        self.appended: list[AuditRow] = []

    def execute(self, sql: str, params: Any = ()) -> Any:
        cur = self.pg.execute(translate(sql), params_of(params))
        if faults.ACTIVE:
            faults.hit("store.execute")
        return cur

    def executemany(self, sql: str, rows: Any) -> Any:
        cur = self.pg.cursor()
        cur.executemany(translate(sql), [params_of(r) for r in rows])
        return cur

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        cur = self.pg.execute(translate(sql), params_of(params))
        row = cur.fetchone()
        return _dict(cur, row) if row is not None else None

    def all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        cur = self.pg.execute(translate(sql), params_of(params))
        return [_dict(cur, r) for r in cur.fetchall()]

    def tuples(self, sql: str, params: Any = ()) -> Any:
        cur = self.pg.execute(translate(sql), params_of(params))
        names = [d.name for d in cur.description or ()]
        return iter([_tuple(names, r) for r in cur.fetchall()])

    def audit_many(self, events: list[dict[str, Any]]) -> list[AuditRow]:
        batch = check_events(events)
        if not batch:
            return []
        cols: dict[str, list[Any]] = {
            k: [] for k in ("et", "st", "rc", "wt", "ti", "li", "fp", "de", "ca")
        }
        for ev in batch:
            details = ev.get("details")
            if details is not None and not isinstance(details, str):
                details = dumps(details)
            cols["et"].append(ev["event_type"])
            cols["st"].append(ev.get("status", "info"))
            cols["rc"].append(ev.get("reason_code"))
            cols["wt"].append(_bytes(ev.get("worktree")))
            cols["ti"].append(ev.get("task_id"))
            cols["li"].append(ev.get("lease_id"))
            cols["fp"].append(_bytes(ev.get("file_path")))
            cols["de"].append(_bytes(details))
            cols["ca"].append(ev.get("created_at"))
        got = self.pg.execute(
            "SELECT id, sequence, prev_hash, entry_hash, signature, created_at FROM switchman_append("
            "%s::text[], %s::text[], %s::text[], %s::bytea[], %s::text[], %s::text[], %s::bytea[], %s::bytea[], %s::text[])",
            list(cols.values()),
        ).fetchall()
        rows = []
        for ev, (rid, seq, prev, ehash, sig, created) in zip(batch, got, strict=True):
            details = ev.get("details")
            if details is not None and not isinstance(details, str):
                details = dumps(details)
            rows.append(
                AuditRow(
                    rid,
                    ev["event_type"],
                    ev.get("status", "info"),
                    ev.get("reason_code"),
                    ev.get("worktree"),
                    ev.get("task_id"),
                    ev.get("lease_id"),
                    ev.get("file_path"),
                    details,
                    created,
                    seq,
                    prev,
                    ehash,
                    sig,
                )
            )
        audit_log.fold_leaves(
            self,
            rows[0].sequence,
            rows[0].prev_hash,
            [entry_leaf(r.entry_hash) for r in rows],
            rows[-1].entry_hash,
        )
        self.appended.extend(rows)
        if faults.ACTIVE:
            for _ in rows:
                faults.hit("store.audit")
        return rows

    def audit(self, event_type: str, status: str = "info", **fields: Any) -> AuditRow:
        return self.audit_many([{"event_type": event_type, "status": status, **fields}])[0]


def _bytes(v: str | None) -> bytes | None:
    return None if v is None else os.fsencode(v)


# --- store -----------------------------------------------------------------------------------


class Store:
    """An open PostgreSQL store for one repository (`base.Store`)."""

    backend = "postgresql"
    shared = True  # clones on many machines: a worktree is (machine, path) (`base.Reader`)

    def __init__(
        self, state_dir: str, url: str, repo_id: str, conn: Any, after_commit: AfterCommit | None
    ) -> None:
        self.state_dir = state_dir
        self.before_write: Callable[[Store], None] | None = None  # run before each write (commands)
        self.url = url
        self.repo_id = repo_id
        self.pg = conn
        self.conn = Compat(conn)
        self.after_commit = after_commit
        self.machine = machine_id()

    @classmethod
    def open(
        cls,
        state_dir: str,
        url: str,
        repo_id: str,
        *,
        create: bool = False,
        after_commit: AfterCommit | None = None,
        role: str | None = schema.AGENT_ROLE,
        check_schema: bool = True,
    ) -> Store:
        """`check_schema`: refuse a server whose schema is not this code's (doctor reports it instead)."""
        conn = connect(url, repo_id, role=role)
        store = cls(state_dir, url, repo_id, conn, after_commit)
        try:
            sent = timeutil.machine_clock()
            version, joined, server_now = conn.execute(
                "SELECT (SELECT version FROM switchman_schema WHERE id = 1), "
                "EXISTS (SELECT 1 FROM switchman_repos WHERE repo_id = %s), "
                "extract(epoch FROM clock_timestamp())::float8",
                (repo_id,),
            ).fetchone()
            # One clock for every machine of the store: heartbeats, staleness, windows (timeutil).
            timeutil.use_offset(float(server_now) - (sent + timeutil.machine_clock()) / 2)
            if check_schema and version != schema.SCHEMA_VERSION:
                raise schema_mismatch(url, version)
            if not joined:
                if not create:
                    raise EnvironmentProblem(
                        f"repository {repo_id} has not joined the store {redact(url)}",
                        "run `switchman-hook init` in the repository",
                        code="not_initialised",
                    )
                conn.execute("SELECT switchman_join(%s)", (repo_id,))
        except EnvironmentProblem:
            conn.close()
            raise
        except psycopg.errors.UndefinedTable as exc:
            conn.close()
            raise EnvironmentProblem(
                f"{redact(url)} has no switchman schema",
                f"run `switchman-hook store setup {redact(url)}` once as the database owner",
                code="not_initialised",
            ) from exc
        except psycopg.Error as exc:
            conn.close()
            raise _store_error(url, exc) from exc
        return store

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.pg.close()

    def key(self) -> str:
        raise EnvironmentProblem(
            "the PostgreSQL store keeps its audit key on the server",
            "verify through the server (`switchman-hook audit verify`)",
            code="key_on_server",
        )

    def bad_signatures(self) -> list[tuple[int, int | None]]:
        """(row id, sequence) of rows whose HMAC does not verify, checked by the server (the key stays there)."""
        rows = self.pg.execute("SELECT id, sequence FROM switchman_bad_signatures()").fetchall()
        return [(r[0], r[1]) for r in rows]

    def server_head(self) -> tuple[int, str | None]:
        """(last sequence, last entry hash) as the server's head row records them: the chain
        must end there (a deleted tail shows, whichever clone asks, even one whose own
        checkpoint is older than the deleted rows)."""
        row = self.pg.execute(
            "SELECT next_sequence - 1, last_hash FROM switchman_repos WHERE repo_id = %s", (self.repo_id,)
        ).fetchone()
        return (int(row[0]), row[1]) if row is not None else (0, None)

    # -- reads ------------------------------------------------------------------------------

    def _cursor(self, sql: str, params: Any) -> Any:
        try:
            return self.pg.execute(translate(sql), params_of(params))
        except UnicodeEncodeError as exc:
            raise not_utf8(exc) from exc
        except psycopg.OperationalError as exc:
            raise unreachable_error(self.url, exc) from exc
        except psycopg.Error as exc:
            raise _store_error(self.url, exc) from exc

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        cur = self._cursor(sql, params)
        row = cur.fetchone()
        return _dict(cur, row) if row is not None else None

    def all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        cur = self._cursor(sql, params)
        return [_dict(cur, r) for r in cur.fetchall()]

    def tuples(self, sql: str, params: Any = ()) -> Any:
        cur = self._cursor(sql, params)
        names = [d.name for d in cur.description or ()]
        return (_tuple(names, r) for r in cur)

    # -- writes -----------------------------------------------------------------------------

    def write(self, fn: Callable[[Tx], T]) -> T:
        return write_once_keeping_refusals(self, self._write, fn)

    def _write(self, fn: Callable[[Tx], T]) -> T:
        delay = 0.02
        for attempt in range(RETRY_ATTEMPTS):
            tx = Tx(self)
            try:
                self.pg.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                self.pg.execute("SELECT switchman_lock()")
                if faults.ACTIVE:
                    faults.hit("store.begin")
                result = fn(tx)
                if faults.ACTIVE:
                    faults.hit("store.before_commit")
                self.pg.execute("COMMIT")
            except _RETRY as exc:
                self._rollback()
                if attempt == RETRY_ATTEMPTS - 1:
                    raise _store_error(self.url, exc) from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
                continue
            except UnicodeEncodeError as exc:
                self._rollback()
                raise not_utf8(exc) from exc
            except psycopg.OperationalError as exc:
                self._rollback()
                raise unreachable_error(self.url, exc) from exc
            except psycopg.Error as exc:
                self._rollback()
                raise _store_error(self.url, exc) from exc
            except BaseException:
                self._rollback()
                raise
            if faults.ACTIVE:
                faults.hit("store.after_commit")
            if tx.appended and self.after_commit is not None:
                self.after_commit(self, tx.appended)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _rollback(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.pg.execute("ROLLBACK")


def _watchdog_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("SWITCHMAN_PG_WATCHDOG_S", "4")))
    except ValueError:
        return 4.0


class Watched:
    """The psycopg connection behind a watchdog: a statement that has not answered after
    SWITCHMAN_PG_WATCHDOG_S seconds (default 4; 0 disables) gets its socket shut down, so a server
    frozen mid-session (which ignores statement_timeout) costs a hook seconds, not forever."""

    def __init__(self, conn: Any, limit: float) -> None:
        self._conn = conn
        self._limit = limit
        self._busy_since: float | None = None
        self._fired = False
        if limit > 0:
            threading.Thread(target=self._watch, daemon=True, name="switchman-pg-watchdog").start()

    def _watch(self) -> None:
        while not self._conn.closed:
            since = self._busy_since
            if since is not None and time.monotonic() - since > self._limit:
                self._fired = True
                with contextlib.suppress(OSError):
                    socket.socket(fileno=os.dup(self._conn.fileno())).shutdown(socket.SHUT_RDWR)
                return
            time.sleep(0.1)

    def execute(self, sql: str, params: Any = None) -> Any:
        self._busy_since = time.monotonic()
        try:
            cur = self._conn.execute(sql, params)
        except psycopg.Error:
            if self._fired:
                raise psycopg.OperationalError(
                    f"no answer within {self._limit:g} s (watchdog)"
                ) from None
            raise
        finally:
            self._busy_since = None
        if self._fired:
            raise psycopg.OperationalError(f"no answer within {self._limit:g} s (watchdog)")
        return cur

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def connect(
    url: str,
    repo_id: str | None,
    *,
    role: str | None = schema.AGENT_ROLE,
    timeout: int = CONNECT_TIMEOUT_S,
) -> Any:
    """An autocommit connection scoped to one repository (row-level security) as the agent role."""
    try:
        conn = psycopg.connect(
            url, autocommit=True, connect_timeout=timeout, application_name="switchman-hook"
        )
    except psycopg.Error as exc:
        raise unreachable_error(url, exc) from exc
    try:
        if role:
            conn.execute(f'SET ROLE "{role}"')
        if repo_id is not None:
            conn.execute("SELECT set_config('switchman.repo_id', %s, false)", (repo_id,))
    except psycopg.Error as exc:
        conn.close()
        raise _store_error(url, exc) from exc
    return Watched(conn, _watchdog_seconds())


def setup(url: str, *, schema_name: str = "public", role: str = schema.AGENT_ROLE) -> None:
    """`store setup`: schema, server functions, agent role and grants (idempotent; run as owner)."""
    conn = connect(url, None, role=None, timeout=5)
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('switchman.repo_id', '', true)")
            for stmt in schema.table_sql():
                conn.execute(stmt)
            for stmt in schema.server_sql(schema_name, role):
                conn.execute(stmt)
    except psycopg.Error as exc:
        raise _store_error(url, exc) from exc
    finally:
        conn.close()


def open_store(
    state_dir: str,
    url: str,
    repo_id: str,
    *,
    create: bool = False,
    after_commit: AfterCommit | None = None,
) -> Store:
    return Store.open(state_dir, url, repo_id, create=create, after_commit=after_commit)
