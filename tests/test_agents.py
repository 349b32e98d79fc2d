"""SPEC §13, the agents' own surface: `whoami`, `check`, lease ids from the cwd, heartbeat from
activity. Real repos, real linked worktrees, the installed console script (run_cli)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing.cli import assert_error, run_cli
from testing.gates import Env, age_lease, commit
from testing.git import write

pytestmark = pytest.mark.slow

CHECK_KEYS = {"ok", "worktree", "mode", "lease_id", "paths"}
PATH_KEYS = {"path", "allowed", "reason_code", "holder"}
WHOAMI_KEYS = {"worktree", "mode", "compliance_state", "lease", "task", "scope", "claims"}


def db_state(env: Env) -> tuple[int, bytes]:
    rows = env.scalar("SELECT COUNT(*) FROM audit_log")
    return rows, (env.root / ".switchman" / "switchman.db").read_bytes()


def scene(env: Env) -> tuple[str, str, str, str]:
    """agent-a holds auth (scope) + README.md (claim); agent-b holds docs/guide.md; both guarded."""
    env.mode("agent-a", "guarded")
    env.mode("agent-b", "guarded")
    ta, la = env.lease("agent-a", "README.md", spec={"allowed_paths": ["src/auth/**"], "subsystem_tags": ["auth"]})
    tb, lb = env.lease("agent-b", "docs/guide.md", spec={"allowed_paths": ["src/billing/**"]})
    return ta, la, tb, lb


def test_whoami_json(env: Env) -> None:
    ta, la, _, _ = scene(env)
    data = json.loads(run_cli("whoami", "--json", cwd=env.a / "src").out)
    assert set(data) == WHOAMI_KEYS
    assert data["worktree"] == "agent-a" and data["mode"] == "guarded"
    assert data["compliance_state"] == "managed"
    assert data["lease"]["id"] == la and data["task"]["id"] == ta
    assert data["scope"] == {"allowed_paths": ["src/auth/**"], "subsystem_tags": ["auth"]}
    assert data["claims"] == ["README.md"]


def test_whoami_without_lease(env: Env) -> None:
    data = json.loads(run_cli("whoami", "--json", cwd=env.b).out)
    assert data["lease"] is None and data["task"] is None and data["claims"] == []
    assert data["scope"] == {"allowed_paths": [], "subsystem_tags": []}
    assert "lease next agent-b" in run_cli("whoami", cwd=env.b).out


def test_whoami_unregistered_worktree(env: Env, tmp_path: Path) -> None:
    from testing.git import git

    git(env.root, "worktree", "add", "-q", "--no-checkout", "-b", "stray", str(tmp_path / "stray"))
    before = db_state(env)
    res = run_cli("whoami", cwd=tmp_path / "stray")
    assert_error(res, 1, "not a registered worktree", "worktree sync")
    assert db_state(env) == before


def test_check_answers_like_the_gate(env: Env) -> None:
    ta, la, tb, lb = scene(env)
    before = db_state(env)
    res = run_cli(
        "check", "README.md", "src/auth/login.py", "docs/guide.md", "src/billing/invoice.py", "notes.txt", "--json",
        cwd=env.a,
    )
    assert res.code == 1, res.err
    data = res.json
    assert set(data) == CHECK_KEYS
    assert (data["ok"], data["worktree"], data["mode"], data["lease_id"]) == (False, "agent-a", "guarded", la)
    by = {p["path"]: p for p in data["paths"]}
    assert all(set(p) == PATH_KEYS for p in data["paths"])
    assert by["README.md"]["allowed"] and by["README.md"]["reason_code"] == "path_claimed"
    assert by["src/auth/login.py"]["reason_code"] == "path_within_task_scope"
    assert by["docs/guide.md"]["reason_code"] == "path_claimed_by_other_lease"
    assert by["docs/guide.md"]["holder"] == {"lease_id": lb, "task_id": tb, "worktree": "agent-b"}
    assert by["src/billing/invoice.py"]["reason_code"] == "path_scoped_by_other_lease"
    assert by["notes.txt"]["reason_code"] == "path_not_claimed"
    human = run_cli("check", "notes.txt", "docs/guide.md", cwd=env.a)
    assert human.code == 1 and f"fix: switchman-hook claim {ta} agent-a notes.txt" in human.out
    assert "held by task " + tb + " in agent-b" in human.out and "coordinate with task" in human.out
    # no state change, no audit row: the database file is byte-for-byte the same
    assert db_state(env) == before
    # and the commit gate agrees: the refused path is refused at commit too
    env.change(env.a, "docs/guide.md")
    assert commit(env.a).code != 0


def test_check_all_allowed_exits_0_and_is_relative_to_cwd(env: Env) -> None:
    scene(env)
    res = run_cli("check", "login.py", "../../README.md", cwd=env.a / "src" / "auth")
    assert res.code == 0, res.err + res.out
    assert "src/auth/login.py: allowed [path_within_task_scope]" in res.out
    data = json.loads(run_cli("check", "login.py", "--json", cwd=env.a / "src" / "auth").out)
    assert data["ok"] and data["paths"][0]["path"] == "src/auth/login.py"


def test_check_path_outside_repo(env: Env, tmp_path: Path) -> None:
    scene(env)
    res = run_cli("check", "../../etc/passwd", str(tmp_path / "elsewhere.txt"), "--json", cwd=env.a)
    assert res.code == 1
    assert [p["reason_code"] for p in res.json["paths"]] == ["path_outside_repo", "path_outside_repo"]
    assert not res.json["paths"][0]["allowed"]


def test_check_other_worktree(env: Env) -> None:
    _, _, _, lb = scene(env)
    data = json.loads(run_cli("check", "docs/guide.md", "--worktree", "agent-b", "--json", cwd=env.a).out)
    assert data["ok"] and data["worktree"] == "agent-b" and data["lease_id"] == lb
    assert data["paths"][0]["reason_code"] == "path_claimed"


def test_check_no_lease_and_stale(env: Env) -> None:
    env.mode("agent-b", "guarded")
    res = run_cli("check", "README.md", "--json", cwd=env.b)
    assert res.code == 1 and res.json["paths"][0]["reason_code"] == "no_active_lease"
    _, la, _, _ = scene(env)
    age_lease(env, la)
    res = run_cli("check", "README.md", "--json", cwd=env.a)
    assert res.code == 1 and res.json["paths"][0]["reason_code"] == "lease_expired"


def test_check_policy_exception(env: Env) -> None:
    scene(env)
    env.cli.ok("policy", "allow", "dist/**")
    data = json.loads(run_cli("check", "dist/app.js", "--json", cwd=env.a).out)
    assert data["ok"] and data["paths"][0]["reason_code"] == "policy_exception_allowed"


def test_check_usage(env: Env) -> None:
    assert_error(run_cli("check", cwd=env.a), 2)
    assert_error(run_cli("check", "x", "--worktree", "nope", cwd=env.a), 1, "nope")


# --- lease ids from the cwd ---------------------------------------------------------------------


def test_heartbeat_done_fail_without_id(env: Env) -> None:
    ta, la, tb, lb = scene(env)
    age_lease(env, la)
    hb = json.loads(run_cli("lease", "heartbeat", "--json", cwd=env.a / "src").out)
    assert hb["lease"]["id"] == la and not hb["lease"]["stale"]
    done = json.loads(run_cli("lease", "done", "--json", cwd=env.a).out)
    assert done["lease"]["id"] == la and done["task"]["status"] == "done"
    failed = json.loads(run_cli("lease", "fail", "--reason", "gave up", "--json", cwd=env.b).out)
    assert failed["lease"]["id"] == lb and failed["lease"]["status"] == "failed"
    assert failed["lease"]["failure_reason"] == "gave up"


def test_heartbeat_without_id_and_no_lease_names_the_worktree(env: Env) -> None:
    before = db_state(env)
    for sub in ("heartbeat", "done", "fail"):
        assert_error(run_cli("lease", sub, cwd=env.b), 1, "worktree agent-b holds no active lease")
    assert db_state(env) == before


def test_gate_run_refreshes_heartbeat(env: Env) -> None:
    _, la, _, _ = scene(env)
    age_lease(env, la, minutes=10)  # old but not stale (15 min window)
    old = env.scalar("SELECT heartbeat_at FROM leases WHERE id = ?", (la,))
    env.change(env.a, "src/auth/login.py")
    assert commit(env.a).code == 0
    new = env.scalar("SELECT heartbeat_at FROM leases WHERE id = ?", (la,))
    assert new > old
    status = run_cli("status", cwd=env.root).out
    assert "LAST ACTIVITY" in status and new in status


def test_gate_run_does_not_revive_a_stale_lease(env: Env) -> None:
    _, la, _, _ = scene(env)
    age_lease(env, la)
    env.change(env.a, "src/auth/login.py")
    assert commit(env.a).code != 0
    res = run_cli("check", "src/auth/login.py", "--json", cwd=env.a)
    assert res.json["paths"][0]["reason_code"] == "lease_expired"


def test_gate_in_other_worktree_does_not_refresh(env: Env) -> None:
    _, la, _, _ = scene(env)
    age_lease(env, la, minutes=10)
    old = env.scalar("SELECT heartbeat_at FROM leases WHERE id = ?", (la,))
    write(env.b / "docs" / "guide.md", "x\n")
    env.change(env.b, "docs/guide.md", "x\n")
    assert commit(env.b).code == 0
    assert env.scalar("SELECT heartbeat_at FROM leases WHERE id = ?", (la,)) == old


# --- completion ---------------------------------------------------------------------------------


def test_completion_scripts_and_ids(env: Env) -> None:
    ta, la, _, _ = scene(env)
    for shell in ("bash", "zsh", "fish"):
        res = run_cli("completion", shell)
        assert res.code == 0 and "_SWITCHMAN_HOOK_COMPLETE" in res.out
    comp = {"COMP_WORDS": "switchman-hook lease heartbeat ", "COMP_CWORD": "3", "_SWITCHMAN_HOOK_COMPLETE": "bash_complete"}
    res = run_cli(env=comp, cwd=env.a)
    assert la in res.out
    comp = {"COMP_WORDS": "switchman-hook task done ", "COMP_CWORD": "3", "_SWITCHMAN_HOOK_COMPLETE": "bash_complete"}
    assert ta in run_cli(env=comp, cwd=env.a).out
    comp = {"COMP_WORDS": "switchman-hook worktree mode agent-", "COMP_CWORD": "3", "_SWITCHMAN_HOOK_COMPLETE": "bash_complete"}
    out = run_cli(env=comp, cwd=env.a).out
    assert "agent-a" in out and "agent-b" in out and "main" not in out.split()
