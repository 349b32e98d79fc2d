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
