"""Provenance and the gates on history: post-commit, --no-verify, cherry-pick/revert/rebase/amend,
the merge gate (pre-merge-commit), the push gate (pre-push to a local bare remote), `gate ci`,
worktree identity and failing closed on a broken store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from testing.cli import Cli, run_cli
from testing.gates import Env, commit, head, install_hooks, run_git
from testing.git import add_worktree, git, write

pytestmark = pytest.mark.slow


def bypassed(env: Env) -> list[dict]:  # type: ignore[type-arg]
    return [{**e, "details": json.loads(e["details"])} for e in env.events("commit_gate_bypassed")]


def recorded(env: Env) -> dict[str, dict]:  # type: ignore[type-arg]
    """commit id -> details of its commit_recorded row."""
    out = {}
    for e in env.events("commit_recorded", limit=10_000):
        d = json.loads(e["details"])
        out[d["commit"]] = {**d, "status": e["status"], "reason_code": e["reason_code"], "task_id": e["task_id"]}
    return out


def work(env: Env, wt: Path, rel: str, text: str, message: str = "work", *args: str) -> str:
    env.change(wt, rel, text)
    res = commit(wt, message, *args)
    assert res.code == 0, res.err
    return head(wt)


# --- post-commit ---------------------------------------------------------------------------------


@pytest.mark.both_backends
def test_commit_recorded_carries_commit_tree_lease_and_gate_sequence(env: Env) -> None:
    tid, lease = env.lease("agent-a", "src/auth/login.py")
    sha = work(env, env.a, "src/auth/login.py", "v2\n")
    gate = env.last("commit_gate")
    rec = env.last("commit_recorded")
    assert rec["status"] == "allowed" and rec["worktree"] == "agent-a"
    assert rec["task_id"] == tid and rec["lease_id"] == lease
    d = rec["details"]
    assert d["commit"] == sha and d["tree"] == head(env.a, "HEAD^{tree}")
    assert d["lease_id"] == lease and d["gate_sequence"] == gate["sequence"] and d["operation"] == "commit"
    assert bypassed(env) == []


@pytest.mark.both_backends
def test_no_verify_is_a_bypass(env: Env) -> None:
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py", "sneaky\n")
    res = commit(env.a, "skip", "--no-verify")
    assert res.code == 0  # post-commit cannot undo a commit; it records it
    (row,) = bypassed(env)
    assert row["status"] == "denied" and row["reason_code"] == "commit_gate_bypassed"
    assert row["details"]["commit"] == head(env.a) and row["details"]["gate_sequence"] is None
    assert env.worktree("agent-a")["compliance_state"] == "non_compliant"
    wts = run_cli("worktree", "list", "--json", cwd=env.root)
    assert {w["name"]: w["compliance_state"] for w in wts.json["worktrees"]}["agent-a"] == "non_compliant"


def test_staged_change_after_gate_is_a_bypass(env: Env) -> None:
    """The marker is the judged tree: a tree the gate never saw is not covered by its pass."""
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py", "judged\n")
    env.cli.ok("gate", "commit", cwd=env.a)  # judged tree T1
    env.change(env.a, "docs/guide.md", "not judged\n")
    commit(env.a, "skip", "--no-verify")
    assert len(bypassed(env)) == 1


def test_gate_run_by_hand_covers_a_no_verify_commit_of_the_same_tree(env: Env) -> None:
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py", "judged\n")
    env.cli.ok("gate", "commit", cwd=env.a)
    commit(env.a, "same tree", "--no-verify")
    assert bypassed(env) == []
    assert recorded(env)[head(env.a)]["gate_sequence"] is not None


@pytest.mark.both_backends
def test_cherry_pick_and_revert_are_not_bypasses(env: Env) -> None:
    env.lease("agent-a", "src/auth/login.py", "docs/guide.md")
    git(env.a, "checkout", "-q", "-b", "side")
    picked = work(env, env.a, "docs/guide.md", "from side\n")
    git(env.a, "checkout", "-q", "agent-a")
    work(env, env.a, "src/auth/login.py", "main line\n")
    res = run_git(env.a, "cherry-pick", picked)
    assert res.code == 0, res.err
    new = head(env.a)
    rec = recorded(env)[new]
    assert rec["operation"] == "cherry-pick" and rec["picked_from"] == picked
    assert rec["status"] == "info" and rec["reason_code"] == "cherry-pick"
    res = run_git(env.a, "revert", "--no-edit", "HEAD")
    assert res.code == 0, res.err
    assert recorded(env)[head(env.a)]["operation"] == "revert"
    assert bypassed(env) == []
    assert env.worktree("agent-a")["compliance_state"] != "non_compliant"


def test_cherry_pick_of_a_bypass_stays_a_bypass(env: Env) -> None:
    env.lease("agent-a", "src/auth/login.py", "docs/guide.md")
    git(env.a, "checkout", "-q", "-b", "side")
    env.change(env.a, "docs/guide.md", "skipped\n")
    commit(env.a, "skip", "--no-verify")
    sneaky = head(env.a)
    git(env.a, "checkout", "-q", "agent-a")
    work(env, env.a, "src/auth/login.py", "diverge\n")
    assert run_git(env.a, "cherry-pick", sneaky).code == 0
    rows = bypassed(env)
    assert [r["details"]["commit"] for r in rows] == [head(env.a), sneaky]
    assert rows[0]["details"]["picked_from"] == sneaky


def test_rebase_is_not_a_bypass_and_a_rebased_bypass_stays_one(env: Env) -> None:
    env.lease("agent-a", "src/auth/login.py", "docs/guide.md", "README.md")
    git(env.a, "checkout", "-q", "-b", "topic")
    good = work(env, env.a, "src/auth/login.py", "topic\n")
    env.change(env.a, "docs/guide.md", "bypass\n")
    commit(env.a, "skip", "--no-verify")
    bad = head(env.a)
    git(env.a, "checkout", "-q", "agent-a")
    work(env, env.a, "README.md", "moved on\n")
    git(env.a, "checkout", "-q", "topic")
    res = run_git(env.a, "rebase", "agent-a")
    assert res.code == 0, res.err
    new_good, new_bad = head(env.a, "HEAD~1"), head(env.a)
    assert new_good != good and new_bad != bad
    rec = recorded(env)
    assert rec[new_good]["operation"] == "rebase"
    assert new_bad not in rec or rec[new_bad]["status"] == "denied"
    flagged = {r["details"]["commit"]: r["details"] for r in bypassed(env)}
    assert set(flagged) == {bad, new_bad}
    # Flagged at the pick (post-commit sees CHERRY_PICK_HEAD) or carried over by post-rewrite.
    assert bad in (flagged[new_bad].get("picked_from"), flagged[new_bad].get("rewritten_from"))
    # Pushing the rebased branch is refused because of the carried-over bypass.
    env.mode("agent-a", "guarded")
    env.remote()
    res = run_git(env.a, "push", "-q", "origin", "topic")
    assert res.code != 0 and "commit_gate_bypassed" in res.err
    assert new_bad[:12] in res.err or new_bad in res.err


@pytest.mark.both_backends
def test_amend_passes_through_the_gate(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.lease("agent-a", "src/auth/login.py")
    work(env, env.a, "src/auth/login.py", "v1\n")
    gates_before = env.count("commit_gate")
    env.change(env.a, "src/auth/login.py", "v2\n")
    res = commit(env.a, "amended", "--amend")
    assert res.code == 0, res.err
    assert env.count("commit_gate") == gates_before + 1
    rec = recorded(env)[head(env.a)]
    assert rec["operation"] == "amend" and rec["gate_sequence"] is not None
    # Amending an unowned file in is refused like any commit.
    env.change(env.a, "docs/guide.md", "sneak in\n")
    before = head(env.a)
    res = commit(env.a, "amended", "--amend")
    assert res.code != 0 and "docs/guide.md" in res.err and head(env.a) == before


def test_amending_a_bypass_keeps_it_a_bypass(env: Env) -> None:
    """post-rewrite carries the bypass: the gate at amend time judged only the amend's own diff."""
    env.lease("agent-a", "src/auth/login.py", "docs/guide.md")
    env.change(env.a, "docs/guide.md", "skip\n")
    commit(env.a, "skip", "--no-verify")
    bad = head(env.a)
    env.change(env.a, "src/auth/login.py", "through the gate\n")
    res = commit(env.a, "amended", "--amend")
    assert res.code == 0, res.err
    flagged = {r["details"]["commit"]: r["details"] for r in bypassed(env)}
    assert set(flagged) == {bad, head(env.a)}
    assert flagged[head(env.a)]["rewritten_from"] == bad and flagged[head(env.a)]["operation"] == "amend"
    assert flagged[head(env.a)]["tree"] == head(env.a, "HEAD^{tree}")


