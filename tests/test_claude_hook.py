"""SPEC §13 `agent-hook claude-code`: real PreToolUse payloads (as Claude Code sends them) through
the installed console script, in observed, guarded and strict; and the settings-file merge."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from testing.cli import assert_error, run_cli
from testing.gates import Env

pytestmark = pytest.mark.slow


def payload(tool: str, wt: Path, rel: str, **extra: object) -> str:
    key = "notebook_path" if tool == "NotebookEdit" else "file_path"
    tool_input: dict[str, object] = {key: str(wt / rel)}
    if tool == "Write":
        tool_input["content"] = "new\n"
    elif tool == "Edit":
        tool_input.update(old_string="a", new_string="b")
    elif tool == "MultiEdit":
        tool_input["edits"] = [{"old_string": "a", "new_string": "b"}]
    elif tool == "NotebookEdit":
        tool_input.update(new_source="print(1)", cell_id="c1")
    return json.dumps(
        {
            "session_id": "abc123",
            "transcript_path": "/tmp/transcript.jsonl",
            "cwd": str(wt),
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": tool,
            "tool_input": tool_input,
            **extra,
        }
    )


def hook(data: str, cwd: Path) -> tuple[int, str, str]:
    res = run_cli("agent-hook", "claude-code", input=data, cwd=cwd)
    return res.code, res.out, res.err


def setup(env: Env, mode: str) -> tuple[str, str]:
    env.mode("agent-a", mode)
    env.mode("agent-b", mode)
    env.lease("agent-a", "README.md", spec={"allowed_paths": ["src/auth/**"]})
    return env.lease("agent-b", "docs/guide.md")


WRITERS = ("Write", "Edit", "MultiEdit", "NotebookEdit")


@pytest.mark.parametrize("mode", ["guarded", "strict"])
def test_denies_a_held_path_in_guarded_and_strict(env: Env, mode: str) -> None:
    tb, lb = setup(env, mode)
    for tool in WRITERS:
        rel = "docs/nb.ipynb" if tool == "NotebookEdit" else "docs/guide.md"
        if tool == "NotebookEdit":
            env.cli.ok("claim", tb, "agent-b", "docs/nb.ipynb")
        code, out, err = hook(payload(tool, env.a, rel), env.a)
        assert code == 0 and err == "", err
        data = json.loads(out)
        spec = data["hookSpecificOutput"]
        assert spec["hookEventName"] == "PreToolUse" and spec["permissionDecision"] == "deny"
        reason = spec["permissionDecisionReason"]
        assert "path_claimed_by_other_lease" in reason and tb in reason and "agent-b" in reason and lb in reason
        assert "Fix: coordinate with task" in reason


@pytest.mark.parametrize("mode", ["guarded", "strict"])
def test_allows_owned_paths_silently(env: Env, mode: str) -> None:
    setup(env, mode)
    for tool in WRITERS:
        code, out, err = hook(payload(tool, env.a, "src/auth/login.py"), env.a)
        assert (code, out, err) == (0, "", "")
    code, out, _ = hook(payload("Write", env.a, "src/auth/new_file.py"), env.a)  # a file not yet there
    assert (code, out) == (0, "")


def test_unclaimed_path_denied_with_the_claim_command(env: Env) -> None:
    setup(env, "guarded")
    code, out, _ = hook(payload("Edit", env.a, "notes/todo.md"), env.a)
    reason = json.loads(out)["hookSpecificOutput"]["permissionDecisionReason"]
    assert "path_not_claimed" in reason and "switchman-hook claim" in reason and "notes/todo.md" in reason


def test_observed_allows_everything_silently(env: Env) -> None:
    setup(env, "observed")
    for tool in WRITERS:
        assert hook(payload(tool, env.a, "docs/guide.md"), env.a) == (0, "", "")


@pytest.mark.parametrize("mode", ["observed", "guarded", "strict"])
def test_read_is_never_judged(env: Env, mode: str) -> None:
    setup(env, mode)
    data = json.dumps({"cwd": str(env.a), "hook_event_name": "PreToolUse", "tool_name": "Read", "tool_input": {"file_path": str(env.a / "docs/guide.md")}})
    assert hook(data, env.a) == (0, "", "")


@pytest.mark.parametrize("mode", ["observed", "guarded", "strict"])
@pytest.mark.parametrize(
    "data",
    ["not json", "[]", '{"tool_input": {}}', '{"tool_name": "Write", "tool_input": {}}', '{"tool_name": "Edit", "tool_input": "x"}'],
)
def test_malformed_input(env: Env, mode: str, data: str) -> None:
    setup(env, mode)
    res = run_cli("agent-hook", "claude-code", input=data, cwd=env.a)
    assert_error(res, 1, "hook input")
    assert res.out == ""


def test_outside_a_managed_repo_is_allowed(env: Env, tmp_path: Path) -> None:
    setup(env, "strict")
    assert hook(payload("Write", tmp_path / "plain", "x.txt"), tmp_path) == (0, "", "")


def test_writing_into_another_agents_worktree_is_denied(env: Env) -> None:
    """Agent-b holds docs/guide.md, but agent-a's session may not write it in agent-b's checkout."""
    setup(env, "guarded")
    data = json.dumps({"cwd": str(env.a), "tool_name": "Write", "tool_input": {"file_path": str(env.b / "docs/guide.md"), "content": ""}})
    code, out, _ = hook(data, env.a)
    reason = json.loads(out)["hookSpecificOutput"]["permissionDecisionReason"]
    assert code == 0 and "path_outside_repo" in reason and "agent-a" in reason
    # from agent-b's own session the same write is agent-b's to make
    data = json.dumps({"cwd": str(env.b), "tool_name": "Write", "tool_input": {"file_path": str(env.b / "docs/guide.md"), "content": ""}})
    assert hook(data, env.b) == (0, "", "")


def test_relative_path_from_cwd(env: Env) -> None:
    setup(env, "guarded")
    data = json.dumps({"cwd": str(env.a / "docs"), "tool_name": "Write", "tool_input": {"file_path": "guide.md", "content": ""}})
    code, out, _ = hook(data, env.a)
    assert "path_claimed_by_other_lease" in json.loads(out)["hookSpecificOutput"]["permissionDecisionReason"]


# --- settings file ------------------------------------------------------------------------------


def entry_command() -> str:
    from testing.cli import CONSOLE

    return f"{os.path.abspath(CONSOLE)} agent-hook claude-code"


def test_install_merges_idempotent_and_uninstall_removes_only_ours(env: Env) -> None:
    settings = env.a / ".claude" / "settings.json"
    settings.parent.mkdir()
    other = {"matcher": "Bash", "hooks": [{"type": "command", "command": "echo other"}]}
    original = {"model": "opus", "hooks": {"PreToolUse": [other], "PostToolUse": [other]}, "permissions": {"allow": ["Read"]}}
    settings.write_text(json.dumps(original))
    res = run_cli("agent-hook", "install", "claude-code", "--json", cwd=env.a)
    assert res.code == 0 and res.json["changed"] and res.json["settings"] == str(settings)
    data = json.loads(settings.read_text())
    assert data["model"] == "opus" and data["permissions"] == {"allow": ["Read"]} and data["hooks"]["PostToolUse"] == [other]
    assert data["hooks"]["PreToolUse"] == [
        other,
        {"matcher": "Write|Edit|MultiEdit|NotebookEdit", "hooks": [{"type": "command", "command": entry_command()}]},
    ]
    text = settings.read_text()
    res = run_cli("agent-hook", "install", "claude-code", "--json", cwd=env.a)
    assert res.code == 0 and not res.json["changed"] and settings.read_text() == text
    assert run_cli("agent-hook", "uninstall", "claude-code", cwd=env.a).code == 0
    assert json.loads(settings.read_text()) == original


def test_install_scopes_and_empty_containers(env: Env) -> None:
    assert run_cli("agent-hook", "install", "claude-code", "--scope", "local", cwd=env.a).code == 0
    local = env.a / ".claude" / "settings.local.json"
    assert "agent-hook claude-code" in local.read_text()
    assert run_cli("agent-hook", "uninstall", "claude-code", "--scope", "local", cwd=env.a).code == 0
    assert json.loads(local.read_text()) == {}
    assert run_cli("agent-hook", "install", "claude-code", "--scope", "user", cwd=env.a).code == 0
    user = Path(os.path.expanduser("~")) / ".claude" / "settings.json"
    assert "agent-hook claude-code" in user.read_text()


def test_malformed_settings_exit_2_unchanged(env: Env) -> None:
    settings = env.a / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"hooks": ')
    for sub in ("install", "uninstall"):
        res = run_cli("agent-hook", sub, "claude-code", cwd=env.a)
        assert_error(res, 2, str(settings))
        assert settings.read_text() == '{"hooks": '


def test_installed_hook_command_runs(env: Env) -> None:
    """The command written into the settings file is one Claude Code can run as is."""
    import shlex
    import subprocess

    setup(env, "guarded")
    run_cli("agent-hook", "install", "claude-code", cwd=env.a)
    data = json.loads((env.a / ".claude" / "settings.json").read_text())
    command = data["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    proc = subprocess.run(shlex.split(command), input=payload("Write", env.a, "docs/guide.md"), capture_output=True, text=True, cwd=env.a)
    assert proc.returncode == 0 and json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
