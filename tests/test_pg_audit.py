# ruff: noqa: F811 - pytest fixtures imported from pg_fixtures are parameters here
"""test_audit.py's append/verify part on both backends (SPEC §3, §12): the same chain, the same
failure codes. On PostgreSQL the tampering is done as the database owner (the agent role cannot
touch audit rows) and the HMAC is checked by the server."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from switchman.store import audit_log
from switchman.store import postgres as pgstore
from switchman.store.sqlite import Store as SqliteStore
from switchman.trail import _server_signed

from .pg_fixtures import pg_cluster  # noqa: F401

ZERO_KEY = "0" * 64


class Backend:
    def __init__(self, name: str, store: Any, url: str | None = None) -> None:
        self.name, self.store, self.url = name, store, url

    def tamper(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        if self.url is None:
            self.store.conn.execute(sql, params)
            return
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(
                "SELECT set_config('switchman.repo_id', %s, false)", (self.store.repo_id,)
            )
            admin.execute(pgstore.translate(sql), pgstore.params_of(params))

    def verify(self) -> Any:
        if self.url is None:
            return audit_log.verify(self.store.conn, ZERO_KEY)
        return _server_signed(self.store, None, audit_log.verify(self.store, None))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    state = tempfile.mkdtemp()
    if request.param == "sqlite":
        with open(f"{state}/audit.key", "w") as fh:
            fh.write(ZERO_KEY + "\n")
        b = Backend("sqlite", SqliteStore.open(state, create=True))
    else:
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.url(cluster.create_database())
        pgstore.setup(url)
        b = Backend("postgresql", pgstore.open_store(state, url, "repo", create=True), url)
    yield b
    b.store.close()


def test_append_builds_a_verifiable_chain_with_non_utf8_paths(backend: Backend) -> None:
    odd = "dir/na\udcffme\nwith newline.txt"

    def fn(tx):  # type: ignore[no-untyped-def]
        tx.audit(
            "lease_started",
            "allowed",
            worktree="wt-a",
            task_id="T1",
            lease_id="lease-1",
            details={"agent": None},
        )
        tx.audit(
            "file_claimed",
            "allowed",
            worktree="wt-a",
            task_id="T1",
            lease_id="lease-1",
            file_path=odd,
        )

    backend.store.write(fn)
    rows = list(audit_log.iter_rows(backend.store.conn))
    assert [r.sequence for r in rows] == [1, 2]
    assert rows[1].prev_hash == rows[0].entry_hash
    assert rows[1].file_path == odd
    assert backend.verify().ok


def _three_rows(backend: Backend) -> None:
    def fn(tx):  # type: ignore[no-untyped-def]
        for i in range(3):
            tx.audit("task_created", "info", task_id=f"T{i}")

    backend.store.write(fn)


@pytest.mark.parametrize(
    ("sql", "codes"),
    [
        ("UPDATE audit_log SET task_id = 'evil' WHERE sequence = 2", {"entry_hash_mismatch"}),
        ("DELETE FROM audit_log WHERE sequence = 2", {"sequence_gap", "prev_hash_mismatch"}),
        ("UPDATE audit_log SET signature = ? WHERE sequence = 3", {"signature_mismatch"}),
        (
            "UPDATE audit_log SET sequence = NULL WHERE sequence = 3",
            {"missing_sequence", "entry_hash_mismatch"},
        ),
        (
            "UPDATE audit_log SET prev_hash = 'x' WHERE sequence = 2",
            {"prev_hash_mismatch", "entry_hash_mismatch"},
        ),
        (
            "INSERT INTO audit_log (event_type, status, created_at) VALUES ('task_created', 'info', '2024-01-01T00:00:00.000Z')",
            {"unsigned_row"},
        ),
    ],
)
def test_verify_reports_each_failure_code(backend: Backend, sql: str, codes: set[str]) -> None:
    _three_rows(backend)
    backend.tamper(sql, ("0" * 64,) if "?" in sql else ())
    result = backend.verify()
    assert not result.ok
    assert {f.reason_code for f in result.failures} == codes


def test_deleted_tail_leaves_the_chain_shorter(backend: Backend) -> None:
    _three_rows(backend)
    backend.tamper("DELETE FROM audit_log WHERE sequence = 3")
    result = backend.verify()
    assert (
        result.ok and result.count == 2
    )  # the chain alone cannot see it: checkpoints do (test_pg_store)


def test_refused_append_rolls_back_state_and_event(backend: Backend) -> None:
    def fn(tx):  # type: ignore[no-untyped-def]
        tx.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        tx.audit("task_created", "info", task_id="T")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        backend.store.write(fn)
    assert audit_log.count(backend.store) == 0
    assert backend.store.one("SELECT COUNT(*) AS n FROM meta WHERE key = 'x'")["n"] == 0
    # and the sequence is gapless after the rollback
    assert backend.store.write(lambda tx: tx.audit("task_created")).sequence == 1