# --- merge gate ----------------------------------------------------------------------------------


def pipeline_task(env: Env, worktree: str, path: str, enforcement: str) -> str:
    """A task whose boundary validation needs a `tests` task of its pipeline done first."""
    spec = {
        "pipeline_id": "p1",
        "task_type": "implementation",
        "validation_rules": {"enforcement": enforcement, "required_completed_task_types": ["tests"]},
    }
    tid, _ = env.lease(worktree, path, spec=spec)
    return tid


@pytest.mark.both_backends
def test_merge_blocked_validation_refused_in_guarded(env: Env) -> None:
    tid = pipeline_task(env, "agent-a", "src/auth/login.py", "blocked")
    work(env, env.a, "src/auth/login.py", "impl\n")
    assert env.cli.json("validation", "list")["validations"][0]["status"] == "blocked"
    env.mode("main", "guarded")
    before = head(env.root)
    res = run_git(env.root, "merge", "--no-ff", "--no-edit", "agent-a")
    assert res.code != 0
    assert "boundary_validation_blocked" in res.err and tid in res.err and "tests" in res.err
    assert head(env.root) == before
    row = env.last("merge_gate")
    assert row["status"] == "denied" and row["details"]["tasks"] == [tid]
    # The same check by hand, with the SPEC JSON shape.
    out = run_cli("gate", "merge", "--ref", "agent-a", "--json", cwd=env.root)
    assert out.code == 1 and out.json["ok"] is False and out.json["gate"] == "merge"
    assert out.json["violations"][0]["reason_code"] == "boundary_validation_blocked"
    # git keeps the merge state; concluding it with `git commit` runs the same checks.
    assert (env.root / ".git" / "MERGE_HEAD").exists()
    res = run_git(env.root, "commit", "-q", "--no-edit")
    assert res.code != 0 and "boundary_validation_blocked" in res.err and head(env.root) == before
    # Once the required task type is done, the merge goes through and gets provenance.
    tests_task = env.task("tests", spec={"pipeline_id": "p1", "task_type": "tests"})
    env.cli.ok("task", "done", tests_task)
    res = run_git(env.root, "commit", "-q", "--no-edit")
    assert res.code == 0, res.err
    assert recorded(env)[head(env.root)]["operation"] == "merge"
    assert len(git(env.root, "rev-list", "--parents", "-n1", "HEAD").split()) == 3


