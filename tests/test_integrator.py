"""SPEC §13 integrator mode, through real merges in the main worktree with the installed hooks."""

from __future__ import annotations

import json

import pytest

from testing.cli import run_cli
from testing.gates import Env, commit, head, run_git
from testing.git import git, write

pytestmark = pytest.mark.slow


def setup(env: Env) -> tuple[str, str]:
    env.mode("main", "integrator")
    env.mode("agent-a", "guarded")
    tid, lid = env.lease("agent-a", "README.md", spec={"allowed_paths": ["src/auth/**"]})
    return tid, lid


@pytest.mark.both_backends
def test_merge_of_agent_branch_passes(env: Env) -> None:
    setup(env)
    env.change(env.a, "src/auth/login.py", "def login():\n    return False\n")
    env.change(env.a, "README.md", "agent readme\n")
    assert commit(env.a, "agent work").code == 0
    res = run_git(env.root, "merge", "--no-ff", "-m", "merge agent-a", "agent-a")
    assert res.code == 0, res.err
    assert (env.root / "README.md").read_text() == "agent readme\n"
    assert len(git(env.root, "rev-parse", "HEAD^@").split()) == 2


def test_conflict_resolved_in_held_file_and_concluded_with_commit(env: Env) -> None:
    setup(env)
    # main changes README.md while the agent holds nothing on main's side yet: do it before the claim
    env.cli.ok("release", env.cli.json("lease", "list")["leases"][0]["task_id"])
    env.change(env.root, "README.md", "main readme\n")
    assert commit(env.root, "main edit").code == 0
    tid = env.cli.json("lease", "list")["leases"][0]["task_id"]
    env.cli.ok("claim", tid, "agent-a", "README.md")
    env.change(env.a, "README.md", "agent readme\n")
    assert commit(env.a, "agent work").code == 0
    res = run_git(env.root, "merge", "--no-ff", "-m", "merge agent-a", "agent-a")
    assert res.code != 0 and "CONFLICT" in res.out + res.err
    env.change(env.root, "README.md", "resolved readme\n")
    before = head(env.root)
    res = commit(env.root, "conclude merge")
    assert res.code == 0, res.err
    assert head(env.root) != before
    assert len(git(env.root, "rev-parse", "HEAD^@").split()) == 2


@pytest.mark.both_backends
def test_person_edit_to_held_path_is_refused_naming_holder(env: Env) -> None:
    tid, lid = setup(env)
    env.change(env.root, "README.md", "person edit\n")
    before = head(env.root)
    res = commit(env.root, "person edit")
    assert res.code != 0 and head(env.root) == before
    assert "path_claimed_by_other_lease" in res.err and tid in res.err and "agent-a" in res.err
    env.change(env.root, "src/auth/login.py", "x = 1\n")
    res = commit(env.root, "person edit in scope")
    assert res.code != 0 and "path_scoped_by_other_lease" in res.err
    data = json.loads(run_cli("check", "README.md", "--json", cwd=env.root).out)
    assert data["mode"] == "integrator" and data["paths"][0]["holder"]["task_id"] == tid


def test_ordinary_edit_to_free_path_passes_without_lease(env: Env) -> None:
    setup(env)
    env.change(env.root, "docs/guide.md", "person guide\n")
    res = commit(env.root, "person edit")
    assert res.code == 0, res.err
    data = json.loads(run_cli("check", "docs/guide.md", "--json", cwd=env.root).out)
    assert data["ok"] and data["lease_id"] is None and data["paths"][0]["reason_code"] == "integrator_allowed"


def test_merge_of_another_branch_cannot_carry_a_held_path_resolution(env: Env) -> None:
    """A conflict resolution is allowed for the merged worktree's paths only, not any held path."""
    setup(env)
    git(env.root, "branch", "side")
    git(env.root, "checkout", "-q", "side")
    write(env.root / "docs" / "guide.md", "side\n")
    git(env.root, "commit", "-qam", "side", "--no-verify")
    git(env.root, "checkout", "-q", "main")
    write(env.root / "docs" / "guide.md", "main\n")
    assert commit(env.root, "main guide", "-a").code == 0
    res = run_git(env.root, "merge", "--no-ff", "-m", "merge side", "side")
    assert res.code != 0
    env.change(env.root, "docs/guide.md", "resolved\n")
    env.change(env.root, "README.md", "sneaked in\n")  # held by agent-a, whose branch is not merged
    res = commit(env.root, "conclude")
    assert res.code != 0 and "path_claimed_by_other_lease" in res.err


def test_init_install_hooks_makes_main_integrator(repo, cli) -> None:  # type: ignore[no-untyped-def]
    data = cli.json("init", "--mode", "guarded", "--install-hooks")
    assert data["integrator"] == "main"
    rows = {w["name"]: w for w in cli.json("worktree", "list")["worktrees"]}
    assert rows["main"]["enforcement_mode"] == "integrator"
    # rerun: unchanged, still integrator
    assert cli.json("init", "--install-hooks")["integrator"] is None


def test_init_install_hooks_leaves_a_leased_main(repo, cli) -> None:  # type: ignore[no-untyped-def]
    cli.ok("init", "--mode", "guarded")
    tid = cli.ok("task", "add", "t").out.strip().splitlines()[-1]
    cli.ok("lease", "acquire", tid, "main")
    assert cli.json("init", "--install-hooks")["integrator"] is None
    rows = {w["name"]: w for w in cli.json("worktree", "list")["worktrees"]}
    assert rows["main"]["enforcement_mode"] == "guarded"


def test_policy_default_mode_cannot_be_integrator(repo, cli) -> None:  # type: ignore[no-untyped-def]
    cli.ok("init")
    assert cli("policy", "mode", "integrator").code == 2


def test_monitor_judges_an_integrator_like_the_gate(env: Env) -> None:
    """A person's uncommitted edit on a free path in main is not a violation for monitor either."""
    setup(env)
    env.cli.json("monitor", "once")  # baseline
    write(env.root / "docs" / "guide.md", "person draft\n")
    write(env.root / "README.md", "person draft\n")  # held by agent-a
    data = env.cli.json("monitor", "once")
    main = next(w for w in data["worktrees"] if w["name"] == "main")
    codes = {o["file"]: o["reason_code"] for o in main["observed"]}
    assert codes == {"docs/guide.md": "integrator_allowed", "README.md": "path_claimed_by_other_lease"}
