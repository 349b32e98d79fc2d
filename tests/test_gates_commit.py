"""The commit gate with real `git commit` through the installed hooks, in linked worktrees.

Every SPEC §4 reason code, every mode, `commit -a`, partial commits (`commit -- path`, judged from
GIT_INDEX_FILE), renames (both sides), deletions and file names with spaces, newlines and
non-UTF-8 bytes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from testing.cli import run_cli
from testing.gates import GATE_KEYS, Env, age_lease, commit, head
from testing.git import git, write

pytestmark = [pytest.mark.slow, pytest.mark.both_backends]


def refused(env: Env, wt: Path, before: str, res, *needles: str) -> None:  # type: ignore[no-untyped-def]
    assert res.code != 0, res.err
    assert head(wt) == before, "a refused commit must not happen"
    for needle in needles:
        assert needle in res.err, f"{needle!r} not in hook output:\n{res.err}"
    assert "Traceback" not in res.err


# --- reason codes -------------------------------------------------------------------------------


def test_no_active_lease_refused_in_guarded(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.change(env.a, "src/auth/login.py")
    before = head(env.a)
    res = commit(env.a)
    refused(env, env.a, before, res, "src/auth/login.py", "no_active_lease", "switchman-hook lease next agent-a")
    row = env.last("commit_gate")
    assert row["status"] == "denied" and row["reason_code"] == "no_active_lease"
    assert row["worktree"] == "agent-a"
    assert env.worktree("agent-a")["compliance_state"] == "non_compliant"


def test_lease_expired(env: Env) -> None:
    env.mode("agent-a", "guarded")
    _, lease = env.lease("agent-a", "src/auth/login.py")
    age_lease(env, lease)
    env.change(env.a, "src/auth/login.py")
    before = head(env.a)
    res = commit(env.a)
    refused(env, env.a, before, res, "lease_expired", f"switchman-hook lease heartbeat {lease}")
    assert env.last("commit_gate")["reason_code"] == "lease_expired"
    assert env.worktree("agent-a")["compliance_state"] == "stale"
    env.cli.ok("lease", "heartbeat", lease)
    assert commit(env.a).code == 0


def test_path_claimed_allowed_and_recorded(env: Env) -> None:
    env.mode("agent-a", "guarded")
    tid, lease = env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py")
    res = commit(env.a)
    assert res.code == 0, res.err
    assert res.err == ""  # a clean pass is silent
    gate = env.last("commit_gate")
    assert gate["status"] == "allowed" and gate["task_id"] == tid and gate["lease_id"] == lease
    assert gate["details"]["staged"] == 1 and gate["details"]["mode"] == "guarded"
    rec = env.last("commit_recorded")
    assert rec["details"]["commit"] == head(env.a)
    assert env.worktree("agent-a")["compliance_state"] == "managed"


def test_path_claimed_by_other_lease(env: Env) -> None:
    env.mode("agent-a", "guarded")
    other, _ = env.lease("agent-b", "src/billing/invoice.py", title="billing")
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/billing/invoice.py")
    before = head(env.a)
    res = commit(env.a)
    refused(env, env.a, before, res, "src/billing/invoice.py", "path_claimed_by_other_lease", other, "agent-b")
    assert "git restore --staged -- src/billing/invoice.py" in res.err


def test_path_within_task_scope(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.lease("agent-a", spec={"allowed_paths": ["src/auth/**"]})
    env.change(env.a, "src/auth/new_module.py")
    res = commit(env.a)
    assert res.code == 0, res.err
    data = env.cli.json("gate", "commit", cwd=env.a)  # nothing staged now: passes, shape intact
    assert data["ok"] is True and data["staged_files"] == []


def test_path_scoped_by_other_lease(env: Env) -> None:
    env.mode("agent-a", "guarded")
    other, _ = env.lease("agent-b", spec={"allowed_paths": ["src/billing/**"]}, title="billing")
    env.lease("agent-a", spec={"allowed_paths": ["src/auth/**"]})
    env.change(env.a, "src/billing/invoice.py")
    before = head(env.a)
    res = commit(env.a)
    refused(env, env.a, before, res, "src/billing/invoice.py", "path_scoped_by_other_lease", other)
    data = env.cli(  # the JSON names the holder and the scope
        "gate", "commit", "--json", cwd=env.a
    ).json
    (v,) = data["violations"]
    assert v["reason_code"] == "path_scoped_by_other_lease"
    assert v["holder"]["task_id"] == other and v["holder"]["scope"] == "src/billing/**"


def test_policy_exception_allowed(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.cli.ok("policy", "allow", "dist/**")
    env.lease("agent-a")
    env.change(env.a, "dist/bundle.js", "built\n")
    res = commit(env.a)
    assert res.code == 0, res.err
    data = env.cli.json("gate", "commit", cwd=env.a)
    assert data["ok"]


def test_path_not_claimed_names_the_claim_command(env: Env) -> None:
    env.mode("agent-a", "guarded")
    tid, _ = env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py")
    env.change(env.a, "docs/guide.md")
    before = head(env.a)
    res = commit(env.a)
    refused(env, env.a, before, res, "docs/guide.md", "path_not_claimed", f"switchman-hook claim {tid} agent-a docs/guide.md")
    assert "src/auth/login.py:" not in res.err  # the owned path is not listed as a violation
    gate = env.last("commit_gate")
    assert gate["details"]["violations"] == [{"file": "docs/guide.md", "reason_code": "path_not_claimed"}]
    # The printed fix works.
    env.cli.ok("claim", tid, "agent-a", "docs/guide.md")
    assert commit(env.a).code == 0


def test_completed_task_leftovers_stay_governed(env: Env) -> None:
    env.mode("agent-a", "guarded")
    tid, _ = env.lease("agent-a", "src/auth/login.py", "docs/guide.md")
    env.change(env.a, "src/auth/login.py")
    env.change(env.a, "docs/guide.md", stage=False)
    assert commit(env.a).code == 0
    env.cli.ok("task", "done", tid)
    git(env.a, "add", "docs/guide.md")
    res = commit(env.a, "leftover")
    assert res.code == 0, res.err
    # Committed: the completed claim no longer covers further changes to it.
    env.change(env.a, "docs/guide.md", "after the task\n")
    before = head(env.a)
    refused(env, env.a, before, commit(env.a), "docs/guide.md", "no_active_lease")
    git(env.a, "reset", "-q", "--hard")
    # A file the completed task never claimed is still judged: no lease now.
    env.change(env.a, "README.md")
    before = head(env.a)
    refused(env, env.a, before, commit(env.a), "README.md", "no_active_lease")


# --- modes ---------------------------------------------------------------------------------------


def test_observed_reports_and_allows(env: Env) -> None:
    env.change(env.a, "src/auth/login.py")
    data = env.cli.json("gate", "commit", cwd=env.a)
    assert set(data) >= GATE_KEYS
    assert data["ok"] is True and data["gate"] == "commit" and data["mode"] == "observed"
    assert data["worktree"] == "agent-a" and data["lease_id"] is None
    assert data["compliance_state"] == "non_compliant"
    assert data["staged_files"] == ["src/auth/login.py"]
    assert data["violations"] == [
        {"file": "src/auth/login.py", "reason_code": "no_active_lease", "holder": None, "fix": data["violations"][0]["fix"]}
    ]
    assert data["warnings"] and isinstance(data["summary"], str)
    res = commit(env.a)
    assert res.code == 0
    assert "no_active_lease" in res.err and "observed mode" in res.err
    assert env.last("commit_gate")["status"] == "warn"
    assert env.last("commit_recorded")["details"]["commit"] == head(env.a)
    # Through the console script too: exit 0.
    env.change(env.a, "docs/guide.md")
    out = run_cli("gate", "commit", "--json", cwd=env.a)
    assert out.code == 0 and out.json["ok"] is True and out.err == ""


def test_guarded_gate_json_exit_code(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.change(env.a, "docs/guide.md")
    out = run_cli("gate", "commit", "--json", cwd=env.a)
    assert out.code == 1
    assert out.json["ok"] is False and out.json["mode"] == "guarded"
    assert out.json["violations"][0]["reason_code"] == "no_active_lease"


def test_guarded_ignores_unstaged_changes(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py")
    env.change(env.a, "docs/guide.md", stage=False)
    write(env.a / "scratch.txt", "untracked\n")
    assert commit(env.a).code == 0
    data = env.cli.json("gate", "commit", cwd=env.a)
    # changed_files shows the whole worktree; guarded judges only what is staged.
    assert set(data["changed_files"]) == {"docs/guide.md", "scratch.txt"}
    assert data["ok"] and data["violations"] == []


def test_strict_refuses_unowned_changes_elsewhere(env: Env) -> None:
    env.mode("agent-a", "strict")
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py")
    write(env.a / "scratch.txt", "untracked\n")
    before = head(env.a)
    refused(env, env.a, before, commit(env.a), "scratch.txt", "path_not_claimed")
    os.unlink(env.a / "scratch.txt")
    env.change(env.a, "docs/guide.md", stage=False)  # unstaged tracked change
    refused(env, env.a, before, commit(env.a), "docs/guide.md", "path_not_claimed")
    git(env.a, "checkout", "--", "docs/guide.md")
    res = commit(env.a)
    assert res.code == 0, res.err


def test_strict_allows_owned_untracked(env: Env) -> None:
    env.mode("agent-a", "strict")
    env.lease("agent-a", "src/auth/login.py", "notes.txt")
    env.change(env.a, "src/auth/login.py")
    write(env.a / "notes.txt", "mine\n")
    res = commit(env.a)
    assert res.code == 0, res.err
    data = env.cli.json("gate", "commit", cwd=env.a)
    assert data["changed_files"] == ["notes.txt"] and data["ok"]


# --- what is being committed --------------------------------------------------------------------


def test_commit_all_judges_the_temporary_index(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py", stage=False)
    env.change(env.a, "docs/guide.md", stage=False)
    before = head(env.a)
    res = commit(env.a, "all", "-a")
    refused(env, env.a, before, res, "docs/guide.md", "path_not_claimed")
    git(env.a, "checkout", "--", "docs/guide.md")
    res = commit(env.a, "all", "-a")
    assert res.code == 0, res.err
    assert git(env.a, "show", "--name-only", "--format=", "HEAD").split() == ["src/auth/login.py"]


def test_partial_commit_judges_only_the_named_path(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "docs/guide.md")  # staged, unowned
    env.change(env.a, "src/auth/login.py", "edited\n", stage=False)
    res = commit(env.a, "partial", "--", "src/auth/login.py")
    assert res.code == 0, res.err
    assert git(env.a, "show", "--name-only", "--format=", "HEAD").split() == ["src/auth/login.py"]
    assert git(env.a, "diff", "--cached", "--name-only").split() == ["docs/guide.md"]
    gate = env.last("commit_gate")
    assert gate["details"]["staged"] == 1 and gate["status"] == "allowed"
    # The other way round: only the unowned path is judged, and refused.
    env.change(env.a, "src/auth/login.py", "again\n")
    before = head(env.a)
    res = commit(env.a, "partial", "--", "docs/guide.md")
    refused(env, env.a, before, res, "docs/guide.md", "path_not_claimed")
    assert "src/auth/login.py" not in res.err


def test_rename_judges_both_sides(env: Env) -> None:
    env.mode("agent-a", "guarded")
    tid, _ = env.lease("agent-a", "src/auth/login.py")
    git(env.a, "mv", "src/auth/login.py", "src/auth/signin.py")
    before = head(env.a)
    res = commit(env.a)
    refused(env, env.a, before, res, "src/auth/signin.py", "path_not_claimed")
    assert "src/auth/login.py:" not in res.err
    env.cli.ok("release", tid)
    env.cli.ok("claim", tid, "agent-a", "src/auth/signin.py")
    res = commit(env.a)  # now the source side is the unowned one
    refused(env, env.a, before, res, "src/auth/login.py", "path_not_claimed")
    env.cli.ok("claim", tid, "agent-a", "src/auth/login.py")
    assert commit(env.a).code == 0
    data = env.cli.json("gate", "commit", cwd=env.a)
    assert data["staged_files"] == []


def test_deletion_is_judged(env: Env) -> None:
    env.mode("agent-a", "guarded")
    tid, _ = env.lease("agent-a", "src/auth/login.py")
    git(env.a, "rm", "-q", "docs/guide.md")
    before = head(env.a)
    refused(env, env.a, before, commit(env.a), "docs/guide.md", "path_not_claimed")
    env.cli.ok("claim", tid, "agent-a", "docs/guide.md")
    assert commit(env.a).code == 0
    assert not (env.a / "docs" / "guide.md").exists()


def test_file_name_with_spaces(env: Env) -> None:
    env.mode("agent-a", "guarded")
    tid, _ = env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "docs/my notes.md")
    before = head(env.a)
    res = commit(env.a)
    refused(env, env.a, before, res, "docs/my notes.md", f"switchman-hook claim {tid} agent-a 'docs/my notes.md'")
    env.cli.ok("claim", tid, "agent-a", "docs/my notes.md")
    assert commit(env.a).code == 0


@pytest.mark.parametrize(
    "raw",
    [b"docs/line\nbreak.md", b"docs/caf\xe9-latin1.md", b"docs/\xff\xfe odd\tname.md"],
    ids=["newline", "latin1", "bytes-tab"],
)
def test_file_names_with_newlines_and_non_utf8_bytes(env: Env, raw: bytes) -> None:
    env.mode("agent-a", "guarded")
    git(env.a, "config", "core.quotepath", "true")  # irrelevant: everything is read with -z
    tid, _ = env.lease("agent-a", "src/auth/login.py")
    path = os.fsdecode(raw)
    (env.a / "docs").mkdir(exist_ok=True)
    with open(os.path.join(os.fsencode(env.a), raw), "wb") as fh:
        fh.write(b"odd\n")
    subprocess.run([b"git", b"add", b"--", raw], cwd=env.a, check=True)
    before = head(env.a)
    res = commit(env.a)
    refused(env, env.a, before, res, "path_not_claimed")
    assert "Traceback" not in res.err
    data = env.cli("gate", "commit", "--json", cwd=env.a).json
    assert [v["file"] for v in data["violations"]] == [path]
    assert data["staged_files"] == [path]
    # The fix names the exact bytes ($'...' quoting), and claiming by that name makes it pass.
    assert data["violations"][0]["fix"].startswith(f"switchman-hook claim {tid} agent-a $'")
    proc = subprocess.run(
        [os.fsencode(run_cli.__globals__["CONSOLE"]), b"claim", tid.encode(), b"agent-a", raw], cwd=env.a, capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    res = commit(env.a)
    assert res.code == 0, res.err
    files = subprocess.run(["git", "show", "-z", "--name-only", "--format=", "HEAD"], cwd=env.a, capture_output=True).stdout
    assert files.rstrip(b"\0") == raw
    writes = [e for e in env.events("write_observed") if e["file_path"] == path]
    assert all(e["worktree"] == "agent-a" for e in writes)


def test_audit_verifies_after_gates_with_odd_names(env: Env) -> None:
    env.lease("agent-a")
    raw = b"caf\xe9 \n.txt"
    with open(os.path.join(os.fsencode(env.a), raw), "wb") as fh:
        fh.write(b"x")
    subprocess.run([b"git", b"add", b"--", raw], cwd=env.a, check=True)
    assert commit(env.a).code == 0  # observed
    assert env.cli.json("audit", "verify")["ok"] is True