def test_merge_pending_validation_warns_and_proceeds(env: Env) -> None:
    tid = pipeline_task(env, "agent-a", "src/auth/login.py", "warn")
    work(env, env.a, "src/auth/login.py", "impl\n")
    env.mode("main", "guarded")
    res = run_git(env.root, "merge", "--no-ff", "--no-edit", "agent-a")
    assert res.code == 0, res.err
    assert "pending" in res.err and tid in res.err
    row = env.last("merge_gate")
    assert row["status"] == "allowed" and row["details"]["commits"] == 1
    rec = recorded(env)[head(env.root)]
    assert rec["operation"] == "merge" and rec["gate_sequence"] == row["sequence"]
    assert bypassed(env) == []


def test_merge_with_stale_dependency_invalidation_refused(env: Env) -> None:
    spec_a = {"pipeline_id": "p1", "task_type": "implementation", "allowed_paths": ["src/auth/**"]}
    tid_a, _ = env.lease("agent-a", spec=spec_a)
    work(env, env.a, "src/auth/login.py", "impl\n")
    env.cli.ok("task", "done", tid_a)
    # Another pipeline now reserves an overlapping scope: task A's work may be invalid.
    spec_b = {"pipeline_id": "p2", "task_type": "implementation", "allowed_paths": ["src/auth/login.py"]}
    env.lease("agent-b", spec=spec_b)
    invs = env.cli.json("invalidations", "list")["invalidations"]
    assert [i["affected_task_id"] for i in invs] == [tid_a]
    env.mode("main", "guarded")
    before = head(env.root)
    res = run_git(env.root, "merge", "--no-ff", "--no-edit", "agent-a")
    assert res.code != 0 and "dependency_invalidated" in res.err and head(env.root) == before
    git(env.root, "merge", "--abort")
    env.cli.ok("task", "retry", tid_a)  # revalidates
    res = run_git(env.root, "merge", "--no-ff", "--no-edit", "agent-a")
    assert res.code == 0, res.err
    assert recorded(env)[head(env.root)]["operation"] == "merge"


