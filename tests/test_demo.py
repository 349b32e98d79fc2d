"""`switchman-hook demo` from the installed console script: every step narrated and green."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from testing.cli import run_cli

pytestmark = pytest.mark.slow


def _no_git_identity() -> dict[str, str]:
    """An environment with no git identity at all: the demo must bring its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    env["GIT_CONFIG_GLOBAL"] = "/dev/null"
    return env


def test_demo_runs_green_and_narrates_every_step(tmp_path: Path) -> None:
    res = run_cli("demo", cwd=tmp_path, env=_no_git_identity())
    assert res.code == 0, res.out + res.err
    lines = res.out.splitlines()
    numbered = [ln for ln in lines if re.match(r"^\d+\. ", ln)]
    assert [int(ln.split(".")[0]) for ln in numbered] == list(range(1, 10)), numbered
    text = res.out
    for needle in (
        "init --mode guarded",
        "inside its scope): allowed",
        "refused by the pre-commit gate",
        "[path_scoped_by_other_lease]",
        "--no-verify",
        "commit_gate_bypassed",
        "audit verify: ok",
        "entry_hash_mismatch",
        "health blocked",
        "FAIL  audit_chain",
        "All 9 steps behaved as narrated.",
    ):
        assert needle in text, needle
    kept = re.search(r"kept the demo repo: (\S+)", text)
    assert kept is None
    assert not list(tmp_path.iterdir())  # nothing left in the cwd either


def test_demo_keep_leaves_the_repo(tmp_path: Path) -> None:
    res = run_cli("demo", "--keep", cwd=tmp_path)
    assert res.code == 0, res.out + res.err
    kept = re.search(r"kept the demo repo: (\S+)", res.out)
    assert kept, res.out
    repo = Path(kept.group(1))
    try:
        assert (repo / ".switchman" / "switchman.db").is_file()
        assert (repo.parent / "agent-a" / "src" / "billing" / "invoice.py").read_text() == "TAX = 0.0\n"
        log = subprocess.run(["git", "log", "--format=%s", "agent-a"], cwd=repo, capture_output=True, text=True)
        assert log.stdout.splitlines()[:2] == ["billing: sneak it in", "auth: stricter login"]
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)


def test_demo_names_the_step_that_misbehaved(tmp_path: Path) -> None:
    """A broken environment (no git on PATH) fails step 1 by name, exit 1."""
    env = {**os.environ, "PATH": str(tmp_path / "empty")}
    res = run_cli("demo", cwd=tmp_path, env=env)
    assert res.code == 1
    assert "demo FAILED at step 1 (build a repo with two agent worktrees)" in res.out
