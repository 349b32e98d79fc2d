"""The README's pre-commit framework snippet works exactly as written (issue 17): its `rev` is a
commit of this repository's history, and the block runs through the real `pre-commit`, offline
(testing/wheelhouse.py), with only the placeholder URL replaced by this checkout's path."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.cli import Cli
from testing.git import git, write
from testing.wheelhouse import PROJECT, PreCommitKit, prepare

from .test_hook_managers import recipe

pytestmark = pytest.mark.slow

PLACEHOLDER = "https://example.invalid/switchman-hook"


def snippet() -> str:
    return recipe("pre-commit")


def snippet_rev() -> str:
    found = re.search(r"^\s*rev:\s*(\S+)", snippet(), re.M)
    assert found, "the snippet has no rev"
    return found.group(1)


def _in_history(rev: str) -> bool | None:
    inside = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=PROJECT, capture_output=True, text=True)
    if inside.returncode != 0 or Path(inside.stdout.strip()).resolve() != PROJECT:
        return None  # not a git checkout (an unpacked sdist): nothing to check against
    proc = subprocess.run(["git", "merge-base", "--is-ancestor", rev, "HEAD"], cwd=PROJECT, capture_output=True)
    return proc.returncode == 0


def test_snippet_rev_is_a_commit_of_this_repository() -> None:
    rev = snippet_rev()
    assert re.fullmatch(r"[0-9a-f]{40}", rev), f"rev {rev!r} is not a full commit id"
    found = _in_history(rev)
    if found is None:
        pytest.skip("not a git checkout")
    assert found, f"rev {rev} is not in this repository's history"
    assert PLACEHOLDER in snippet()  # the URL placeholder is the one the README documents


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> PreCommitKit:
    base = tmp_path_factory.getbasetemp()
    return prepare((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "precommit-kit")


@pytest.fixture
def offline(kit: PreCommitKit, isolated_git: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PreCommitKit]:
    wanted = kit.env(isolated_git)
    for key in [k for k in os.environ if k not in wanted]:
        monkeypatch.delenv(key)
    for key, value in wanted.items():
        monkeypatch.setenv(key, value)
    yield kit


def test_snippet_runs_through_real_pre_commit(offline: PreCommitKit, repo: Path, cli: Cli) -> None:
    if not _in_history(snippet_rev()):
        pytest.skip("not a git checkout holding the snippet's rev")
    text = snippet()
    config = text.replace(PLACEHOLDER, str(PROJECT), 1)
    assert config.replace(str(PROJECT), PLACEHOLDER, 1) == text  # only the URL changed
    write(repo / ".pre-commit-config.yaml", config)
    git(repo, "add", ".pre-commit-config.yaml")
    offline.pre_commit("install", cwd=repo)
    # Never initialised: the framework's gate says once how to start, instead of a silent Passed.
    # (The hint is in this checkout's hookrun; the pinned rev may predate it, so it is not asserted.)
    first = subprocess.run(["git", "commit", "-q", "-m", "config"], cwd=repo, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    cli.ok("init")
    write(repo / "work.txt", "framework\n")
    git(repo, "add", "work.txt")
    proc = subprocess.run(["git", "commit", "-q", "-m", "through the framework"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "switchman commit/merge gate" in proc.stdout + proc.stderr
    head = git(repo, "rev-parse", "HEAD").strip()
    gate = cli.json("audit", "list", "--event-type", "commit_gate", "--limit", "1")["events"]
    rec = cli.json("audit", "list", "--event-type", "commit_recorded", "--limit", "1")["events"]
    assert gate and gate[0]["worktree"] == "main"
    assert rec and json.loads(rec[0]["details"])["commit"] == head