@pytest.mark.both_backends
def test_merge_of_a_bypass_refused_in_guarded(env: Env) -> None:
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py", "skip\n")
    commit(env.a, "skip", "--no-verify")
    env.mode("main", "guarded")
    res = run_git(env.root, "merge", "--no-ff", "--no-edit", "agent-a")
    assert res.code != 0 and "commit_gate_bypassed" in res.err


def test_merge_observed_never_blocks(env: Env) -> None:
    pipeline_task(env, "agent-a", "src/auth/login.py", "blocked")
    work(env, env.a, "src/auth/login.py", "impl\n")
    res = run_git(env.root, "merge", "--no-ff", "--no-edit", "agent-a")
    assert res.code == 0 and "boundary_validation_blocked" in res.err
    assert env.last("merge_gate")["status"] == "warn"


def test_fast_forward_merge_records_nothing_new(env: Env) -> None:
    env.lease("agent-a", "src/auth/login.py")
    sha = work(env, env.a, "src/auth/login.py", "ff\n")
    n = len(recorded(env))
    res = run_git(env.root, "merge", "--ff-only", "agent-a")
    assert res.code == 0, res.err
    assert head(env.root) == sha and len(recorded(env)) == n and bypassed(env) == []


def test_merge_no_verify_is_a_bypass(env: Env) -> None:
    env.lease("agent-a", "src/auth/login.py")
    work(env, env.a, "src/auth/login.py", "x\n")
    assert run_git(env.root, "merge", "--no-ff", "--no-edit", "--no-verify", "agent-a").code == 0
    assert [r["details"]["commit"] for r in bypassed(env)] == [head(env.root)]


def test_merge_commit_provenance_lets_a_later_push_pass(env: Env) -> None:
    env.remote()
    env.lease("agent-a", "src/auth/login.py")
    work(env, env.a, "src/auth/login.py", "feature\n")
    env.cli.ok("policy", "mode", "guarded", "--all-worktrees")
    env.lease("main", "README.md", title="main work")
    work(env, env.root, "README.md", "main moved\n")
    res = run_git(env.root, "merge", "--no-ff", "--no-edit", "agent-a")
    assert res.code == 0, res.err
    merge = head(env.root)
    rec = recorded(env)[merge]
    assert rec["operation"] == "merge" and rec["gate_sequence"] == env.last("merge_gate")["sequence"]
    res = run_git(env.root, "push", "-q", "origin", "main")
    assert res.code == 0, res.err
    assert env.last("push_gate")["details"]["commits"] == 3


