"""The PostgreSQL backend's dialect layer: SQLite-dialect statements rewritten once (cached),
parameters sent as the bytea the schema stores text as, rows decoded as the SQLite backend's."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any

from . import postgres_schema as schema

_BLOBS = schema.blob_columns()
_PKS = schema.primary_keys()
_HIDDEN = frozenset(("repo_id", "rowid"))


# --- dialect ---------------------------------------------------------------------------------

_QUOTED = re.compile(r"('(?:[^']|'')*')")


@lru_cache(maxsize=512)
def translate(sql: str) -> str:
    pieces = _QUOTED.split(sql)
    for i in range(0, len(pieces), 2):  # outside string literals
        p = pieces[i].replace("%", "%%")
        p = re.sub(r"\bIS \?", "IS NOT DISTINCT FROM ?", p)
        p = p.replace("?", "%s")
        p = re.sub(r"ON CONFLICT\s*\(", "ON CONFLICT (repo_id, ", p)
        pieces[i] = p
    for i in range(1, len(pieces), 2):
        pieces[i] = pieces[i].replace("%", "%%")
    out = "".join(pieces)
    m = re.match(r"\s*INSERT OR (IGNORE|REPLACE) INTO (\w+)\s*\(([^)]*)\)", out)
    if m:
        out = out[: m.start(1) - 3] + out[m.end(1) :]  # drop " OR IGNORE"/" OR REPLACE"
        out = out.replace("INSERT  INTO", "INSERT INTO", 1)
        if m.group(1) == "IGNORE":
            out += " ON CONFLICT DO NOTHING"
        else:
            pk = _PKS[m.group(2)]
            cols = [c.strip() for c in m.group(3).split(",")]
            rest = [c for c in cols if c not in pk]
            action = (
                ("DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in rest))
                if rest
                else "DO NOTHING"
            )
            out += f" ON CONFLICT (repo_id, {', '.join(pk)}) {action}"
    return out


def _param(v: Any) -> Any:
    if isinstance(v, str):
        # Text columns are bytea. Text that is not UTF-8 is refused (UnicodeEncodeError ->
        # not_utf8) exactly as SQLite refuses it; a file name that is not UTF-8 arrives as its
        # bytes already (`base.db_text`), as on SQLite.
        return v.encode("utf-8")
    if isinstance(v, bool):
        return int(v)
    return v


def params_of(params: Any) -> tuple[Any, ...]:
    return tuple(_param(v) for v in (params or ()))


def _decode(name: str, v: Any) -> Any:
    if isinstance(v, (bytes, memoryview)) and name not in _BLOBS:
        return os.fsdecode(bytes(v))
    return v


def row_dict(cur: Any, row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        d.name: _decode(d.name, v)
        for d, v in zip(cur.description, row, strict=False)
        if d.name != "repo_id"
    }


def row_tuple(names: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_decode(n, v) for n, v in zip(names, row, strict=False))


class _Cursor:
    """A DB-API-ish cursor over translated SQL, rows decoded as the SQLite backend's."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur
        self.rowcount = cur.rowcount
        self.description = cur.description
        self._names = [d.name for d in cur.description or ()]
        self.arraysize = 1

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cur.fetchone() if self.description else None
        return row_tuple(self._names, row) if row is not None else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [row_tuple(self._names, r) for r in self._cur.fetchall()] if self.description else []

    def __iter__(self) -> Any:
        return (row_tuple(self._names, r) for r in self._cur) if self.description else iter(())


class Compat:
    """`store.conn` for code written against a DB-API connection (checkpoints, verify): the same
    translation and decoding as the table modules get."""

    def __init__(self, pg: Any) -> None:
        self.pg = pg

    def execute(self, sql: str, params: Any = ()) -> _Cursor:
        return _Cursor(self.pg.execute(translate(sql), params_of(params)))

    def close(self) -> None:
        self.pg.close()
