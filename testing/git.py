"""Real git for tests: run it, write files, build a repo and its linked worktrees."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


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


def init_repo(root: Path) -> Path:
    """A git repo at *root* on `main` with one commit of a few files."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root / "README.md", "hello\n")
    write(root / "src" / "auth" / "login.py", "def login():\n    return True\n")
    write(root / "src" / "billing" / "invoice.py", "TOTAL = 1\n")
    write(root / "docs" / "guide.md", "# guide\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def add_worktree(root: Path, name: str, branch: str | None = None) -> Path:
    path = root.parent / name
    git(root, "worktree", "add", "-q", "-b", branch or name, str(path))
    return path.resolve()
