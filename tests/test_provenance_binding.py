"""Provenance binding (SPEC §10), beyond the issue's reproductions in test_provenance.py:
what the signed rows record, picks across worktrees, rewrites of unrecorded commits, and a
bypass that stays visible until its commit is gone from every branch."""

from __future__ import annotations

import json

import pytest

from testing.cli import run_cli
from testing.gates import Env, commit, head, run_git
from testing.git import git

pytestmark = pytest.mark.slow

UNHOOKED = ("-c", "core.hooksPath=/dev/null")


def _pair(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.mode("agent-b", "guarded")
    env.lease("agent-a", spec={"allowed_paths": ["src/auth/**"]}, title="auth")
    env.lease("agent-b", "docs/guide.md", title="docs")


def _verdict(env: Env, sha: str) -> dict:
    for e in env.events(limit=10_000):
        if e["event_type"] in ("commit_recorded", "commit_gate_bypassed"):
            d = json.loads(e["details"]) if isinstance(e["details"], str) else e["details"]
            if d["commit"] == sha:
                return {"event": e["event_type"], **d}
    raise AssertionError(f"no record for {sha}")


def test_the_signed_gate_row_binds_parent_and_tree(env: Env) -> None:
    _pair(env)
    parent = head(env.a)
    env.change(env.a, "src/auth/login.py", "one\n")
    assert commit(env.a, "one").code == 0
    gate = env.last("commit_gate")
    details = gate["details"] if isinstance(gate["details"], dict) else json.loads(gate["details"])
    assert details["parent"] == parent
    assert details["tree"] == git(env.a, "rev-parse", "HEAD^{tree}").strip()
    assert _verdict(env, head(env.a))["gate_sequence"] == gate["sequence"]


def test_a_forged_gate_run_is_named_in_the_bypass_row(env: Env) -> None:
    _pair(env)
    env.change(env.a, "src/auth/login.py", "fine\n")
    assert commit(env.a, "fine").code == 0
    unrelated = env.last("commit_gate")["sequence"]
    env.change(env.a, "docs/guide.md", "taken\n")
    tree = git(env.a, "write-tree").strip()
    env.sql(
        "INSERT INTO gate_runs (worktree, gate, tree_id, ok, lease_id, audit_sequence, created_at, parent) "
        "VALUES ('agent-a', 'commit', ?, 1, NULL, ?, '2026-01-01T00:00:00.000Z', ?)",
        (tree, unrelated, head(env.a)),
    )
    assert commit(env.a, "forged", "--no-verify").code == 0
    v = _verdict(env, head(env.a))
    assert v["event"] == "commit_gate_bypassed" and v["forged_gate_runs"]


def test_same_tree_on_another_parent_is_not_covered(env: Env) -> None:
    """A gate that passed tree T on parent P does not cover T committed on another parent."""
    _pair(env)
    base = head(env.a)
    env.change(env.a, "src/auth/login.py", "one\n")
    assert commit(env.a, "one").code == 0  # judged: base -> T
    # Another parent Q (made by hand, touching docs/guide.md), then T on top of Q, no gate:
    # that commit changes docs/guide.md back, a change no gate judged.
    blob = git(env.a, "hash-object", "-w", "--stdin", input=b"theirs\n").strip()
    idx = {"GIT_INDEX_FILE": str(env.root / ".git" / "tmp-index")}
    git(env.a, "read-tree", base, env=idx)
    git(env.a, "update-index", "--add", "--cacheinfo", f"100644,{blob},docs/guide.md", env=idx)
    q_tree = git(env.a, "write-tree", env=idx).strip()
    q = git(env.a, "commit-tree", q_tree, "-p", base, "-m", "q").strip()
    git(env.a, "reset", "-q", "--soft", q)
    assert commit(env.a, "on q", "--no-verify").code == 0
    assert git(env.a, "rev-parse", "HEAD^{tree}").strip() == git(env.a, "rev-parse", "HEAD@{2}^{tree}").strip()
    assert _verdict(env, head(env.a))["event"] == "commit_gate_bypassed"


def test_a_pick_from_another_worktree_needs_this_lease(env: Env) -> None:
    _pair(env)
    env.change(env.b, "docs/guide.md", "b's work\n")
    assert commit(env.b, "docs").code == 0
    theirs = head(env.b)
    assert _verdict(env, theirs)["event"] == "commit_recorded"
    # agent-a on its own parent: else, within the same second, the pick is b's very commit object.
    env.change(env.a, "src/auth/login.py", "a's work\n")
    assert commit(env.a, "auth").code == 0
    assert run_git(env.a, "cherry-pick", theirs).code == 0
    v = _verdict(env, head(env.a))
    assert v["event"] == "commit_gate_bypassed" and "lease" in v["reason"]


def test_a_revert_of_a_judged_commit_is_recorded(env: Env) -> None:
    _pair(env)
    env.change(env.a, "src/auth/login.py", "one\n")
    assert commit(env.a, "one").code == 0
    assert run_git(env.a, "revert", "--no-edit", "HEAD").code == 0
    v = _verdict(env, head(env.a))
    assert v["event"] == "commit_recorded" and v["operation"] == "revert"


def test_rebase_apply_of_an_unrecorded_commit_is_a_bypass(env: Env) -> None:
    """The apply backend runs no post-commit: post-rewrite applies the same rule."""
    _pair(env)
    env.change(env.a, "docs/guide.md", "taken\n")
    git(env.a, *UNHOOKED, "commit", "-q", "-m", "unhooked")
    env.sql("DELETE FROM commit_provenance")  # as if the commit had never been seen at all
    assert run_git(env.a, "rebase", "-q", "--apply", "--force-rebase", "HEAD~1").code == 0
    assert _verdict(env, head(env.a))["event"] == "commit_gate_bypassed"


def test_a_bypass_stays_visible_until_its_commit_is_gone(env: Env) -> None:
    _pair(env)
    base = head(env.a)
    env.change(env.a, "docs/guide.md", "taken\n")
    assert commit(env.a, "skip", "--no-verify").code == 0
    bypassed = head(env.a)
    env.change(env.a, "src/auth/login.py", "clean\n")
    assert commit(env.a, "clean").code == 0  # a clean gate run after the bypass
    assert env.worktree("agent-a")["compliance_state"] == "non_compliant"
    env.cli.ok("monitor", "once")  # nor does a clean monitor pass hide it
    assert env.worktree("agent-a")["compliance_state"] == "non_compliant"
    status = run_cli("status", "--json", cwd=env.root)
    assert bypassed in {b["commit"] for b in status.json["open_bypasses"]}
    doc = run_cli("doctor", "--json", cwd=env.root)
    checks = {c["id"]: c for c in doc.json["checks"]}
    assert checks["provenance"]["status"] == "warn" and bypassed[:12] in checks["provenance"]["detail"]
    # Redo through the gate: the bypassed commit is gone from every branch.
    git(env.a, "reset", "-q", "--hard", base)
    env.change(env.a, "src/auth/login.py", "clean\n")
    assert commit(env.a, "redone").code == 0
    assert env.worktree("agent-a")["compliance_state"] == "managed"
    status = run_cli("status", "--json", cwd=env.root)
    assert status.json["open_bypasses"] == []
    doc = run_cli("doctor", "--json", cwd=env.root)
    assert {c["id"]: c for c in doc.json["checks"]}["provenance"]["status"] == "ok"


def test_the_commit_gate_refuses_on_a_tampered_parent_record(env: Env) -> None:
    """The commit gate's cheap check: its parent's provenance row must be the signed row."""
    _pair(env)
    env.change(env.a, "docs/guide.md", "taken\n")
    assert commit(env.a, "skip", "--no-verify").code == 0
    env.sql("UPDATE commit_provenance SET status = 'recorded' WHERE commit_id = ?", (head(env.a),))
    env.change(env.a, "src/auth/login.py", "mine\n")
    res = commit(env.a, "next")
    assert res.code != 0 and "provenance_mismatch" in res.err
    assert env.last("commit_gate")["reason_code"] == "provenance_mismatch"
