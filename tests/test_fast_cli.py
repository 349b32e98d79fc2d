"""The console script's click-free path (`switchman.cli.fast`) against the click application.

For each invocation the installed `switchman-hook` (which tries `cli.fast` first) and the click
application alone (`switchman.cli.main`) run on the same input in the same directory; stdout,
stderr and the exit code must be the same bytes. `-X importtime` then says which path answered:
the agents' per-edit calls without click, everything `fast` leaves to click (help, usage, errors,
odd output) with it - so neither a wrong answer nor a silently slow one passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from switchman.cli.fast import Call, parse
from testing.cli import CONSOLE
from testing.gates import Env

pytestmark = pytest.mark.slow

CLICK_ONLY = [sys.executable, "-c", "import sys; from switchman.cli import main; sys.exit(main())"]
Args = tuple[str | bytes, ...]


def run(argv: list[str | bytes], cwd: Path, stdin: bytes | None, env: dict[str, str] | None) -> tuple[int, bytes, bytes]:
    proc = subprocess.run(argv, cwd=cwd, input=stdin if stdin is not None else b"", capture_output=True, env={**os.environ, **(env or {})})
    return proc.returncode, proc.stdout, proc.stderr


def loads_click(args: Args, cwd: Path, stdin: bytes | None, env: dict[str, str] | None) -> bool:
    """Did the console script import click for this invocation (i.e. did click answer)?"""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", CONSOLE, *args], cwd=cwd, input=stdin or b"", capture_output=True, env={**os.environ, **(env or {})}
    )
    names = {line.rsplit(b"|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith(b"import time:") and b"|" in line}
    assert names, proc.stderr[-2000:]
    return b"click" in names


def same(
    *args: str | bytes, cwd: Path, fast: bool | None, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> tuple[int, bytes, bytes]:
    """Both paths answer alike; `fast`: the click-free path is the one that answered (None:
    either may, it depends on the locale's stdout)."""
    got = run([CONSOLE, *args], cwd, stdin, env)
    want = run([*CLICK_ONLY, *args], cwd, stdin, env)
    assert got == want, f"switchman-hook {args!r}: fast path {got!r} != click {want!r}"
    if fast is not None:
        assert loads_click(args, cwd, stdin, env) is not fast, f"switchman-hook {args!r}: {'click' if fast else 'cli.fast'} answered"
    return got


def scene(env: Env) -> None:
    """agent-a: scope src/auth/** + README.md; agent-b: scope src/billing/** + docs/guide.md."""
    env.mode("agent-a", "guarded")
    env.mode("agent-b", "guarded")
    env.lease("agent-a", "README.md", spec={"allowed_paths": ["src/auth/**"], "subsystem_tags": ["auth"]})
    env.lease("agent-b", "docs/guide.md", spec={"allowed_paths": ["src/billing/**"]})


# --- what the fast path takes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["check", "a"], Call("check", None, ("a",))),
        (["check", "--json", "a", "b"], Call("check", None, ("a", "b"), as_json=True)),
        (["check", "a", "--worktree", "w", "--json", "--json"], Call("check", None, ("a",), "w", True)),
        (["check", "--worktree=w", "a"], Call("check", None, ("a",), "w")),
        (["check", "a", "--", "--json", "-x"], Call("check", None, ("a", "--json", "-x"))),
        (["check", "-", ""], Call("check", None, ("-", ""))),
        (["-C", "d", "check", "a"], Call("check", "d", ("a",))),
        (["whoami"], Call("whoami", None)),
        (["whoami", "--json"], Call("whoami", None, as_json=True)),
        (["agent-hook", "claude-code"], Call("agent-hook", None)),
        (["-C", "d", "agent-hook", "claude-code"], Call("agent-hook", "d")),
    ],
)
def test_parse_takes(argv: list[str], want: Call) -> None:
    assert parse(argv, {}) == want


