"""Provenance you can trust (SPEC §10): each attack a same-user agent tried, through real git.

Every test here reproduces a way an unowned change reached pushed history (or a gate lied) and
asserts the gate now refuses or records it as what it is. Agents: agent-a and agent-b linked
worktrees with the hooks installed; pushes go to a local bare remote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing.cli import run_cli
from testing.gates import Env, commit, head, run_git
from testing.git import git, write

pytestmark = pytest.mark.slow

UNHOOKED = ("-c", "core.hooksPath=/dev/null")


def guarded_pair(env: Env) -> tuple[str, str]:
    """agent-a leases src/auth/**, agent-b holds docs/guide.md; both guarded. Returns task ids."""
    env.mode("agent-a", "guarded")
    env.mode("agent-b", "guarded")
    ta, _ = env.lease("agent-a", spec={"allowed_paths": ["src/auth/**"]}, title="auth")
    tb, _ = env.lease("agent-b", "docs/guide.md", title="docs")
    return ta, tb


def verdicts(env: Env) -> dict[str, str]:
    """commit id -> the event type the signed log recorded for it."""
    out: dict[str, str] = {}
    for e in reversed(env.events(limit=10_000)):
        if e["event_type"] in ("commit_recorded", "commit_gate_bypassed"):
            out[json.loads(e["details"])["commit"]] = e["event_type"]
    return out


def push(env: Env, wt: Path, *refs: str) -> tuple[int, str]:
    res = run_git(wt, "push", "-q", "origin", *refs)
    assert "Traceback" not in res.err, res.err
    return res.code, res.err


def remote_branches(env: Env) -> str:
    return git(env.root.parent / "remote.git", "for-each-ref", "--format=%(refname)", "refs/heads").strip()


def sneak(env: Env, wt: Path, rel: str = "docs/guide.md", text: str = "taken\n") -> str:
    """An unhooked commit of a path another agent holds (what `--no-verify` can't hide, this can)."""
    write(wt / rel, text)
    git(wt, "add", "--", rel)
    git(wt, *UNHOOKED, "commit", "-q", "-m", "unhooked")
    return head(wt)


# --- 1. amend ------------------------------------------------------------------------------------


def test_amend_does_not_launder_an_unhooked_commit(env: Env) -> None:
    guarded_pair(env)
    env.remote()
    sneak(env, env.a)
    res = commit(env.a, "amended", "--amend")
    assert res.code == 0, res.err
    amended = head(env.a)
    assert verdicts(env)[amended] == "commit_gate_bypassed"
    code, err = push(env, env.a, "agent-a")
    assert code != 0 and "commit_gate_bypassed" in err
    # The refusal never suggests amending as the cure (git's own "failed to push ... <path>" line
    # is left out: pytest's tmp dir for this test has "amend" in its name).
    ours = [ln for ln in err.split("fix:")[-1].splitlines() if "failed to push some refs" not in ln]
    assert "amend" not in "\n".join(ours)
    assert remote_branches(env) == ""


def test_amend_of_a_judged_commit_stays_judged(env: Env) -> None:
    guarded_pair(env)
    env.change(env.a, "src/auth/login.py", "one\n")
    assert commit(env.a, "one").code == 0
    env.change(env.a, "src/auth/login.py", "two\n")
    assert commit(env.a, "two", "--amend").code == 0
    assert verdicts(env)[head(env.a)] == "commit_recorded"


def test_amend_adding_an_unowned_path_is_refused(env: Env) -> None:
    guarded_pair(env)
    env.change(env.a, "src/auth/login.py", "one\n")
    assert commit(env.a, "one").code == 0
    env.change(env.a, "docs/guide.md", "mine now\n")
    res = commit(env.a, "two", "--amend")
    assert res.code != 0 and "path_claimed_by_other_lease" in res.err


# --- 2. rebase, cherry-pick -----------------------------------------------------------------------


def test_rebase_does_not_launder_an_unhooked_commit(env: Env) -> None:
    guarded_pair(env)
    env.remote()
    sneak(env, env.a)
    res = run_git(env.a, "rebase", "-q", "--force-rebase", "HEAD~1")
    assert res.code == 0, res.err
    assert verdicts(env)[head(env.a)] == "commit_gate_bypassed"
    code, _ = push(env, env.a, "agent-a")
    assert code != 0 and remote_branches(env) == ""


def test_cherry_pick_of_a_commit_tree_commit_is_a_bypass(env: Env) -> None:
    guarded_pair(env)
    env.remote()
    blob = git(env.a, "hash-object", "-w", "--stdin", input=b"picked\n").strip()
    git(env.a, "update-index", "--add", "--cacheinfo", f"100644,{blob},docs/guide.md")
    tree = git(env.a, "write-tree").strip()
    git(env.a, "reset", "-q")
    loose = git(env.a, "commit-tree", tree, "-p", "HEAD", "-m", "made by hand", env={}).strip()
    git(env.a, "update-ref", "refs/heads/loose", loose)
    res = run_git(env.a, "cherry-pick", loose)
    assert res.code == 0, res.err
    assert verdicts(env)[head(env.a)] == "commit_gate_bypassed"
    code, _ = push(env, env.a, "agent-a")
    assert code != 0 and remote_branches(env) == ""


def test_cherry_pick_of_a_judged_commit_is_recorded(env: Env) -> None:
    guarded_pair(env)
    git(env.a, "switch", "-q", "-c", "side")
    env.change(env.a, "src/auth/login.py", "side\n")
    assert commit(env.a, "side").code == 0
    picked = head(env.a)
    git(env.a, "switch", "-q", "agent-a")
    assert run_git(env.a, "cherry-pick", picked).code == 0
    assert verdicts(env)[head(env.a)] == "commit_recorded"


# --- 3. unsigned tables ---------------------------------------------------------------------------


def test_a_forged_gate_run_does_not_cover_a_no_verify_commit(env: Env) -> None:
    guarded_pair(env)
    env.change(env.a, "src/auth/login.py", "fine\n")
    assert commit(env.a, "fine").code == 0
    unrelated = env.last("commit_gate")["sequence"]
    env.change(env.a, "docs/guide.md", "taken\n")
    tree = git(env.a, "write-tree").strip()
    env.sql(
        "INSERT INTO gate_runs (worktree, gate, tree_id, ok, lease_id, audit_sequence, created_at) "
        "VALUES ('agent-a', 'commit', ?, 1, NULL, ?, '2026-01-01T00:00:00.000Z')",
        (tree, unrelated),
    )
    assert commit(env.a, "forged", "--no-verify").code == 0
    assert verdicts(env)[head(env.a)] == "commit_gate_bypassed"


def test_an_edited_provenance_table_is_tampering(env: Env) -> None:
    guarded_pair(env)
    env.remote()
    env.change(env.a, "docs/guide.md", "taken\n")
    assert commit(env.a, "skip", "--no-verify").code == 0
    sha = head(env.a)
    env.sql("UPDATE commit_provenance SET status = 'recorded' WHERE commit_id = ?", (sha,))
    code, err = push(env, env.a, "agent-a")
    assert code != 0 and remote_branches(env) == ""
    assert "provenance_mismatch" in err
    ci = run_cli("gate", "ci", "--json", cwd=env.a)
    assert ci.code == 1
    assert "provenance_mismatch" in {v["reason_code"] for v in ci.json["violations"]}
    doc = run_cli("doctor", "--json", cwd=env.root)
    assert doc.code == 1
    checks = {c["id"]: c for c in doc.json["checks"]}
    assert checks["provenance"]["status"] == "fail" and sha[:12] in checks["provenance"]["detail"]


def test_a_deleted_provenance_row_is_tampering(env: Env) -> None:
    guarded_pair(env)
    env.change(env.a, "docs/guide.md", "taken\n")
    assert commit(env.a, "skip", "--no-verify").code == 0
    env.sql("DELETE FROM commit_provenance")
    ci = run_cli("gate", "ci", "--json", cwd=env.a)
    assert ci.code == 1
    assert {"provenance_mismatch", "commit_gate_bypassed"} & {v["reason_code"] for v in ci.json["violations"]}
