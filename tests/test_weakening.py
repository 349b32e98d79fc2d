"""Weakening is visible (issue 12): lowering another worktree's enforcement names the caller.

Each operation runs through the real console script from inside a linked worktree (the caller is
the worktree containing the cwd); the signed rows carry `by_worktree` and `weakens`, `status`
lists them under "Recent weakening" and doctor's `weakening` check warns within the stale window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testing.cli import run_cli
from testing.gates import Env, commit

pytestmark = pytest.mark.slow


def ok(cwd: Path, *args: str) -> Any:
    res = run_cli(*args, cwd=cwd)
    assert res.code == 0, res.err
    return res


def last_details(env: Env, event_type: str) -> dict[str, Any]:
    return env.last(event_type)["details"] or {}


def weakening(env: Env) -> dict[str, Any]:
    rep = run_cli("doctor", "--json", cwd=env.root)
    return {c["id"]: c for c in rep.json["checks"]}["weakening"]


def test_lowering_another_worktrees_mode_is_weakening(env: Env) -> None:
    env.mode("agent-b", "guarded")
    assert weakening(env)["status"] == "ok"
    ok(env.a, "worktree", "mode", "agent-b", "observed")
    d = last_details(env, "policy_updated")
    assert d["by_worktree"] == "agent-a" and d["weakens"] is True
    check = weakening(env)
    assert check["status"] == "warn" and "agent-b" in check["detail"] and "by agent-a" in check["detail"]
    out = ok(env.root, "status").out
    assert "Recent weakening" in out and "mode guarded → observed [agent-b] by agent-a" in out
    listed = run_cli("status", "--json", cwd=env.root).json["recent_weakening"]
    assert [(w["event_type"], w["worktree"], w["by_worktree"]) for w in listed] == [("policy_updated", "agent-b", "agent-a")]


def test_lowering_ones_own_mode_or_raising_another_is_not_weakening(env: Env) -> None:
    env.mode("agent-b", "guarded")
    ok(env.b, "worktree", "mode", "agent-b", "observed")  # its own
    d = last_details(env, "policy_updated")
    assert d["by_worktree"] == "agent-b" and "weakens" not in d
    ok(env.a, "worktree", "mode", "agent-b", "strict")  # stronger
    assert "weakens" not in last_details(env, "policy_updated")
    assert weakening(env)["status"] == "ok"
    assert "Recent weakening" not in ok(env.root, "status").out


def test_ending_another_worktrees_lease_is_weakening(env: Env) -> None:
    tb, lease_b = env.lease("agent-b", "docs/guide.md")
    ok(env.a, "task", "done", tb)
    d = last_details(env, "task_completed")
    assert d == {"by_worktree": "agent-a", "weakens": True}
    ta, lease_a = env.lease("agent-a", "src/auth/login.py")
    ok(env.a, "lease", "fail", lease_a, "gave up")  # its own lease
    assert last_details(env, "task_failed") == {"reason": "gave up", "by_worktree": "agent-a"}
    tb2, lease_b2 = env.lease("agent-b", "docs/guide.md", title="again")
    ok(env.a, "lease", "fail", lease_b2)
    assert last_details(env, "task_failed")["weakens"] is True
    assert "lease failed [agent-b] by agent-a" in weakening(env)["detail"]


def test_reaping_another_worktrees_lease_is_weakening(env: Env) -> None:
    from testing.gates import age_lease

    _, lease_b = env.lease("agent-b", "docs/guide.md")
    age_lease(env, lease_b)
    ok(env.a, "lease", "reap")
    d = last_details(env, "lease_expired")
    assert d["by_worktree"] == "agent-a" and d["weakens"] is True


def test_policy_allow_weaker_default_and_hooks_uninstall_are_weakening(env: Env) -> None:
    ok(env.a, "policy", "mode", "guarded")
    assert "weakens" not in last_details(env, "policy_updated")  # stronger default
    ok(env.a, "policy", "mode", "observed")
    assert last_details(env, "policy_updated")["weakens"] is True
    ok(env.a, "policy", "allow", "dist/**")
    d = last_details(env, "policy_updated")
    assert d["by_worktree"] == "agent-a" and d["weakens"] is True
    ok(env.a, "policy", "allow", "dist/**")  # nothing new allowed
    assert "weakens" not in last_details(env, "policy_updated")
    ok(env.b, "hooks", "uninstall")
    d = last_details(env, "hooks_uninstalled")
    assert d["by_worktree"] == "agent-b" and d["weakens"] is True
    detail = weakening(env)["detail"]
    assert "hooks uninstalled" in detail and "generated-path exceptions added: dist/**" in detail
    assert "default mode guarded → observed" in detail


def test_weakening_warns_only_within_the_stale_window(env: Env) -> None:
    env.mode("agent-b", "guarded")
    ok(env.a, "worktree", "mode", "agent-b", "observed")
    assert weakening(env)["status"] == "warn"
    policy = env.root / ".switchman" / "enforcement.json"
    doc = json.loads(policy.read_text())
    doc["stale_lease_minutes"] = 0
    policy.write_text(json.dumps(doc))
    assert weakening(env)["status"] == "ok"


def test_an_unregistered_caller_is_recorded_as_none(env: Env, tmp_path: Path) -> None:
    from testing.git import git

    other = env.root.parent / "agent-c"
    git(env.root, "worktree", "add", "-q", "-b", "agent-c", str(other))
    env.sql("DELETE FROM worktrees WHERE name = 'agent-c'")  # the hooks registered it; forget it
    env.mode("agent-b", "guarded")
    ok(other, "worktree", "mode", "agent-b", "observed")
    d = last_details(env, "policy_updated")
    assert d["by_worktree"] is None and d["weakens"] is True
    assert "by (outside any worktree)" in weakening(env)["detail"]
    # The gates still judge agent-b in its (now observed) mode: weakening is recorded, not refused.
    env.change(env.b, "README.md", "x\n")
    assert commit(env.b).code == 0