@pytest.mark.parametrize(
    "argv",
    [
        [], ["status"], ["--help"], ["-h"], ["--version"], ["-q", "check", "a"], ["-v", "whoami"], ["-C"], ["-C", "-q", "whoami"],
        ["-Cd", "whoami"], ["check"], ["check", "--json"], ["check", "a", "--help"], ["check", "-h", "a"], ["check", "a", "--jso"],
        ["check", "a", "--json=1"], ["check", "a", "-x"], ["check", "a", "--worktree"], ["check", "a", "--worktree", "-x"],
        ["check", "a", "--worktree="], ["check", "a", "--worktree", "w", "--worktree", "v"], ["check", "a\0b"],
        ["whoami", "x"], ["whoami", "--help"], ["whoami", "--json", "-h"], ["agent-hook"], ["agent-hook", "install", "claude-code"],
        ["agent-hook", "claude-code", "--help"], ["agent-hook", "claude-code", "x"], ["agent-hook", "--help"], ["check", "--", "--"][:2],
    ],
)
def test_parse_leaves_to_click(argv: list[str]) -> None:
    assert parse(argv, {}) is None


def test_parse_leaves_shell_completion_to_click() -> None:
    assert parse(["check", "a"], {"_SWITCHMAN_HOOK_COMPLETE": "bash_complete"}) is None


# --- the same bytes, both ways --------------------------------------------------------------------


def test_check_both_ways(env: Env, tmp_path: Path) -> None:
    scene(env)
    a = env.a
    many = ("README.md", "src/auth/login.py", "docs/guide.md", "src/billing/invoice.py", "notes.txt")
    assert same("check", "README.md", "--json", cwd=a, fast=True)[0] == 0
    assert same("check", *many, "--json", cwd=a, fast=True)[0] == 1
    assert b"fix: switchman-hook claim" in same("check", *many, cwd=a, fast=True)[1]
    same("check", "login.py", "../../README.md", cwd=a / "src" / "auth", fast=True)
    same("check", "docs/guide.md", "--worktree", "agent-b", "--json", cwd=a, fast=True)
    same("check", "--worktree=agent-b", "docs/guide.md", cwd=a, fast=True)
    same("check", "--json", "--", "-dash.txt", "README.md", cwd=a, fast=True)
    same("-C", str(a), "check", "README.md", "src/billing/x.py", cwd=env.root, fast=True)
    same("check", "../../etc/passwd", str(tmp_path / "elsewhere.txt"), "", "-", "--json", cwd=a, fast=True)
    same("check", "src/new\nline.py", cwd=a, fast=True)
    same("check", "src/auth/\x1b[31mred.py", "--json", cwd=a, fast=True)  # JSON escapes it
    same("check", "src/auth/\x1b[31mred.py", cwd=a, fast=False)  # click strips escapes off a pipe
    same("check", os.fsencode("src/auth/caf") + b"\xe9.py", "--json", cwd=a, fast=True)
    # Printed as is where stdout escapes surrogates (C locale), else click's encoding error.
    same("check", os.fsencode("src/auth/caf") + b"\xe9.py", cwd=a, fast=None)
    strict = {"PYTHONIOENCODING": "utf-8:strict"}  # stdout cannot print it: click reports that
    assert same("check", os.fsencode("src/auth/caf") + b"\xe9.py", cwd=a, env=strict, fast=False)[0] == 3
    same("check", "README.md", "src/billing/x.py", cwd=a, env={"PYTHONIOENCODING": "ascii"}, fast=False)  # click re-wraps it


def test_whoami_both_ways(env: Env) -> None:
    scene(env)
    same("whoami", "--json", cwd=env.a / "src", fast=True)
    same("whoami", cwd=env.a, fast=True)
    env.sql("UPDATE leases SET heartbeat_at = '2000-01-01T00:00:00.000Z' WHERE worktree = 'agent-a'")
    assert b"(STALE)" in same("whoami", cwd=env.a, fast=True)[1]
    env.cli.ok("lease", "done", cwd=env.b)
    same("whoami", cwd=env.b, fast=True)
    same("whoami", "--json", cwd=env.b, fast=True)


