# ruff: noqa: F811 - pytest fixtures imported from pg_fixtures are parameters here
"""The PostgreSQL store itself (SPEC §12): byte-identical server-signed audit rows, repositories
isolated by row-level security, the key out of the agents' reach, gapless sequences under
concurrent writers, tampering detected from any clone, and two clones on two machines
coordinating through one server (tests/test_pg_machines.py)."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from switchman.audit import seal
from switchman.errors import EnvironmentProblem
from switchman.store import audit_log, meta
from switchman.store import postgres as pgstore
from testing.cli import Cli
from testing.gates import commit, head, install_hooks
from testing.git import git, write
from testing.machines import Machine
from testing.pg import Cluster, start_cluster

from .pg_fixtures import pg_cluster, pg_url  # noqa: F401


@pytest.fixture
def url(pg_url: str) -> str:  # noqa: F811
    pgstore.setup(pg_url)
    return pg_url


def _open(url: str, repo: str = "repo-a") -> pgstore.Store:
    return pgstore.open_store(tempfile.mkdtemp(), url, repo, create=True)


def _key(url: str, repo: str = "repo-a") -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT key FROM switchman_audit_keys WHERE repo_id = %s", (repo,)
        ).fetchone()[0]


EVENTS = [
    {"event_type": "task_created", "task_id": "t1", "details": {"title": "ü ☃", "n": 1}},
    {
        "event_type": "file_claimed",
        "worktree": "agent-a",
        "file_path": "src/\udcff\udcfe name.py",
        "lease_id": "l1",
    },
    {
        "event_type": "commit_gate",
        "status": "denied",
        "reason_code": "path_not_claimed",
        "file_path": 'a"b\\c\n',
    },
]


def test_server_signed_rows_are_byte_identical_to_sqlite(url: str) -> None:
    store = _open(url)
    try:
        rows = store.write(lambda tx: tx.audit_many(EVENTS))
        stored = list(audit_log.iter_rows(store))
    finally:
        store.close()
    assert [r.sequence for r in stored] == [1, 2, 3] and stored[0].prev_hash is None
    assert stored == rows
    assert stored[1].file_path == "src/\udcff\udcfe name.py"  # non-UTF-8 bytes round-trip exactly
    # What the SQLite backend computes in Python with the same key, clock and rows.
    sealed, _ = seal(
        [dict(e, created_at=r.created_at) for e, r in zip(EVENTS, stored, strict=True)],
        1,
        None,
        _key(url),
        lambda: "",
    )
    assert [(s[-3], s[-2], s[-1]) for s in sealed] == [
        (r.prev_hash, r.entry_hash, r.signature) for r in stored
    ]
    assert audit_log.verify(_open(url), _key(url)).ok


def test_audit_time_is_the_server_clock(url: str) -> None:
    store = _open(url)
    row = store.write(lambda tx: tx.audit("task_created"))
    server = store.pg.execute("SELECT extract(epoch FROM now())").fetchone()[0]
    got = time.mktime(time.strptime(row.created_at[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert (
        abs(float(server) - got) < 5 and row.created_at.endswith("Z") and len(row.created_at) == 24
    )


def test_repositories_are_isolated(url: str) -> None:
    a, b = _open(url, "repo-a"), _open(url, "repo-b")
    a.write(lambda tx: (meta.insert(tx, "repo_id", "A"), tx.audit("task_created")))
    b.write(lambda tx: meta.insert(tx, "repo_id", "B"))  # same key, other repository: no conflict
    assert meta.get(a, "repo_id") == "A" and meta.get(b, "repo_id") == "B"
    assert audit_log.count(a) == 1 and audit_log.count(b) == 0
    assert (
        b.write(lambda tx: tx.audit("task_created")).sequence == 1
    )  # each repository its own chain


def test_agents_cannot_read_the_key_or_write_audit_rows(url: str) -> None:
    store = _open(url)
    store.write(lambda tx: tx.audit("task_created"))
    for sql in (
        "SELECT key FROM switchman_audit_keys",
        "UPDATE audit_log SET status = 'allowed'",
        "DELETE FROM audit_log",
        "INSERT INTO audit_log (event_type, status, created_at) VALUES ('x', 'info', 'now')",
        "UPDATE switchman_repos SET next_sequence = 1",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            store.pg.execute(sql)
    assert audit_log.count(store) == 1


def test_concurrent_writers_leave_a_gapless_verifying_chain(url: str) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            s = _open(url)
            for i in range(15):
                s.write(
                    lambda tx, i=i: tx.audit_many(
                        [{"event_type": "write_observed", "file_path": f"w{n}/{i}"}] * 2
                    )
                )
            s.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = _open(url)
    seqs = [r.sequence for r in audit_log.iter_rows(store)]
    assert seqs == list(range(1, 241))
    assert audit_log.verify(store, _key(url)).ok and store.bad_signatures() == []


def test_server_checks_signatures(url: str) -> None:
    store = _open(url)
    store.write(lambda tx: tx.audit_many(EVENTS))
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "UPDATE audit_log SET signature = convert_to(repeat('0', 64), 'UTF8') WHERE sequence = 2"
        )
    assert [s for _, s in store.bad_signatures()] == [2]


def test_password_never_recorded(repo: Path, cli: Cli) -> None:
    res = cli("init", "--store", "postgresql://agent:s3cret@db.example:5432/switchman")
    assert res.code == 2 and "password" in res.err and "s3cret" not in res.err
    assert not (repo / ".switchman" / "store.json").exists()


def test_unknown_schema_and_not_joined(pg_url: str) -> None:  # noqa: F811
    with pytest.raises(EnvironmentProblem) as exc:
        pgstore.open_store(tempfile.mkdtemp(), pg_url, "r", create=True)
    assert "store setup" in exc.value.fix or "role" in exc.value.message


# --- through the CLI and the hooks (two machines: tests/test_pg_machines.py) ---------------------


def _clone(origin: Path, dest: Path, url: str, machine: str) -> Path:
    return Machine.clone(origin, dest, url, machine).path


def test_down_server_observed_warns_guarded_refuses_quickly(
    repo: Path, pg_cluster: Cluster
) -> None:  # noqa: F811
    name = pg_cluster.create_database()
    url = pg_cluster.url(name)
    pgstore.setup(url)
    a = _clone(repo, repo.parent / "clone-a", url, "machine-a")
    cfg = a / ".switchman" / "store.json"
    good = cfg.read_text()
    dead = good.replace("host=/tmp/", "host=/nonexistent/")
    cfg.write_text(dead)
    write(a / "README.md", "x\n")
    git(a, "add", "README.md")
    res = commit(a)  # observed: warns, commits
    assert (
        res.code == 0
        and "warning: switchman pre-commit allowed unchecked" in res.err
        and "/nonexistent/" in res.err
    )
    cfg.write_text(good)
    Cli(a).ok("init", "--mode", "guarded")
    cfg.write_text(dead)
    write(a / "README.md", "y\n")
    git(a, "add", "README.md")
    before = head(a)
    start = time.monotonic()
    res = commit(a)
    assert time.monotonic() - start < 5
    assert res.code != 0 and head(a) == before
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    assert (
        len(lines) == 1
        and "refused" in lines[0]
        and "not answering" in lines[0]
        and "/nonexistent/" in lines[0]
    ), res.err
    assert "start the PostgreSQL server" in lines[0]


def test_frozen_server_refuses_guarded_commit_within_5s(repo: Path) -> None:
    """SIGSTOP the postmaster: connections hang (no statement timeout can fire); the gate gives up."""
    with start_cluster() as cluster:
        url = cluster.url(cluster.create_database())
        pgstore.setup(url)
        a = _clone(repo, repo.parent / "clone-a", url, "machine-a")
        Cli(a).ok("init", "--mode", "guarded")
        write(a / "README.md", "y\n")
        git(a, "add", "README.md")
        pid = int(Path(cluster.datadir, "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            res = commit(a)
            took = time.monotonic() - start
        finally:
            os.kill(pid, signal.SIGCONT)
        assert took < 5, took
        assert res.code != 0
        lines = [ln for ln in res.err.splitlines() if ln.strip()]
        assert len(lines) == 1 and "refused" in lines[0] and "not answering" in lines[0], res.err


def test_store_migrate_round_trips_a_real_history(repo: Path, url: str) -> None:
    cli = Cli(repo)
    cli.ok("init")
    install_hooks(repo)
    tid = cli.ok("task", "add", "billing").out.strip().splitlines()[-1]
    lease = cli.json("lease", "acquire", tid, "main")["lease"]["id"]
    cli.ok("claim", tid, "main", "src/billing/invoice.py")
    write(repo / "src" / "billing" / "invoice.py", "TOTAL = 5\n")
    git(repo, "add", "src/billing/invoice.py")
    assert commit(repo).code == 0
    before = cli.json("audit", "list", "--limit", "1000")["events"]
    assert cli.json("audit", "verify")["ok"] is True
    res = cli.json("store", "migrate", "--to", url)
    assert res["audit_events"] == len(before) and res["rows"]["tasks"] == 1
    info = cli.json("store", "info")
    assert info["backend"] == "postgresql" and info["repo_id"] == res["repo_id"]
    assert (
        cli.json("audit", "list", "--limit", "1000")["events"] == before
    )  # every row, byte for byte
    assert cli.json("audit", "verify")["ok"] is True
    claims = cli.json("claims")["claims"]
    assert [(c["file_path"], c["lease_id"]) for c in claims] == [("src/billing/invoice.py", lease)]
    cli.ok("task", "add", "next")  # the chain continues on the server
    rows = cli.json("audit", "list", "--limit", "1")["events"]
    assert (
        rows[0]["sequence"] == before[0]["sequence"] + 1
        and rows[0]["prev_hash"] == before[0]["entry_hash"]
    )
    assert cli.json("audit", "verify")["ok"] is True
    # a second clone of the same project on another machine joins the migrated repository
    b = _clone(repo, repo.parent / "clone-b", url, "machine-b")
    assert Cli(b).json("audit", "verify")["ok"] is True
    assert any(c["file_path"] == "src/billing/invoice.py" for c in Cli(b).json("claims")["claims"])


def test_store_migrate_into_a_used_repository_changes_nothing(repo: Path, url: str) -> None:
    other = _clone(repo, repo.parent / "clone-b", url, "machine-b")
    Cli(other).ok("task", "add", "there")
    cli = Cli(repo)
    cli.ok("init")
    res = cli("store", "migrate", "--to", url)
    assert res.code != 0 and "already has rows" in res.err
    assert cli.json("store", "info")["backend"] == "sqlite"


def test_watchdog_gives_up_on_a_server_frozen_mid_session(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend that stops answering after the connection is made (SIGSTOP): no statement timeout
    fires, the watchdog shuts the socket and the store says which server is not answering."""
    monkeypatch.setenv("SWITCHMAN_PG_WATCHDOG_S", "1")
    store = _open(url)
    pid = store.pg.execute("SELECT pg_backend_pid()").fetchone()[0]
    os.kill(pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        with pytest.raises(EnvironmentProblem) as exc:
            meta.get(store, "repo_id")
        took = time.monotonic() - start
    finally:
        os.kill(pid, signal.SIGCONT)
    assert took < 3, took
    assert exc.value.code == "store_unavailable" and "not answering" in exc.value.message
