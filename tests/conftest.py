"""Real-git fixtures: isolated config, temp repos with linked worktrees, and CLI runners."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
CONSOLE = str(BIN / "switchman-hook")


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No user/system git config, no templates, fixed identity; a private HOME and XDG config."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    for key in list(os.environ):
        if key.startswith(("GIT_", "PRE_COMMIT")) or key.startswith("SWITCHMAN_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_TEMPLATE_DIR", "")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Agent")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "agent@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Agent")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "agent@example.invalid")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    yield home


def git(cwd: Path | str, *args: str, check: bool = True, env: dict[str, str] | None = None, input: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, env={**os.environ, **(env or {})}, input=input
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode(errors="surrogateescape")


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.out)


def run_cli(*args: str, cwd: Path | str | None = None, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """The installed console script in a subprocess: what agents and other tools really run."""
    proc = subprocess.run(
        [CONSOLE, *args], cwd=cwd, capture_output=True, text=True, input=input, env={**os.environ, **(env or {})}
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


class Cli:
    """`switchman-hook -C <repo> ...` in-process (fast) with the same exit-code mapping as the script."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, cwd: Path | str | None = None, input: str | None = None) -> Result:
        from click.testing import CliRunner

        from switchman.cli import main

        runner = CliRunner()
        argv = ["-C", str(cwd or self.root), *args]
        code_box: list[int] = []

        def invoke() -> None:
            code_box.append(main(argv))

        with runner.isolation(input=input) as (out, err, *_):
            invoke()
            stdout = out.getvalue().decode(errors="surrogateescape")
            stderr = err.getvalue().decode(errors="surrogateescape") if err else ""
        return Result(code_box[0], stdout, stderr)

    def ok(self, *args: str, **kw: object) -> Result:
        res = self(*args, **kw)  # type: ignore[arg-type]
        assert res.code == 0, f"switchman-hook {' '.join(args)} exited {res.code}: {res.err}{res.out}"
        return res

    def json(self, *args: str, **kw: object):  # type: ignore[no-untyped-def]
        return self.ok(*args, "--json", **kw).json  # type: ignore[arg-type]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo on `main` with one commit of a few files."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root / "README.md", "hello\n")
    write(root / "src" / "auth" / "login.py", "def login():\n    return True\n")
    write(root / "src" / "billing" / "invoice.py", "TOTAL = 1\n")
    write(root / "docs" / "guide.md", "# guide\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


@pytest.fixture
def cli(repo: Path) -> Cli:
    return Cli(repo)


@pytest.fixture
def initialised(repo: Path, cli: Cli) -> Path:
    cli.ok("init")
    return repo


def add_worktree(root: Path, name: str, branch: str | None = None) -> Path:
    path = root.parent / name
    git(root, "worktree", "add", "-q", "-b", branch or name, str(path))
    return path.resolve()


@pytest.fixture
def agents(initialised: Path, cli: Cli) -> tuple[Path, Path]:
    """Two linked worktrees, registered: agent-a and agent-b."""
    a = add_worktree(initialised, "agent-a")
    b = add_worktree(initialised, "agent-b")
    cli.ok("worktree", "sync")
    return a, b


def clean_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