def test_agent_hook_both_ways(env: Env, tmp_path: Path) -> None:
    scene(env)
    a = env.a

    def payload(path: Path, tool: str = "Write", cwd: Path = a) -> bytes:
        return json.dumps({"cwd": str(cwd), "tool_name": tool, "tool_input": {"file_path": str(path), "content": ""}}).encode()

    hook = ("agent-hook", "claude-code")
    assert b'"deny"' in same(*hook, cwd=a, stdin=payload(a / "docs/guide.md"), fast=True)[1]
    assert same(*hook, cwd=a, stdin=payload(a / "README.md"), fast=True) == (0, b"", b"")
    same(*hook, cwd=a, stdin=payload(a / "notes/todo.md"), fast=True)
    same(*hook, cwd=a, stdin=payload(a / "docs/guide.md", "Read"), fast=True)
    same(*hook, cwd=a, stdin=payload(env.b / "docs/guide.md"), fast=True)  # into a neighbour's checkout
    same(*hook, cwd=tmp_path, stdin=payload(tmp_path / "x.txt", cwd=tmp_path), fast=True)
    for bad in (b"not json", b"[]", b'{"tool_name": "Write", "tool_input": {}}', b"\xff\xfe{", b""):
        assert same(*hook, cwd=a, stdin=bad, fast=True)[0] == 1
    # An error inside the judgement (a malformed policy): click answers, from the same stdin.
    (env.root / ".switchman" / "enforcement.json").write_text("{not json")
    code, out, err = same(*hook, cwd=a, stdin=payload(a / "docs/guide.md"), fast=False)
    assert code == 2 and out == b"" and b"enforcement.json" in err


def test_errors_help_and_usage_are_clicks(env: Env, tmp_path: Path) -> None:
    scene(env)
    a = env.a
    for args in (
        ("check",), ("check", "--json"), ("check", "x", "--bogus"), ("check", "x", "--json=1"), ("check", "x", "--worktree"),
        ("check", "x", "--worktree", "a", "--worktree", "b"), ("check", "--help"), ("check", "x", "-h"), ("whoami", "--help"),
        ("whoami", "extra"), ("agent-hook", "--help"), ("agent-hook", "claude-code", "--help"), ("agent-hook", "claude-code", "x"),
        ("--help",), ("-h",), (), ("-q", "check", "README.md"), ("-v", "whoami", "--json"), ("--version",),
    ):
        same(*args, cwd=a, fast=False)
    assert same("check", "x", "--worktree", "nope", "--json", cwd=a, fast=False)[0] == 1
    same("-C", str(tmp_path / "nowhere"), "check", "x", cwd=a, fast=False)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert same("check", "x", "--json", cwd=plain, fast=False)[0] == 3  # not a git repository
    assert same("whoami", cwd=plain, fast=False)[0] == 3
    completion = {"_SWITCHMAN_HOOK_COMPLETE": "bash_complete", "COMP_WORDS": "switchman-hook check --w", "COMP_CWORD": "2"}
    same("check", "--w", cwd=a, env=completion, fast=False)
    (env.root / ".switchman" / "enforcement.json").write_text('{"stale_lease_minutes": -1}')
    assert same("check", "README.md", "--json", cwd=a, fast=False)[0] == 2
    assert same("whoami", cwd=a, fast=False)[0] == 2


def test_unregistered_worktree_is_clicks_error(env: Env, tmp_path: Path) -> None:
    from testing.git import git

    git(env.root, "worktree", "add", "-q", "--no-checkout", "-b", "stray", str(tmp_path / "stray"))
    assert same("whoami", cwd=tmp_path / "stray", fast=False)[0] == 1
    assert same("check", "x", "--json", cwd=tmp_path / "stray", fast=False)[0] == 1
