"""Real-git fixtures: isolated config, temp repos with linked worktrees, and CLI runners.

Fixtures only: the helpers they use (and tests import) live in the top-level `testing` package.

Both backends (SPEC §12): a test marked `both_backends` (or in a module whose `pytestmark` has
it) that uses a store through `initialised` (so `agents`, `env` too) runs twice, `[sqlite]` and
`[postgresql]`; `sqlite_only` exempts one test of such a module. Unmarked tests run on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.cli import Cli
from testing.env import isolate
from testing.gates import Env, install_hooks
from testing.git import add_worktree, init_repo

from .pg_fixtures import pg_cluster, pg_store_url, pg_template  # noqa: F401 - for `initialised`

BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    node = metafunc.definition
    if (
        "backend" in metafunc.fixturenames
        and node.get_closest_marker("both_backends") is not None
        and node.get_closest_marker("sqlite_only") is None
    ):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The store backend `initialised` sets up: "sqlite" unless the test runs on both."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No user/system git config, no templates, fixed identity; a private HOME and XDG config;
    the machine's own clock (a server store a previous test opened set an offset)."""
    from switchman import timeutil

    timeutil.use_offset(0.0)
    yield isolate(tmp_path_factory.mktemp("home"), monkeypatch)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo on `main` with one commit of a few files."""
    return init_repo(tmp_path / "repo")


@pytest.fixture
def cli(repo: Path) -> Cli:
    return Cli(repo)


@pytest.fixture
def initialised(repo: Path, cli: Cli, backend: str, request: pytest.FixtureRequest) -> Path:
    """`init` in `repo`: the SQLite store, or (backend "postgresql") a fresh database on the
    suite's server, joined with `init --store URL` (no audit.key, no switchman.db here)."""
    if backend == "postgresql":
        cli.ok("init", "--store", request.getfixturevalue("pg_store_url"))
    else:
        cli.ok("init")
    return repo


@pytest.fixture
def agents(initialised: Path, cli: Cli) -> tuple[Path, Path]:
    """Two linked worktrees, registered: agent-a and agent-b."""
    a = add_worktree(initialised, "agent-a")
    b = add_worktree(initialised, "agent-b")
    cli.ok("worktree", "sync")
    return a, b


@pytest.fixture(name="env")
def env_fixture(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> Env:
    """agent-a and agent-b (observed, no leases) with the hooks installed from the main worktree."""
    install_hooks(initialised)
    a, b = agents
    return Env(initialised, a, b, cli)
