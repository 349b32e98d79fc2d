"""Provenance you can trust (SPEC §10): each attack a same-user agent tried, through real git.

Every test here reproduces a way an unowned change reached pushed history (or a gate lied) and
asserts the gate now refuses or records it as what it is. Agents: agent-a and agent-b linked
worktrees with the hooks installed; pushes go to a local bare remote.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from testing.cli import Cli, run_cli
from testing.gates import Env, commit, head, install_hooks, run_git
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


@pytest.mark.both_backends
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


@pytest.mark.both_backends
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


# --- 4. worktree identity -------------------------------------------------------------------------


def test_work_tree_flag_does_not_borrow_another_worktrees_lease(env: Env) -> None:
    guarded_pair(env)
    env.change(env.a, "docs/guide.md", "taken\n")
    res = run_git(env.a, f"--work-tree={env.b}", "commit", "-q", "-m", "borrowed")
    assert res.code != 0 and "path_claimed_by_other_lease" in res.err
    gate = env.last("commit_gate")
    assert gate["worktree"] == "agent-a" and gate["status"] == "denied"


# --- 5. leftover claims ---------------------------------------------------------------------------


def test_a_finished_tasks_claim_never_outranks_another_lease(env: Env) -> None:
    env.mode("agent-a", "guarded")
    ta, _ = env.lease("agent-a", "src/billing/invoice.py", title="billing fix")
    env.cli.ok("task", "done", ta)
    env.lease("agent-b", spec={"allowed_paths": ["src/billing/**"]}, title="billing feature")
    env.change(env.a, "src/billing/invoice.py", "late edit\n")
    res = commit(env.a, "late")
    assert res.code != 0 and "path_scoped_by_other_lease" in res.err


def test_a_finished_tasks_claim_covers_only_changes_made_before_it_finished(env: Env) -> None:
    env.mode("agent-a", "guarded")
    ta, _ = env.lease("agent-a", "src/billing/invoice.py", "docs/guide.md", title="fix")
    write(env.a / "docs/guide.md", "made before done\n")
    env.cli.ok("task", "done", ta)
    env.change(env.a, "src/billing/invoice.py", "made after done\n")
    res = commit(env.a, "after")
    assert res.code != 0 and "no_active_lease" in res.err
    git(env.a, "restore", "--staged", "--", "src/billing/invoice.py")
    git(env.a, "add", "--", "docs/guide.md")
    res = commit(env.a, "before")
    assert res.code == 0, res.err  # the leftover made under the lease is still its to commit


# --- 6. gate ci --base and history before init ---------------------------------------------------


def test_gate_ci_base_keeps_pre_init_history_exempt(repo: Path, cli: Cli) -> None:
    git(repo, "switch", "-q", "-c", "feature")
    write(repo / "old.txt", "before switchman\n")
    git(repo, "add", "old.txt")
    git(repo, "commit", "-q", "-m", "pre-init work on a branch")
    git(repo, "switch", "-q", "main")
    cli.ok("init")
    install_hooks(repo)
    git(repo, "switch", "-q", "feature")
    write(repo / "new.txt", "after\n")
    git(repo, "add", "new.txt")
    assert commit(repo, "gated").code == 0
    res = run_cli("gate", "ci", "--base", "main", "--json", cwd=repo)
    assert res.code == 0, res.out
    assert res.json["ok"] is True


# --- 7. bad glob in the policy --------------------------------------------------------------------


def test_a_bad_policy_glob_is_reported_everywhere(env: Env) -> None:
    policy = env.root / ".switchman" / "enforcement.json"
    doc = json.loads(policy.read_text())
    doc["allowed_generated_paths"] = ["["]
    policy.write_text(json.dumps(doc))
    show = run_cli("policy", "show", cwd=env.root)
    assert show.code == 2 and "enforcement.json" in show.err and "allowed_generated_paths" in show.err
    assert show.err.startswith("error: ") and len(show.err.strip().splitlines()) == 1
    rep = run_cli("doctor", "--json", cwd=env.root)
    checks = {c["id"]: c for c in rep.json["checks"]}
    assert rep.code == 1 and checks["policy"]["status"] == "fail"
    assert "switchman-hook policy" in checks["policy"]["fix"] or "enforcement.json" in checks["policy"]["fix"]


# --- 8. a worktree path with a newline ------------------------------------------------------------


def test_hooks_work_in_a_worktree_whose_path_has_a_newline(env: Env) -> None:
    odd = env.root.parent / "agent\nnewline"
    git(env.root, "worktree", "add", "-q", "-b", "odd", str(odd))
    env.cli.ok("worktree", "sync")
    names = {w["name"] for w in env.cli.json("worktree", "list")["worktrees"]}
    assert "agent\nnewline" in names
    env.change(odd, "docs/guide.md", "from a strange place\n")
    res = commit(odd, "odd")
    assert res.code == 0, res.err
    assert "not found" not in res.err
    assert verdicts(env)[head(odd)] == "commit_recorded"


# --- 9. notes and switchman refs -----------------------------------------------------------------


def test_notes_refs_can_be_pushed_through_the_gate(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.remote()
    git(env.a, "notes", "add", "-m", "a note", "HEAD")
    code, err = push(env, env.a, "refs/notes/commits")
    assert code == 0, err
    assert git(env.root.parent / "remote.git", "for-each-ref", "refs/notes").strip() != ""


# --- the push gate judges exactly what git sends -------------------------------------------------


def test_a_moved_remote_tracking_ref_does_not_exempt_commits(env: Env) -> None:
    guarded_pair(env)
    env.remote()
    sha = sneak(env, env.a)
    git(env.a, "update-ref", "refs/remotes/origin/agent-a", sha)
    code, _ = push(env, env.a, "agent-a")
    assert code != 0 and remote_branches(env) == ""


def test_replace_objects_do_not_hide_commits_from_the_push_gate(env: Env) -> None:
    guarded_pair(env)
    env.remote()
    base = head(env.a)
    sneak(env, env.a)
    env.change(env.a, "src/auth/login.py", "gated on top\n")
    assert commit(env.a, "gated").code == 0
    tip = head(env.a)
    # A stand-in for the tip whose parent skips the unhooked commit: a walk that honours replace
    # refs never sees it, but git sends the real history.
    stand_in = git(env.a, "commit-tree", f"{tip}^{{tree}}", "-p", base, "-m", "gated").strip()
    git(env.a, "replace", tip, stand_in)
    code, _ = push(env, env.a, "agent-a")
    assert code != 0 and remote_branches(env) == ""


def test_a_planted_git_exec_path_cannot_swap_the_git_the_hooks_run(env: Env, tmp_path: Path) -> None:
    guarded_pair(env)
    real_git = git(env.a, "--exec-path").strip()
    fake = tmp_path / "fake-exec"
    fake.mkdir()
    for name in os.listdir(real_git):
        if name != "git":
            os.symlink(os.path.join(real_git, name), fake / name)
    # git puts the exec path first on the hooks' PATH: a `git` there that hides every change.
    real = os.path.join(real_git, "git") if os.path.exists(os.path.join(real_git, "git")) else "/usr/bin/git"
    (fake / "git").write_text(
        f'#!/bin/sh\ncase " $* " in *" diff-index "*|*" diff "*) exit 0 ;; esac\nexec {real} "$@"\n'
    )
    (fake / "git").chmod(0o755)
    env.change(env.a, "docs/guide.md", "taken\n")
    res = run_git(env.a, "commit", "-q", "-m", "x", env={"GIT_EXEC_PATH": str(fake)})
    assert res.code != 0 and "path_claimed_by_other_lease" in res.err


def test_pushing_after_init_of_a_clone_with_unrelated_work(env: Env) -> None:
    """A new branch with only gated commits passes; exclusion uses what the remote advertised."""
    env.mode("agent-a", "guarded")
    env.remote()
    assert push(env, env.root, "main")[0] == 0
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py", "gated\n")
    assert commit(env.a, "gated").code == 0
    code, err = push(env, env.a, "agent-a")
    assert code == 0, err
    assert env.last("push_gate")["details"]["commits"] == 1

