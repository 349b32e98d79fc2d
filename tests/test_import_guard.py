"""The hook hot path stays cheap to start (issue 6): CI fails if the hook entry module pulls in
click, GitPython (`git`), cryptography or pathspec when it is imported, or if a pre-commit run on
a repository without glob scopes imports click, GitPython or pathspec. The same for what an
agent runs before every edit (issue 16): the console script's package and `cli.fast` import none
of them, and `check`, `whoami` and `agent-hook claude-code` answered by it none either.

Measured on a 2-core machine: click ~30-40 ms, GitPython ~85 ms, pathspec ~11 ms,
cryptography ~5 ms of import time, against a hook budget of 60 ms (benchmarks/README.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testing.cli import Cli
from testing.git import git, write

FORBIDDEN_AT_IMPORT = ("click", "git", "cryptography", "pathspec", "psycopg")
FORBIDDEN_IN_PRE_COMMIT = ("click", "git", "pathspec", "psycopg")  # the signed checkpoint needs cryptography
FORBIDDEN_BEFORE_AN_EDIT = FORBIDDEN_AT_IMPORT  # check/whoami/agent-hook sign nothing
CONSOLE_SCRIPT = "from switchman.cli import entry; entry()"  # what the `switchman-hook` script runs


def imported_modules(code: str, *args: str, cwd: Path | None = None, input: str = "") -> set[str]:
    """Every module `python -X importtime -c CODE` imported (names as importtime prints them)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=input,
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


def test_console_script_package_and_fast_path_pull_in_no_heavy_dependency() -> None:
    names = imported_modules("import switchman.cli, switchman.cli.fast")
    assert "switchman.cli.fast" in names
    bad = offenders(names, FORBIDDEN_AT_IMPORT)
    assert not bad, f"`import switchman.cli` imports {bad}: click is for cli.app only (issue 16)"


def test_check_whoami_and_the_claude_hook_pull_in_no_heavy_dependency(initialised: Path, cli: Cli) -> None:
    cli.ok("worktree", "mode", "main", "guarded")
    task = cli.ok("task", "add", "guard").out.split()[-1]
    cli.ok("task", "spec", task, "--allowed-path", "src/auth/**")  # `dir/**`: no regex, no pathspec
    cli.ok("lease", "acquire", task, "main")
    cli.ok("claim", task, "main", "README.md")
    write_call = json.dumps({"cwd": str(initialised), "tool_name": "Write", "tool_input": {"file_path": str(initialised / "x.txt")}})
    for args, stdin, judged in (
        (("check", "src/auth/login.py", "README.md", "src/billing/invoice.py", "--json"), "", "switchman.ownership"),
        (("check", "src/auth/login.py"), "", "switchman.ownership"),
        (("whoami", "--json"), "", "switchman.ops.agents"),
        (("agent-hook", "claude-code"), write_call, "switchman.ownership"),
    ):
        names = imported_modules(CONSOLE_SCRIPT, *args, cwd=initialised, input=stdin)
        assert judged in names and "switchman.cli.fast" in names, args  # it really answered
        bad = offenders(names, FORBIDDEN_BEFORE_AN_EDIT)
        assert not bad, f"`switchman-hook {' '.join(args)}` imports {bad} (issue 16: keep cli.fast click-free)"
