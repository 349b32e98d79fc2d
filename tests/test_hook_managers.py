"""Living with real hook managers: husky 9, lefthook and prek, installed and run for real.

Each test installs the manager in a repository, then switchman's hooks, commits through git and
checks that both the manager's own hook and switchman's gate ran; then lets the manager rewrite
its hooks as it does in daily use and checks that `hooks install` chains the new script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import BIN, Cli, git, write

pytestmark = pytest.mark.slow


def _need(tool: str) -> str:
    found = shutil.which(tool) or (str(BIN / tool) if (BIN / tool).exists() else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed: the test extra installs it (pip install -e '.[test]')")
        pytest.skip(f"{tool} is not installed")
    return found


@pytest.fixture(scope="session")
def husky_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """node_modules with husky 9, installed once from the npm registry."""
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            pytest.fail("npm is not installed: husky's tests need it (apt-get install npm)")
        pytest.skip("npm is not installed")
    where = tmp_path_factory.mktemp("husky")
    write(where / "package.json", '{"name": "probe", "version": "1.0.0", "private": true}\n')
    proc = subprocess.run(
        [npm, "install", "--silent", "--no-audit", "--no-fund", "husky@9"], cwd=where, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return where / "node_modules"


def commits_gated(cli: Cli) -> int:
    return len(cli.json("audit", "list", "--event-type", "commit_gate", "--limit", "1000")["events"])


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def commit(repo: Path, message: str) -> subprocess.CompletedProcess[str]:
    write(repo / "work.txt", message + "\n")
    git(repo, "add", "work.txt")
    proc = subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, capture_output=True, text=True)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_husky_hooks_keep_running_and_survive_a_husky_reinstall(repo: Path, cli: Cli, husky_modules: Path) -> None:
    node = _need("node")
    os.symlink(husky_modules, repo / "node_modules")
    husky = [node, str(husky_modules / "husky" / "bin.js")]
    assert subprocess.run(husky, cwd=repo, capture_output=True).returncode == 0
    log = repo.parent / "husky.log"
    write(repo / ".husky" / "pre-commit", f"echo \"husky pre-commit $#\" >> '{log}'\n")
    cli.ok("init", "--install-hooks")
    hooks = {h["name"]: h for h in cli.json("hooks", "status")["hooks"]}
    assert hooks["pre-commit"]["state"] == "installed" and hooks["pre-commit"]["path"].endswith(".husky/_/pre-commit")

    assert commit(repo, "one").returncode == 0
    assert lines(log) == ["husky pre-commit 0"]  # husky's dispatcher found the user's script
    assert commits_gated(cli) == 1

    # `npm install` runs husky again (the prepare script): it rewrites every .husky/_ script.
    assert subprocess.run(husky, cwd=repo, capture_output=True).returncode == 0
    assert commit(repo, "two").returncode == 0
    assert commits_gated(cli) == 1  # husky's own script ran alone: not gated
    res = cli("hooks", "install", "--json")
    assert res.code == 0, res.err + res.out
    assert {h["name"]: h["action"] for h in res.json["hooks"]}["pre-commit"] == "rechained"
    assert commit(repo, "three").returncode == 0
    assert commits_gated(cli) == 2 and lines(log)[-1] == "husky pre-commit 0" and len(lines(log)) == 3

    res = cli("hooks", "uninstall")
    assert res.code == 0
    assert (repo / ".husky" / "_" / "pre-commit").read_text().startswith("#!/usr/bin/env sh\n. \"$(dirname \"$0\")/h\"")


def test_lefthook_resync_is_rechained(repo: Path, cli: Cli) -> None:
    lefthook = _need("lefthook")
    log = repo.parent / "lefthook.log"
    config = repo / "lefthook.yml"
    write(config, f"pre-commit:\n  commands:\n    note:\n      run: echo lefthook-one >> '{log}'\n")
    assert subprocess.run([lefthook, "install"], cwd=repo, capture_output=True).returncode == 0
    cli.ok("init", "--install-hooks")
    assert commit(repo, "one").returncode == 0
    assert lines(log) == ["lefthook-one"] and commits_gated(cli) == 1

    # lefthook re-syncs its hooks when its config changes: ours is moved aside to pre-commit.old.
    write(config, f"pre-commit:\n  commands:\n    note:\n      run: echo lefthook-two >> '{log}'\n")
    assert subprocess.run([lefthook, "install", "-f"], cwd=repo, capture_output=True).returncode == 0
    assert commit(repo, "two").returncode == 0
    assert commits_gated(cli) == 1  # lefthook alone

    res = cli("hooks", "install", "--json")
    assert res.code == 0, res.err + res.out
    assert {h["name"]: h["action"] for h in res.json["hooks"]}["pre-commit"] in ("rechained", "chained")
    assert commit(repo, "three").returncode == 0
    assert commits_gated(cli) == 2 and lines(log)[-1] == "lefthook-two"


def test_prek_runs_the_gate_from_a_local_hook_recipe(repo: Path, cli: Cli) -> None:
    prek = _need("prek")
    cli.ok("init", "--mode", "guarded")
    write(
        repo / ".pre-commit-config.yaml",
        "repos:\n"
        "  - repo: local\n"
        "    hooks:\n"
        "      - id: switchman-gate\n"
        "        name: switchman gate\n"
        "        entry: switchman-hookrun gate\n"
        "        language: system\n"
        "        always_run: true\n"
        "        pass_filenames: false\n"
        "        require_serial: true\n",
    )
    git(repo, "add", ".pre-commit-config.yaml")
    env = {**os.environ, "PREK_HOME": str(repo.parent / "prek-home")}
    assert subprocess.run([prek, "install"], cwd=repo, capture_output=True, env=env).returncode == 0
    proc = subprocess.run(["git", "commit", "-q", "-m", "framework"], cwd=repo, capture_output=True, text=True, env=env)
    # main holds no lease in guarded mode: the gate refuses, through prek.
    assert proc.returncode != 0 and "no_active_lease" in proc.stdout + proc.stderr
    rows = cli.json("audit", "list", "--event-type", "commit_gate")["events"]
    assert rows and rows[0]["status"] == "denied" and json.loads(rows[0]["details"])["framework"] is True
