"""The small interface every store backend implements, and what table modules may rely on.

Table modules (`tasks`, `leases`, `claims`, ...) hold SQL for their own tables and take a
`Reader` (an open store, or a transaction in progress) or a `Tx`; they never import a backend
or each other. A backend (`sqlite.py` today; PostgreSQL next) owns the connection, the one
write-transaction helper with bounded retry, the schema and its migrations, error mapping, and
appending audit rows: on SQLite the HMAC is computed here in Python with `audit.key`; on a server
it is computed by the server, so "append audit rows" is a backend operation (`Tx.audit_many`),
never table-module code that reads a key file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import BadInput, EnvironmentProblem, SwitchmanError

if TYPE_CHECKING:  # pragma: no cover
    from ..audit import AuditRow

T = TypeVar("T")
Row = dict[str, Any]


class Reader(Protocol):
    """Reads: rows as dicts (text that was stored as bytes decoded) or as raw tuples.

    `machine` is this machine's id (/etc/machine-id or SWITCHMAN_MACHINE_ID). `shared` is True
    when the store also holds other machines' clones (a server): a worktree is then known by
    (machine, path), since two machines may each have a checkout at the same path.
    """

    machine: str
    shared: bool

    def one(self, sql: str, params: Any = ()) -> Row | None: ...

    def all(self, sql: str, params: Any = ()) -> list[Row]: ...

    def tuples(self, sql: str, params: Any = ()) -> Iterator[tuple[Any, ...]]: ...


class Tx(Reader, Protocol):
    """A write transaction in progress: SQL, and audit rows that commit with it (SPEC §3)."""

    appended: list[AuditRow]

    def execute(self, sql: str, params: Any = ()) -> Any: ...

    def executemany(self, sql: str, rows: Iterable[Any]) -> Any: ...

    def audit(self, event_type: str, status: str = "info", **fields: Any) -> AuditRow: ...

    def audit_many(self, events: list[dict[str, Any]]) -> list[AuditRow]: ...


# Called once after a transaction that appended audit rows commits (the checkpoint writer).
AfterCommit = Callable[[Any, "list[AuditRow]"], None]


class Store(Reader, Protocol):
    """An open store: reads straight away, writes only through `write`."""

    state_dir: str

    def write(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn` in one transaction, retried while another writer holds the lock.

        `fn` may run more than once, so it must not have effects outside the transaction.
        """
        ...

    def close(self) -> None: ...


def tuples(db: Any, sql: str, params: Any = ()) -> Iterator[tuple[Any, ...]]:
    """Raw row tuples from a Store/Tx, or from a DB-API connection (tests, bulk tools)."""
    method = getattr(db, "tuples", None)
    if method is not None:
        return method(sql, params)
    cur = db.execute(sql, params)
    cur.arraysize = 4096
    return iter(cur)


def decoded(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row tuple with text stored as bytes (see `db_text`) turned back into str."""
    if bytes in map(type, values):
        return tuple(os.fsdecode(v) if isinstance(v, bytes) else v for v in values)
    return values


def decoded_rows(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """`decoded` for every row, with one C-level look for bytes across all of them first: the
    scope reservations are read whole on every judgement (5,000 rows: ~0.9 -> ~0.5 ms)."""
    rows = list(rows)
    if bytes in set(map(type, chain.from_iterable(rows))):
        return [decoded(r) for r in rows]
    return rows


def db_text(value: str | None) -> str | bytes | None:
    """The parameter for text that may hold lone surrogates (non-UTF-8 file names).

    Drivers refuse such str; the original bytes are stored instead and read back as the same
    str (`decoded`), so audit hashes recompute identically.
    """
    if value is None or value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(value)
    return value


def no_such_table(exc: Exception) -> bool:
    """A read of a table an old (not yet migrated, or read-only) database does not have."""
    return "no such table" in str(exc).lower()


def no_such_column(exc: Exception) -> bool:
    """A read of a column an old (read-only, not yet migrated) database does not have."""
    return "no such column" in str(exc).lower()


def chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    """`IN (...)` lists in slices a backend accepts as parameters."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --- errors every backend maps its driver's exceptions to ------------------------------------


def not_utf8(exc: UnicodeEncodeError) -> BadInput:
    """Text that is not valid UTF-8 (an undecodable argv byte) cannot be stored as text."""
    bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
    return BadInput(
        f"text {bad.encode('utf-8', 'backslashreplace').decode('ascii', 'replace')!s} is not valid UTF-8",
        "pass names, ids and titles as UTF-8 text",
        code="invalid_text",
    )


def locked_error(where: str, exc: Exception) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"{where} stayed locked by another writer: {exc}",
        "retry; if it persists find the stuck process with `fuser .switchman/switchman.db`",
        code="store_locked",
    )


def store_error(where: str, exc: Exception) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"{where}: {exc}",
        "run `switchman-hook doctor` to check the store",
        code="store_error",
    )


def write_once_keeping_refusals(store: Any, write_once: Callable[[Callable[[Any], T]], T], fn: Callable[[Any], T]) -> T:
    """Both backends' `Store.write`: `fn` in one transaction (via `write_once`, with its retries).

    A `before_write` the opener set (commands: can the checkpoint that follows be signed?) runs
    first, so a command that would fail on its key changes nothing. A SwitchmanError rolls
    everything back; audit events it carries in `keep_events` (a refused action's own record,
    SPEC §3) are then appended in a transaction of their own.
    """
    before = getattr(store, "before_write", None)
    if before is not None:
        before(store)
    try:
        return write_once(fn)
    except SwitchmanError as exc:
        if exc.keep_events:
            events = exc.keep_events

            def keep(tx: Any) -> None:
                for ev in events:
                    tx.audit(**ev)

            write_once(keep)
        raise
