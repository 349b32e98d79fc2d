"""switchman/store/pg_audit.sql against switchman.audit: the server's canonical text, entry hash and
HMAC are byte-identical to Python's for any event (SPEC §3, §12), differentially with hypothesis."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchman import audit
from switchman.jsonutil import dumps

from .pg_fixtures import pg_cluster  # noqa: F401
from .test_audit import EVENT1, EVENT2, HASH1, HASH2, SIG1, SIG2, ZERO_KEY

PATH_FIELDS = ("worktree", "file_path", "details")  # bytea on the server (as SQLite's BLOB fallback)
ARGS = ", ".join(
    f"%({k})s" + ("::bytea" if k in PATH_FIELDS else "::bigint" if k == "sequence" else "::text")
    for k in audit.CANONICAL_KEYS
)
SQL_ROW = (
    f"SELECT switchman_canonical({ARGS}), switchman_entry_hash({ARGS}),"
    f" switchman_sign(%(key)s, switchman_entry_hash({ARGS}))"
)


def load_sql(conn: Any) -> None:
    conn.execute(files("switchman.store").joinpath("pg_audit.sql").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def db(pg_cluster) -> Iterator[Any]:  # noqa: F811
    name = pg_cluster.create_database()
    conn = pg_cluster.connect(name, autocommit=True)
    try:
        load_sql(conn)
        load_sql(conn)  # re-running the file replaces the functions in place
        yield conn
    finally:
        conn.close()
        pg_cluster.drop_database(name)


def wire(event: dict[str, Any], key: str) -> dict[str, Any]:
    """How the client sends an event: path-like fields as their bytes (os.fsencode), None as NULL."""
    params: dict[str, Any] = {k: event.get(k) for k in audit.CANONICAL_KEYS}
    for k in PATH_FIELDS:
        if params[k] is not None:
            params[k] = os.fsencode(params[k])
    params["key"] = key
    return params


def server(conn: Any, event: dict[str, Any], key: str) -> tuple[str, str, str]:
    return conn.execute(SQL_ROW, wire(event, key)).fetchone()


# --- strategies ----------------------------------------------------------------------------------

SPECIALS = ['"', "\\", "/", "\u2028", "\u2029", "\x7f", "\x80", "\xa0", "\ufeff", "\ufffd", "é", "✓", "😀",
            "\U0010ffff", *map(chr, range(1, 32))]
# Text as PostgreSQL text can hold it: any scalar value but NUL (surrogates are not scalar values).
char = st.one_of(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), st.sampled_from(SPECIALS))
text = st.text(alphabet=char, max_size=40)
# Bytes that test the decoder: valid UTF-8, NUL, truncated and overlong sequences, encoded
# surrogates, code points above U+10FFFF, stray continuation bytes, random bytes.
TRICKY = [b"\x00", b"\xff", b"\xfe", b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xc2", b"\xc3\xa9", b"\xe0\x80\x80",
          b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xee\x80\x80", b"\xef\xbf\xbf",
          b"\xf0\x8f\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
          b"\xe2\x82", b"\xf0\x9f\x98", b"\\", b'"', b"\n", b"\x1f"]
raw = st.lists(
    st.one_of(st.binary(max_size=6), text.map(lambda s: s.encode("utf-8")), st.sampled_from(TRICKY)), max_size=8
).map(b"".join)
path = raw.map(os.fsdecode)  # what Python holds for a (possibly non-UTF-8) file name
opt_text = st.none() | text
opt_path = st.none() | path | text
events = st.fixed_dictionaries(
    {
        "sequence": st.none() | st.integers(-(2**63), 2**63 - 1) | st.integers(0, 10**6),
        "prev_hash": st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64) | text,
        "event_type": st.sampled_from(["lease_started", "file_claimed", "write_observed"]) | text,
        "status": st.sampled_from(audit.STATUSES) | text,
        "reason_code": opt_text,
        "worktree": opt_path,
        "task_id": opt_text,
        "lease_id": opt_text,
        "file_path": opt_path,
        "details": st.none() | opt_path | st.dictionaries(text, st.none() | path | text, max_size=3).map(dumps),
        "created_at": st.none() | st.just("2026-11-24T18:33:00.123Z") | text,
    }
)
keys = st.just(ZERO_KEY) | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64) | text

PG_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- tests ---------------------------------------------------------------------------------------


def test_golden_vector_on_the_server(db: Any) -> None:
    assert server(db, EVENT1, ZERO_KEY) == (audit.canonical(EVENT1), HASH1, SIG1)
    assert server(db, EVENT2, ZERO_KEY) == (audit.canonical(EVENT2), HASH2, SIG2)
    assert db.execute("SELECT switchman_sign(%s, %s)", (ZERO_KEY, HASH1)).fetchone()[0] == SIG1


@given(event=events, key=keys)
@PG_SETTINGS
def test_server_canonical_hash_and_hmac_match_python(db: Any, event: dict[str, Any], key: str) -> None:
    canonical = audit.canonical(event)
    digest = audit.entry_hash(event)
    assert audit.canonical_of(*(event[k] for k in audit.CANONICAL_KEYS)) == canonical
    assert server(db, event, key) == (canonical, digest, audit.sign(key, digest))


@given(value=text)
@PG_SETTINGS
def test_json_string_of_text_matches_dumps(db: Any, value: str) -> None:
    assert db.execute("SELECT switchman_json_string(%s::text)", (value,)).fetchone()[0] == dumps(value)


@given(value=raw)
@PG_SETTINGS
def test_json_string_of_bytes_matches_dumps_of_fsdecode(db: Any, value: bytes) -> None:
    got = db.execute("SELECT switchman_json_string(%s::bytea)", (value,)).fetchone()[0]
    assert got == dumps(os.fsdecode(value))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"plain/path.py", '"plain/path.py"'),
        ("héllo ✓".encode(), '"héllo ✓"'),
        (b"a\nb\tc\x01", '"a\\nb\\tc\\u0001"'),
        ("line\u2028sep".encode(), '"line\u2028sep"'),
        (b"bad\xffname", '"bad\\udcffname"'),
        (b'q"\\', '"q\\"\\\\"'),
        (b"\x7f", '"\x7f"'),
        (b"nul\x00byte", '"nul\\u0000byte"'),
        (b"\xed\xa0\x80", '"\\udced\\udca0\\udc80"'),  # an encoded surrogate is three bad bytes
        (b"\xe2\x82A", '"\\udce2\\udc82A"'),  # a truncated sequence, then ASCII
        (b"", '""'),
        (None, "null"),
    ],
)
def test_json_string_of_bytes_examples(db: Any, value: bytes | None, expected: str) -> None:
    assert db.execute("SELECT switchman_json_string(%s::bytea)", (value,)).fetchone()[0] == expected
    if value is not None:
        assert dumps(os.fsdecode(value)) == expected


def test_nulls_are_json_null(db: Any) -> None:
    event = dict.fromkeys(audit.CANONICAL_KEYS)
    assert server(db, event, ZERO_KEY)[0] == audit.canonical(event)
    assert db.execute("SELECT switchman_json_string(NULL::text)").fetchone()[0] == "null"


def test_a_non_utf8_database_is_refused(pg_cluster) -> None:  # noqa: F811
    name = pg_cluster.create_database()
    pg_cluster.drop_database(name)
    pg_cluster.execute(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0")
    try:
        import psycopg

        with pg_cluster.connect(name, autocommit=True) as conn, pytest.raises(psycopg.Error, match="UTF8"):
            load_sql(conn)
    finally:
        pg_cluster.drop_database(name)


@pytest.mark.slow
def test_build_ships_the_sql(tmp_path) -> None:
    """pyproject's package-data puts pg_audit.sql into the wheel (built from a copy of the tree)."""

    from testing.build import ROOT as root
    from testing.build import build_py

    out = build_py(tmp_path)
    shipped = out / "switchman" / "store" / "pg_audit.sql"
    assert shipped.read_bytes() == (root / "switchman" / "store" / "pg_audit.sql").read_bytes()