def test_pull_merge_is_judged_and_recorded(env: Env) -> None:
    """`git pull` exports GIT_REFLOG_ACTION=pull...: the incoming heads come from FETCH_HEAD."""
    env.remote()
    tid = pipeline_task(env, "agent-a", "src/auth/login.py", "blocked")
    work(env, env.a, "src/auth/login.py", "pulled\n")
    assert run_git(env.a, "push", "-q", "origin", "agent-a").code == 0
    env.mode("main", "guarded")
    before = head(env.root)
    res = run_git(env.root, "pull", "-q", "--no-rebase", "--no-ff", "--no-edit", "origin", "agent-a")
    assert res.code != 0 and "boundary_validation_blocked" in res.err and tid in res.err
    git(env.root, "merge", "--abort")
    assert head(env.root) == before
    env.mode("main", "observed")
    res = run_git(env.root, "pull", "-q", "--no-rebase", "--no-ff", "--no-edit", "origin", "agent-a")
    assert res.code == 0, res.err
    assert env.last("merge_gate")["details"]["commits"] == 1
    assert recorded(env)[head(env.root)]["operation"] == "merge" and bypassed(env) == []


def test_conflict_resolution_is_judged(env: Env) -> None:
    tid_a, _ = env.lease("agent-a", "src/auth/login.py", "docs/guide.md")
    work(env, env.a, "src/auth/login.py", "theirs\n")
    work(env, env.a, "docs/guide.md", "theirs only\n")
    env.cli.ok("task", "done", tid_a)
    # The main worktree changes the same file under its own lease.
    env.mode("main", "guarded")
    tid_m, _ = env.lease("main", "src/auth/login.py", title="main work")
    work(env, env.root, "src/auth/login.py", "ours\n")
    res = run_git(env.root, "merge", "--no-edit", "agent-a")
    assert res.code != 0 and "CONFLICT" in res.out
    write(env.root / "src/auth/login.py", "resolved\n")
    git(env.root, "add", "src/auth/login.py")
    res = run_git(env.root, "commit", "-q", "--no-edit")
    assert res.code == 0, res.err
    gate = env.last("commit_gate")
    # docs/guide.md came from agent-a unchanged: not judged as main's writing.
    assert gate["details"]["staged"] == 1 and gate["status"] == "allowed"
    assert len(gate["details"]["merge_heads"]) == 1
    rec = recorded(env)[head(env.root)]
    assert rec["operation"] == "merge" and rec["gate_sequence"] == gate["sequence"]
    assert bypassed(env) == []


def test_conflicted_merge_of_blocked_task_refused_at_commit(env: Env) -> None:
    pipeline_task(env, "agent-a", "src/auth/login.py", "blocked")
    work(env, env.a, "src/auth/login.py", "theirs\n")
    env.mode("main", "guarded")
    env.lease("main", "src/billing/invoice.py", title="main work")
    res = run_git(env.root, "merge", "--no-commit", "--no-ff", "agent-a")
    assert res.code == 0, res.err
    res = run_git(env.root, "commit", "-q", "--no-edit")
    assert res.code != 0 and "boundary_validation_blocked" in res.err


# --- push gate and CI ----------------------------------------------------------------------------


