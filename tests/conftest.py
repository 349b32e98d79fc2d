"""Real-git fixtures: isolated config, temp repos with linked worktrees, and CLI runners.

Fixtures only: the helpers they use (and tests import) live in the top-level `testing` package.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.cli import Cli
from testing.env import isolate
from testing.gates import Env, install_hooks
from testing.git import add_worktree, init_repo


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No user/system git config, no templates, fixed identity; a private HOME and XDG config."""
    yield isolate(tmp_path_factory.mktemp("home"), monkeypatch)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo on `main` with one commit of a few files."""
    return init_repo(tmp_path / "repo")


@pytest.fixture
def cli(repo: Path) -> Cli:
    return Cli(repo)


@pytest.fixture
def initialised(repo: Path, cli: Cli) -> Path:
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
