"""The commit gate through the real hooks, on both backends (SPEC §12): the same tests, the same
assertions, with the store selected by `init --store URL` on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.cli import Cli
from testing.pg import Cluster

from .pg_fixtures import pg_cluster  # noqa: F401
from .test_gates_commit import (  # noqa: F401 - collected here again, on both backends
    test_no_active_lease_refused_in_guarded,
    test_observed_reports_and_allows,
    test_path_claimed_allowed_and_recorded,
    test_path_claimed_by_other_lease,
    test_path_scoped_by_other_lease,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def initialised(repo: Path, cli: Cli, backend: str, request: pytest.FixtureRequest) -> Path:
    if backend == "sqlite":
        cli.ok("init")
        return repo
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_database()
    url = cluster.url(name)
    cli.ok("store", "setup", url)
    cli.ok("init", "--store", url)
    assert not (repo / ".switchman" / "audit.key").exists()
    assert not (repo / ".switchman" / "switchman.db").exists()
    return repo


def test_a_command_that_fails_on_its_key_changed_nothing_on_postgresql(
    repo: Path, cli: Cli, pg_cluster: Cluster  # noqa: F811
) -> None:
    """SPEC §14 on the team backend too: the signer is checked before the transaction."""
    from testing.cli import run_cli
    from testing.git import git

    url = pg_cluster.url(pg_cluster.create_database())
    cli.ok("store", "setup", url)
    cli.ok("init", "--store", url)
    cli.ok("task", "add", "a task", "--id", "T-fault")

    def snapshot() -> tuple[object, ...]:
        return (
            cli.json("audit", "list", "--limit", "1000")["events"],
            cli.json("task", "list")["tasks"],
            git(repo, "for-each-ref", "refs/switchman/"),
        )

    before = snapshot()
    res = run_cli("task", "add", "faulted", cwd=repo, env={"SWITCHMAN_FAULT": "checkpoint.read_key!raise"})
    assert res.code == 3, res.err + res.out
    assert "cannot read the checkpoint signing key" in res.err and "Traceback" not in res.err
    assert snapshot() == before
