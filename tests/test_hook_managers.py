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

from testing.cli import Cli
from testing.env import BIN
from testing.git import git, write

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


def recipe(name: str) -> str:
    """The code block after `<!-- recipe: NAME -->` in the README: what users copy."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    marker = f"<!-- recipe: {name} -->"
    assert marker in readme, f"README has no {name} recipe"
    block = readme.split(marker, 1)[1].split("```", 2)[1]
    return block.split("\n", 1)[1]


def remote(repo: Path) -> Path:
    bare = repo.parent / "remote.git"
    git(repo.parent, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    return bare


def assert_gated_recorded_pushed(repo: Path, cli: Cli, env: dict[str, str] | None = None) -> None:
    """A commit is judged and recorded, a push is judged: the three hooks that matter ran."""
    task = cli.ok("task", "add", "work").out.strip()
    cli.ok("claim", task, "main", "work.txt")
    write(repo / "work.txt", "recipe\n")
    git(repo, "add", "work.txt")
    proc = subprocess.run(["git", "commit", "-q", "-m", "via recipe"], cwd=repo, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    head = git(repo, "rev-parse", "HEAD").strip()
    gate = cli.json("audit", "list", "--event-type", "commit_gate", "--limit", "1")["events"]
    rec = cli.json("audit", "list", "--event-type", "commit_recorded", "--limit", "1")["events"]
    assert gate and gate[0]["worktree"] == "main"
    assert rec and json.loads(rec[0]["details"])["commit"] == head and rec[0]["status"] == "allowed"
    remote(repo)
    proc = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=repo, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    push = cli.json("audit", "list", "--event-type", "push_gate", "--limit", "1")["events"]
    assert push and push[0]["status"] == "allowed"


def test_husky_recipe(repo: Path, cli: Cli, husky_modules: Path) -> None:
    node = _need("node")
    os.symlink(husky_modules, repo / "node_modules")
    assert subprocess.run([node, str(husky_modules / "husky" / "bin.js")], cwd=repo, capture_output=True).returncode == 0
    subprocess.run(["sh", "-c", recipe("husky")], cwd=repo, check=True)
    cli.ok("init", "--mode", "guarded")
    assert_gated_recorded_pushed(repo, cli)


def test_lefthook_recipe(repo: Path, cli: Cli) -> None:
    lefthook = _need("lefthook")
    write(repo / "lefthook.yml", recipe("lefthook.yml"))
    assert subprocess.run([lefthook, "install"], cwd=repo, capture_output=True).returncode == 0
    cli.ok("init", "--mode", "guarded")
    assert_gated_recorded_pushed(repo, cli)


def test_prek_recipe(repo: Path, cli: Cli) -> None:
    prek = _need("prek")
    write(repo / ".pre-commit-config.yaml", recipe("prek"))
    git(repo, "add", ".pre-commit-config.yaml")
    git(repo, "commit", "-q", "-m", "prek config")
    env = {**os.environ, "PREK_HOME": str(repo.parent / "prek-home")}
    types = ["--hook-type", "pre-commit", "--hook-type", "post-commit", "--hook-type", "pre-push"]
    assert subprocess.run([prek, "install", *types], cwd=repo, capture_output=True, env=env).returncode == 0
    cli.ok("init", "--mode", "guarded")
    # Guarded, no lease: the gate refuses through prek.
    write(repo / "early.txt", "x\n")
    git(repo, "add", "early.txt")
    proc = subprocess.run(["git", "commit", "-q", "-m", "early"], cwd=repo, capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and "no_active_lease" in proc.stdout + proc.stderr
    git(repo, "reset", "-q")
    assert_gated_recorded_pushed(repo, cli, env)
