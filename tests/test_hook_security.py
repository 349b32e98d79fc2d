"""The installed hook cannot be replaced from inside a worktree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from testing.cli import Cli
from testing.git import git, write


@pytest.mark.both_backends
def test_worktree_switchman_package_does_not_replace_the_gate(initialised: Path, cli: Cli) -> None:
    cli.ok("policy", "mode", "guarded", "--all-worktrees")
    cli.ok("hooks", "install")
    # A worktree that ships its own `switchman` package: with `python -m` it would shadow ours.
    write(initialised / "switchman" / "__init__.py", "")
    write(initialised / "switchman" / "hookrun.py", "def main(argv=None):\n    return 0\n")
    write(initialised / "README.md", "changed without a lease\n")
    git(initialised, "add", "README.md")
    proc = subprocess.run(["git", "commit", "-q", "-m", "sneaky"], cwd=initialised, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "no_active_lease" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.both_backends
def test_pythonpath_cannot_inject_a_gate(initialised: Path, cli: Cli, tmp_path: Path) -> None:
    cli.ok("policy", "mode", "guarded", "--all-worktrees")
    cli.ok("hooks", "install")
    planted = tmp_path / "planted"
    write(planted / "switchman" / "__init__.py", "")
    write(planted / "switchman" / "hookrun.py", "def main(argv=None):\n    return 0\n")
    write(initialised / "README.md", "changed without a lease\n")
    git(initialised, "add", "README.md")
    import os

    env = {**os.environ, "PYTHONPATH": str(planted)}
    proc = subprocess.run(["git", "commit", "-q", "-m", "sneaky"], cwd=initialised, capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    assert "no_active_lease" in proc.stderr