@pytest.mark.both_backends
def test_push_of_gated_commits_passes(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.remote()
    env.lease("agent-a", "src/auth/login.py")
    work(env, env.a, "src/auth/login.py", "one\n")
    work(env, env.a, "src/auth/login.py", "two\n")
    res = run_git(env.a, "push", "-q", "origin", "agent-a")
    assert res.code == 0, res.err
    row = env.last("push_gate")
    assert row["status"] == "allowed"
    # New remote branch: everything since the baseline (init) is checked; the initial commit is exempt.
    assert row["details"]["commits"] == 2 and row["details"]["remote"] == "origin"
    work(env, env.a, "src/auth/login.py", "three\n")
    assert run_git(env.a, "push", "-q", "origin", "agent-a").code == 0
    assert env.last("push_gate")["details"]["commits"] == 1


@pytest.mark.both_backends
def test_push_of_a_bypass_refused_in_guarded(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.remote()
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py", "skip\n")
    commit(env.a, "skip", "--no-verify")
    res = run_git(env.a, "push", "-q", "origin", "agent-a")
    assert res.code != 0
    assert "commit_gate_bypassed" in res.err and "Traceback" not in res.err
    assert git(env.root.parent / "remote.git", "branch", "--list").strip() == ""
    assert env.last("push_gate")["status"] == "denied"
    # gate push by hand: the same answer as JSON.
    sha = head(env.a)
    out = run_cli("gate", "push", "origin", "url", "--json", cwd=env.a, input=f"refs/heads/agent-a {sha} refs/heads/agent-a {'0' * 40}\n")
    assert out.code == 1 and out.json["ok"] is False and out.json["gate"] == "push"
    assert out.json["commits"][0]["provenance"] == "bypassed"


def test_push_observed_warns_only(env: Env) -> None:
    env.remote()
    env.change(env.a, "docs/guide.md", "skip\n")
    commit(env.a, "skip", "--no-verify")
    res = run_git(env.a, "push", "-q", "origin", "agent-a")
    assert res.code == 0 and "commit_gate_bypassed" in res.err


def test_commits_before_init_are_exempt(repo: Path, cli: Cli) -> None:
    write(repo / "old.txt", "history\n")
    git(repo, "add", "old.txt")
    git(repo, "commit", "-q", "-m", "before switchman")
    cli.ok("init", "--mode", "guarded")
    install_hooks(repo)
    bare = repo.parent / "remote.git"
    git(repo.parent, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    res = run_git(repo, "push", "-q", "origin", "main")
    assert res.code == 0, res.err
    assert json.loads(cli.json("audit", "list", "--event-type", "push_gate")["events"][0]["details"])["commits"] == 0
    # A commit made after init without the hooks is not exempt.
    write(repo / "new.txt", "x\n")
    git(repo, "add", "new.txt")
    git(repo, "commit", "-q", "--no-verify", "-m", "after init")
    res = run_git(repo, "push", "-q", "origin", "main")
    assert res.code != 0 and "commit_gate_bypassed" in res.err


@pytest.mark.both_backends
def test_tampered_audit_row_refuses_push(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.remote()
    env.lease("agent-a", "src/auth/login.py")
    work(env, env.a, "src/auth/login.py", "one\n")
    env.sql("UPDATE audit_log SET reason_code = 'path_claimed' WHERE event_type = 'commit_gate'")
    res = run_git(env.a, "push", "-q", "origin", "agent-a")
    assert res.code != 0 and "audit_verify_failed" in res.err
    assert env.last("push_gate")["reason_code"] == "audit_verify_failed"


@pytest.mark.both_backends
def test_deleted_audit_tail_refuses_push(env: Env, backend: str) -> None:
    """Deleting the newest rows keeps the HMAC chain intact; the signed checkpoint still sees it.
    A server numbers the next row (the push gate's) from its head row, so there the chain shows
    the hole as well."""
    env.mode("agent-a", "guarded")
    env.remote()
    env.lease("agent-a", "src/auth/login.py")
    work(env, env.a, "src/auth/login.py", "one\n")
    env.sql("DELETE FROM audit_log WHERE sequence > (SELECT MAX(sequence) - 3 FROM audit_log)")
    res = run_git(env.a, "push", "-q", "origin", "agent-a")
    assert res.code != 0 and "audit_verify_failed" in res.err
    row = env.last("push_gate")
    assert row["status"] == "denied" and row["reason_code"] == "audit_verify_failed"
    # The chain alone verifies: only the checkpoint could have caught this.
    chain = run_cli("audit", "verify", "--json", cwd=env.a).json
    codes = {f["reason_code"] for f in chain["failures"]}
    expected = {"log_shorter_than_checkpoint", "checkpoint_rollback", "checkpoint_root_mismatch"}
    if backend == "postgresql":
        expected |= {"sequence_gap", "prev_hash_mismatch", "server_head_mismatch"}
    assert codes and codes <= expected


@pytest.mark.both_backends
def test_gate_ci(env: Env) -> None:
    base = head(env.root)
    env.lease("agent-a", "src/auth/login.py")
    work(env, env.a, "src/auth/login.py", "one\n")
    out = run_cli("gate", "ci", "--base", base, "--json", cwd=env.a)
    assert out.code == 0, out.err
    # SPEC §11 shape with --base: {ok, base, head, commits:[{commit, verdict, reason_code, detail}], summary}.
    assert out.json["ok"] is True and out.json["base"] == base and len(out.json["commits"]) == 1
    assert out.json["commits"][0]["verdict"] == "pass"
    env.change(env.a, "src/auth/login.py", "two\n")
    commit(env.a, "skip", "--no-verify")
    out = run_cli("gate", "ci", "--base", base, "--json", cwd=env.a)
    assert out.code == 1 and out.json["commits"][-1]["reason_code"] == "commit_gate_bypassed"
    out = run_cli("gate", "ci", "--base", "no-such-rev", cwd=env.a)
    assert out.code == 2 and out.err.startswith("error: ")
    # Without --base: everything since init (the baseline) is checked.
    assert run_cli("gate", "ci", cwd=env.a).code == 1
    env.sql("UPDATE audit_log SET details = '{}' WHERE sequence = 1")
    out = run_cli("gate", "ci", "--base", head(env.a), "--json", cwd=env.a)
    assert out.code == 1 and out.json["summary"]["problems"][0]["reason_code"] == "audit_verify_failed"


# --- worktree identity ---------------------------------------------------------------------------


@pytest.mark.both_backends
def test_unregistered_worktree_is_registered_on_first_gate(initialised: Path, cli: Cli) -> None:
    c = add_worktree(initialised, "agent-c")  # after init, before the hooks: not registered
    assert "agent-c" not in {w["name"] for w in cli.json("worktree", "list")["worktrees"]}
    install_hooks(initialised)
    write(c / "README.md", "c\n")
    git(c, "add", "README.md")
    res = commit(c)
    assert res.code == 0, res.err
    names = {w["name"]: w for w in cli.json("worktree", "list")["worktrees"]}
    assert names["agent-c"]["path"] == str(c)
    events = cli.json("audit", "list", "--event-type", "worktree_registered")["events"]
    assert any(e["worktree"] == "agent-c" for e in events)
    # A worktree added with the hooks installed registers on its post-checkout.
    d = add_worktree(initialised, "agent-d")
    assert "agent-d" in {w["name"] for w in cli.json("worktree", "list")["worktrees"]}
    del d


def test_dash_c_into_another_repo(initialised: Path, cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", str(other))
    out = run_cli("-C", str(other), "gate", "commit", "--json")
    assert out.code == 3 and out.err.count("\n") == 1 and "init" in out.err
    assert "Traceback" not in out.err
    # Hooks of the managed repo never act on an unmanaged one.
    install_hooks(initialised)
    hooks = git(initialised, "rev-parse", "--path-format=absolute", "--git-path", "hooks").strip()
    git(other, "config", "core.hooksPath", hooks)
    write(other / "f.txt", "x\n")
    git(other, "add", "f.txt")
    res = commit(other)
    assert res.code == 0 and res.err == ""
    # -C into a managed worktree judges that worktree.
    cli.ok("policy", "mode", "guarded", "--all-worktrees")
    write(initialised / "README.md", "x\n")
    git(initialised, "add", "README.md")
    out = run_cli("-C", str(initialised), "gate", "commit", "--json", cwd=other)
    assert out.code == 1 and out.json["worktree"] == "main"


# --- failing closed -----------------------------------------------------------------------------


def corrupt(root: Path) -> None:
    for suffix in ("-wal", "-shm"):
        p = root / ".switchman" / f"switchman.db{suffix}"
        if p.exists():
            p.unlink()
    (root / ".switchman" / "switchman.db").write_bytes(os.urandom(8192))


@pytest.mark.parametrize("how", ["policy", "worktree"])
def test_corrupt_store_guarded_refuses_with_one_line(env: Env, how: str) -> None:
    if how == "policy":
        env.cli.ok("policy", "mode", "guarded")
    else:
        env.mode("agent-a", "guarded")  # remembered by the worktree's last gate run
        assert env.cli.json("gate", "commit", cwd=env.a)["mode"] == "guarded"
        run_git(env.a, "commit", "-q", "--allow-empty", "-m", "gate once")
    corrupt(env.root)
    env.change(env.a, "src/auth/login.py", "x\n")
    before = head(env.a)
    res = commit(env.a)
    assert res.code != 0 and head(env.a) == before
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    assert lines[0].startswith("error: switchman pre-commit refused (guarded mode fails closed): ")
    assert "switchman.db" in lines[0] and " — " in lines[0]
    assert "Traceback" not in res.err


def test_corrupt_store_observed_warns_and_allows(env: Env) -> None:
    corrupt(env.root)
    env.change(env.a, "src/auth/login.py", "x\n")
    res = commit(env.a)
    assert res.code == 0
    assert "Traceback" not in res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: switchman pre-commit ")  # pre-commit warns
    # post-commit (sh) kept the commit in the spool, to be recorded once the store answers again.
    assert [p.name.split("-")[0] for p in (env.root / ".git" / "switchman-spool").iterdir()] == [head(env.a)]
    # Push and merge hooks behave the same way.
    env.remote()
    res = run_git(env.a, "push", "-q", "origin", "agent-a")
    assert res.code == 0 and "Traceback" not in res.err


def test_deleted_store_guarded_refuses(env: Env) -> None:
    env.cli.ok("policy", "mode", "guarded")
    for p in (env.root / ".switchman").glob("switchman.db*"):
        p.unlink()
    env.change(env.a, "src/auth/login.py", "x\n")
    before = head(env.a)
    res = commit(env.a)
    assert res.code != 0 and head(env.a) == before
    assert res.err.startswith("error: switchman pre-commit refused") and len(res.err.strip().splitlines()) == 1


def test_missing_key_guarded_refuses(env: Env) -> None:
    env.cli.ok("policy", "mode", "guarded", "--all-worktrees")
    (env.root / ".switchman" / "audit.key").unlink()
    env.change(env.a, "src/auth/login.py", "x\n")
    res = commit(env.a)
    assert res.code != 0 and "key" in res.err and len(res.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("message", "op"),
    [
        ("commit: subject", "commit"),
        ("commit (initial): subject", "commit"),
        ("commit (amend): subject", "amend"),
        ("commit (merge): Merge branch 'x'", "merge"),
        ("commit (cherry-pick): concluded by hand", "commit"),
        ("cherry-pick: subject", "cherry-pick"),
        ("revert: Revert \"x\"", "revert"),
        ("rebase (pick): subject", "rebase"),
        ("rebase -i (pick): subject", "rebase"),
        ("rebase (continue): subject", "rebase"),
        ("merge side: Merge made by the 'ort' strategy.", "merge"),
        ("pull --no-rebase origin main: Merge made by the 'ort' strategy.", "merge"),
        ("pull --rebase origin main (pick): subject", "rebase"),
        ("checkout: moving from a to b", None),
        ("am: subject", None),
    ],
)
def test_operation_from_reflog_message(message: str, op: str | None) -> None:
    from switchman.gates.traces import operation_from_action

    assert operation_from_action(message.split(":", 1)[0]) == op


def test_incoming_heads_sources(env: Env) -> None:
    """pre-merge-commit finds the merged heads without MERGE_HEAD: GITHEAD_*, the reflog action, FETCH_HEAD."""
    from switchman.gates.merge import _incoming_heads
    from switchman.repo import locate

    env.lease("agent-a", "src/auth/login.py")
    sha = work(env, env.a, "src/auth/login.py", "x\n")
    paths = locate(str(env.root))
    root = str(env.root)
    assert _incoming_heads(paths, root, {"GITHEAD_" + sha: "agent-a", "GIT_REFLOG_ACTION": "merge nope"}) == [sha]
    assert _incoming_heads(paths, root, {"GIT_REFLOG_ACTION": "merge agent-a"}) == [sha]
    assert _incoming_heads(paths, root, {"GIT_REFLOG_ACTION": "merge no-such-branch"}) == []
    (env.root / ".git" / "FETCH_HEAD").write_text(
        f"{sha}\t\tbranch 'agent-a' of /x\n{head(env.root)}\tnot-for-merge\tbranch 'main' of /x\n"
    )
    assert _incoming_heads(paths, root, {"GIT_REFLOG_ACTION": "pull origin agent-a"}) == [sha]
    assert _incoming_heads(paths, root, {}) == []
