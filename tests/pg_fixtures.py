"""PostgreSQL fixtures: one throwaway cluster per test session (per xdist worker), a fresh database
per test. Import them into a test module (`from .pg_fixtures import pg_cluster, pg_url  # noqa: F401`).

With SWITCHMAN_REQUIRE_PG=1 (set by .ci/run) a missing server or driver FAILS every test that asks
for PostgreSQL; without it they are skipped, with the reason and the fix. A server that is there
but will not start is always an error, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from testing.pg import Cluster, PostgresMissing, start_cluster

REQUIRE_ENV = "SWITCHMAN_REQUIRE_PG"
# Read at import too: conftest's autouse `isolated_git` strips SWITCHMAN_* from the environment of
# every test, and a session fixture is first set up inside some test's setup.
_REQUIRED_AT_IMPORT = os.environ.get(REQUIRE_ENV) == "1"


def pg_required() -> bool:
    return _REQUIRED_AT_IMPORT or os.environ.get(REQUIRE_ENV) == "1"


def _unavailable(reason: str) -> None:
    if pg_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: PostgreSQL tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A running throwaway cluster (unix socket and 127.0.0.1), stopped and deleted at the end."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed; fix: pip install -e '.[test]' (or 'psycopg[binary]>=3.1')")
    try:
        cluster = start_cluster(tcp=True)
    except PostgresMissing as exc:
        _unavailable(str(exc))
        raise  # unreachable: _unavailable skips or fails
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_template(pg_cluster: Cluster) -> str:
    """A database with the switchman schema (`store setup`), copied for each test that needs one:
    CREATE DATABASE ... TEMPLATE is a file copy, much cheaper than the DDL."""
    from switchman.store import postgres as pgstore

    name = pg_cluster.create_database()
    pgstore.setup(pg_cluster.url(name))
    return name


@pytest.fixture
def pg_store_url(pg_cluster: Cluster, pg_template: str) -> Iterator[str]:
    """A URL (unix socket, superuser) of a fresh database already set up, dropped after the test."""
    name = pg_cluster.create_database(template=pg_template)
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """A URL (unix socket, superuser) of a database created for this test and dropped after it."""
    name = pg_cluster.create_database()
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)
