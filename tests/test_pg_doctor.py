# ruff: noqa: F811 - pytest fixtures imported from pg_fixtures are parameters here
"""`doctor` on the PostgreSQL team backend (SPEC §8, §12): the server answers, its schema is this
code's, and this machine's login role cannot read the HMAC keys or write audit rows; each broken
setup fails with the exact fix, and passes once the fix is applied."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest

from switchman.doctor.checks import CHECK_IDS
from testing.machines import Machine, agent_url
from testing.pg import Cluster

from .pg_fixtures import pg_cluster, pg_store_url, pg_template  # noqa: F401
from .test_doctor import assert_broken, check, doctor, run_fix

MACHINE = "machine-d"


@pytest.fixture
def clone(repo: Path, pg_cluster: Cluster, pg_store_url: str) -> Machine:
    """A clone on its own machine, logged in as a member of switchman_agent: a healthy setup."""
    return Machine.clone(repo, repo.parent / "clone", agent_url(pg_store_url, pg_cluster, "agent_doctor"), MACHINE)


def as_owner(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def test_a_healthy_clone_on_a_server_is_healthy(clone: Machine) -> None:
    code, doc = doctor(clone.cli)  # type: ignore[arg-type]
    bad = [c for c in doc["checks"] if c["status"] != "ok"]
    assert code == 0 and doc["health"] == "healthy", bad
    ids = {c["id"] for c in doc["checks"]}
    assert ids >= set(CHECK_IDS) - {"integrity", "key_mode", "checkpoint"}
    assert "integrity" not in ids and "key_mode" not in ids  # SQLite's file, SQLite's key file
    assert "agent_doctor" in check(doc, "server")["detail"] and MACHINE in check(doc, "server")["detail"]
    assert "on the server" in check(doc, "key")["detail"]
    assert "cannot read the HMAC keys" in check(doc, "server_key")["detail"]


def test_a_superuser_login_fails_server_key_until_the_machine_has_its_own_role(
    repo: Path, pg_cluster: Cluster, pg_store_url: str
) -> None:
    m = Machine.clone(repo, repo.parent / "clone", pg_store_url, MACHINE)  # the owner's URL
    c = assert_broken(m.cli, "server_key", "fail", "superuser", "CREATE ROLE agent_machine_d LOGIN IN ROLE switchman_agent")  # type: ignore[arg-type]
    env = {"PATH": f"{pg_cluster.bindir}{os.pathsep}{os.environ['PATH']}"}
    with m.active():
        old = os.environ["PATH"]
        os.environ.update(env)
        try:
            run_fix(c["fix"], m.path)
        finally:
            os.environ["PATH"] = old
    _, doc = doctor(m.cli)  # type: ignore[arg-type]
    assert check(doc, "server_key")["status"] == "ok"
    assert "agent_machine_d" in check(doc, "server")["detail"]


def test_a_role_granted_the_keys_fails_until_setup_takes_it_back(clone: Machine, pg_store_url: str) -> None:
    as_owner(pg_store_url, "GRANT SELECT ON switchman_audit_keys TO switchman_agent")
    c = assert_broken(clone.cli, "server_key", "fail", "switchman_agent can read the HMAC keys", "store setup")  # type: ignore[arg-type]
    assert "OWNER@" in c["fix"]
    clone.cli.ok("store", "setup", pg_store_url)  # the fix, with the owner's URL
    _, doc = doctor(clone.cli)  # type: ignore[arg-type]
    assert check(doc, "server_key")["status"] == "ok"


def test_an_older_server_schema_fails_with_the_setup_fix_and_skips_the_store_checks(
    clone: Machine, pg_store_url: str
) -> None:
    as_owner(pg_store_url, "UPDATE switchman_schema SET version = version - 1")
    c = assert_broken(clone.cli, "schema", "fail", "older than", "store setup")  # type: ignore[arg-type]
    assert "as the database owner" in c["fix"]
    _, doc = doctor(clone.cli)  # type: ignore[arg-type]
    assert "audit_chain" not in {x["id"] for x in doc["checks"]}  # they would read missing columns
    res = clone.cli("task", "add", "x")
    assert res.code == 3 and "store setup" in res.err  # commands refuse, naming the same fix
    clone.cli.ok("store", "setup", pg_store_url)
    _, doc = doctor(clone.cli)  # type: ignore[arg-type]
    assert check(doc, "schema")["status"] == "ok" and check(doc, "audit_chain")["status"] == "ok"


def test_a_down_server_fails_quickly_naming_it(clone: Machine) -> None:
    cfg = clone.path / ".switchman" / "store.json"
    cfg.write_text(cfg.read_text().replace("host=/tmp/", "host=/nonexistent/"))
    start = time.monotonic()
    c = assert_broken(clone.cli, "server", "fail", "/nonexistent/", "not answering", "start the PostgreSQL server")  # type: ignore[arg-type]
    assert time.monotonic() - start < 5
    assert "/nonexistent/" in c["fix"]
    _, doc = doctor(clone.cli)  # type: ignore[arg-type]
    assert not {"audit_chain", "worktrees", "server_key"} & {x["id"] for x in doc["checks"]}


def test_an_audit_key_left_from_sqlite_is_a_warning_with_the_fix(clone: Machine) -> None:
    key = clone.path / ".switchman" / "audit.key"
    key.write_text("0" * 64 + "\n")
    key.chmod(0o600)
    c = assert_broken(clone.cli, "key", "warn", "left from the SQLite store")  # type: ignore[arg-type]
    run_fix(c["fix"], clone.path)
    _, doc = doctor(clone.cli)  # type: ignore[arg-type]
    assert check(doc, "key")["status"] == "ok" and not key.exists()


def test_a_machine_without_an_id_is_warned_about(clone: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    from switchman.doctor import server_checks
    from switchman.store import postgres_config

    monkeypatch.setattr(server_checks, "machine_id", lambda: postgres_config.UNKNOWN_MACHINE)
    assert_broken(clone.cli, "server", "warn", "SWITCHMAN_MACHINE_ID")  # type: ignore[arg-type]


def test_a_bad_machine_id_is_bad_input(clone: Machine) -> None:
    from testing.cli import Cli, assert_error

    with clone.active():
        os.environ["SWITCHMAN_MACHINE_ID"] = "two words"
        res = Cli(clone.path)("worktree", "list")
    assert_error(res, 2, "SWITCHMAN_MACHINE_ID")
