"""The hook hot path stays cheap to start (issue 6): CI fails if the hook entry module pulls in
click, GitPython (`git`), cryptography or pathspec when it is imported, or if a pre-commit run on
a repository without glob scopes imports click, GitPython or pathspec.

Measured on a 2-core machine: click ~30-40 ms, GitPython ~85 ms, pathspec ~11 ms,
cryptography ~5 ms of import time, against a hook budget of 60 ms (benchmarks/README.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from testing.cli import Cli
from testing.git import git, write

FORBIDDEN_AT_IMPORT = ("click", "git", "cryptography", "pathspec", "psycopg")
FORBIDDEN_IN_PRE_COMMIT = ("click", "git", "pathspec", "psycopg")  # the signed checkpoint needs cryptography


def imported_modules(code: str, *args: str, cwd: Path | None = None) -> set[str]:
    """Every module `python -X importtime -c CODE` imported (names as importtime prints them)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "package":
                names.add(name)
    assert names, f"no -X importtime output:\n{proc.stderr[-2000:]}"
    return names


def offenders(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n.split(".", 1)[0] in forbidden)


def test_hookrun_import_pulls_in_no_heavy_dependency() -> None:
    names = imported_modules("import switchman.hookrun")
    assert "switchman.hookrun" in names
    bad = offenders(names, FORBIDDEN_AT_IMPORT)
    assert not bad, f"`import switchman.hookrun` imports {bad}: keep them lazy (issue 6, benchmarks/README.md)"


def test_pre_commit_run_pulls_in_neither_click_gitpython_nor_pathspec(initialised: Path, cli: Cli) -> None:
    task = cli.ok("task", "add", "guard").out.split()[-1]
    cli.ok("lease", "acquire", task, "main")
    cli.ok("claim", task, "main", "src/auth/login.py")
    write(initialised / "src" / "auth" / "login.py", "def login():\n    return False\n")
    git(initialised, "add", "src/auth/login.py")
    code = "import sys; from switchman.hookrun import run; sys.exit(run('pre-commit', []))"
    names = imported_modules(code, cwd=initialised)
    assert "switchman.gates" in names  # the gate really ran
    bad = offenders(names, FORBIDDEN_IN_PRE_COMMIT)
    assert not bad, f"a pre-commit hook run imports {bad}"
