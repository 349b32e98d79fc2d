"""Audit trail: the 0.1.3 golden vector, canonical form, chain, every verify failure code."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchman import audit
from switchman.jsonutil import dumps
from switchman.store import audit_log
from switchman.store.sqlite import Store
from testing.cli import Cli

ZERO_KEY = "0" * 64
EVENT1 = {
    "sequence": 1,
    "prev_hash": None,
    "event_type": "lease_started",
    "status": "allowed",
    "reason_code": None,
    "worktree": "wt-a",
    "task_id": "T1",
    "lease_id": "lease-1",
    "file_path": None,
    "details": '{"agent":null}',
    "created_at": "2024-01-01T00:00:00.000Z",
}
HASH1 = "ab6c29af4b7281e969f77fc766bcf879ce490e2a637b6f6806a25c812bdb4eaf"
SIG1 = "16b54e6573cf2bc941a73942dc79bb32fae88913b46ddd47541cb1ab95f5f911"
EVENT2 = {
    **EVENT1,
    "sequence": 2,
    "prev_hash": HASH1,
    "event_type": "file_claimed",
    "file_path": "src/auth/x.js",
    "details": None,
    "created_at": "2024-01-01T00:00:01.000Z",
}
HASH2 = "c15923666208d7c0be4d1b07e05197b7527da38619b5cea467125a14df16a4dc"
SIG2 = "098caccdafcb61ad70b07b5dfcb8c5362b522cc267185dcf3a0656b82a2c070d"


def test_golden_vector_matches_switchman_dev_013() -> None:
    assert audit.entry_hash(EVENT1) == HASH1
    assert audit.sign(ZERO_KEY, HASH1) == SIG1
    assert audit.entry_hash(EVENT2) == HASH2
    assert audit.sign(ZERO_KEY, HASH2) == SIG2


def test_canonical_key_order_and_compactness() -> None:
    text = audit.canonical(EVENT1)
    assert text.startswith('{"sequence":1,"prev_hash":null,"event_type":"lease_started"')
    assert " " not in text
    assert list(json.loads(text)) == list(audit.CANONICAL_KEYS)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("héllo ✓", '"héllo ✓"'),  # non-ASCII unescaped
        ("a\nb\tc\x01", '"a\\nb\\tc\\u0001"'),  # JSON.stringify's control-char escapes
        ("line\u2028sep", '"line\u2028sep"'),  # U+2028 left as is, like JSON.stringify
        ("bad\udcffname", '"bad\\udcffname"'),  # lone surrogate escaped lowercase
        ('q"\\', '"q\\"\\\\"'),
        ("\x7f", '"\x7f"'),
    ],
)
def test_canonical_string_escapes_match_json_stringify(value: str, expected: str) -> None:
    assert dumps(value) == expected


@given(st.text())
def test_canonical_form_roundtrips_and_is_utf8_encodable(value: str) -> None:
    event = {**EVENT1, "details": value, "file_path": value}
    text = audit.canonical(event)
    text.encode("utf-8")  # never raises, lone surrogates are escaped
    assert json.loads(text)["details"] == value


def _fresh_store(tmp_path: Path) -> Store:
    state = tmp_path / "state"
    state.mkdir()
    (state / "audit.key").write_text(ZERO_KEY + "\n")
    return Store.open(str(state), create=True)


def test_append_builds_a_verifiable_chain_with_non_utf8_paths(tmp_path: Path) -> None:
    store = _fresh_store(tmp_path)
    odd = "dir/na\udcffme\nwith newline.txt"

    def fn(tx):  # type: ignore[no-untyped-def]
        tx.audit("lease_started", "allowed", worktree="wt-a", task_id="T1", lease_id="lease-1", details={"agent": None})
        tx.audit("file_claimed", "allowed", worktree="wt-a", task_id="T1", lease_id="lease-1", file_path=odd)

    store.write(fn)
    rows = list(audit_log.iter_rows(store.conn))
    assert [r.sequence for r in rows] == [1, 2]
    assert rows[1].prev_hash == rows[0].entry_hash
    assert rows[1].file_path == odd
    assert audit_log.verify(store.conn, ZERO_KEY).ok


def _tamper(store: Store, sql: str, params: tuple = ()) -> None:  # type: ignore[type-arg]
    store.conn.execute(sql, params)


def _three_rows(tmp_path: Path) -> Store:
    store = _fresh_store(tmp_path)

    def fn(tx):  # type: ignore[no-untyped-def]
        for i in range(3):
            tx.audit("task_created", "info", task_id=f"T{i}")

    store.write(fn)
    return store


@pytest.mark.parametrize(
    ("sql", "codes"),
    [
        ("UPDATE audit_log SET task_id = 'evil' WHERE sequence = 2", {"entry_hash_mismatch"}),
        ("DELETE FROM audit_log WHERE sequence = 2", {"sequence_gap", "prev_hash_mismatch"}),
        ("UPDATE audit_log SET signature = ? WHERE sequence = 3", {"signature_mismatch"}),
        ("UPDATE audit_log SET sequence = NULL WHERE sequence = 3", {"missing_sequence", "entry_hash_mismatch"}),
        ("UPDATE audit_log SET prev_hash = 'x' WHERE sequence = 2", {"prev_hash_mismatch", "entry_hash_mismatch"}),
        (
            "INSERT INTO audit_log (event_type, status, created_at) VALUES ('task_created', 'info', '2024-01-01T00:00:00.000Z')",
            {"unsigned_row"},
        ),
    ],
)
def test_verify_reports_each_failure_code(tmp_path: Path, sql: str, codes: set[str]) -> None:
    store = _three_rows(tmp_path)
    params = ("0" * 64,) if "?" in sql else ()
    _tamper(store, sql, params)
    result = audit_log.verify(store.conn, ZERO_KEY)
    assert not result.ok
    assert {f.reason_code for f in result.failures} == codes


def test_verify_detects_reordered_rows(tmp_path: Path) -> None:
    store = _three_rows(tmp_path)
    a = store.conn.execute("SELECT id FROM audit_log WHERE sequence = 1").fetchone()[0]
    b = store.conn.execute("SELECT id FROM audit_log WHERE sequence = 2").fetchone()[0]
    store.conn.execute("UPDATE audit_log SET id = -1 WHERE id = ?", (a,))
    store.conn.execute("UPDATE audit_log SET id = ? WHERE id = ?", (a, b))
    store.conn.execute("UPDATE audit_log SET id = ? WHERE id = -1", (b,))
    codes = {f.reason_code for f in audit_log.verify(store.conn, ZERO_KEY).failures}
    assert "sequence_gap" in codes


def test_verify_with_wrong_key_is_signature_mismatch(tmp_path: Path) -> None:
    store = _three_rows(tmp_path)
    result = audit_log.verify(store.conn, "1" * 64)
    assert {f.reason_code for f in result.failures} == {"signature_mismatch"}
    assert len(result.failures) == 3


def test_verify_without_key_is_key_missing(tmp_path: Path) -> None:
    store = _three_rows(tmp_path)
    result = audit_log.verify(store.conn, None)
    assert [f.reason_code for f in result.failures] == ["key_missing"]


def test_refused_append_rolls_back_state_and_event(tmp_path: Path) -> None:
    store = _fresh_store(tmp_path)

    def fn(tx):  # type: ignore[no-untyped-def]
        tx.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        tx.audit("task_created", "info", task_id="T")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write(fn)
    assert store.conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 0
    assert store.conn.execute("SELECT COUNT(*) FROM meta WHERE key = 'x'").fetchone()[0] == 0


def test_cli_verify_export_and_list(initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "First", "--id", "T1")
    cli.ok("task", "add", "Second", "--id", "T2")
    result = cli.json("audit", "verify")
    assert (result["ok"], result["failures"]) == (True, [])
    assert result["count"] >= 2
    events = cli.json("audit", "list", "--event-type", "task_created")["events"]
    assert [e["task_id"] for e in events] == ["T2", "T1"]  # newest first
    assert cli.json("audit", "list", "--task", "T1", "--limit", "1")["events"][0]["task_id"] == "T1"
    lines = cli.ok("audit", "export").out.splitlines()
    assert [json.loads(line)["sequence"] for line in lines] == list(range(1, len(lines) + 1))
    since = cli.ok("audit", "export", "--since", "1").out.splitlines()
    assert json.loads(since[0])["sequence"] == 2

    db = initialised / ".switchman" / "switchman.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE audit_log SET task_id = 'T9' WHERE task_id = 'T1' AND event_type = 'task_created'")
    conn.commit()
    conn.close()
    bad = cli("audit", "verify", "--json")
    assert bad.code == 1
    assert bad.json["ok"] is False
    assert bad.json["failures"][0]["reason_code"] == "entry_hash_mismatch"
    assert set(bad.json["failures"][0]) == {"id", "sequence", "reason_code", "message"}


def test_cli_missing_key_is_exit_3_and_never_regenerated(initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "First")
    key = initialised / ".switchman" / "audit.key"
    key.unlink()
    res = cli("audit", "verify")
    assert res.code == 3
    assert "key" in res.err
    res = cli("task", "add", "Second")
    assert res.code == 3
    assert res.err.startswith("error: ") and len(res.err.strip().splitlines()) == 1
    assert cli("init").code == 3
    assert not key.exists()
