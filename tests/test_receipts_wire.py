"""Receipts wired in (SPEC §11): the hooks write them, pushes carry them, `gate ci` checks them in
a fresh clone with nothing but git, the notes ref and `.switchman-keys` at the base.

Real pushes to a local bare remote, real `git clone`s with no `.switchman/`.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest

from testing.cli import run_cli
from testing.gates import Env, commit, head, run_git, settle
from testing.git import git, write

pytestmark = pytest.mark.slow

REF = "refs/notes/switchman"


def work(env: Env, wt: Path, rel: str, text: str, message: str = "work", *args: str) -> str:
    env.change(wt, rel, text)
    res = commit(wt, message, *args)
    assert res.code == 0, res.err
    return head(wt)


def notes_of(cwd: Path, ref: str = REF) -> dict[str, list[str]]:
    from switchman.receipts.notes import read_all

    if (cwd / ".git").exists():
        settle(cwd)  # receipts of spooled commits are written when the spool is drained
    return read_all(str(cwd), ref)


def predicates(cwd: Path, commit_id: str) -> list[dict]:  # type: ignore[type-arg]
    from switchman.receipts.envelope import peek_predicate

    return [peek_predicate(line) for line in notes_of(cwd).get(commit_id, [])]  # type: ignore[misc]


def trusted(env: Env) -> str:
    """Commit this repo's key to .switchman-keys on main and push main; the base for CI."""
    res = run_cli("trust", "add", cwd=env.root)
    assert res.code == 0, res.err
    git(env.root, "add", ".switchman-keys")
    res = commit(env.root, "trust receipts")
    assert res.code == 0, res.err
    res = run_git(env.root, "push", "-q", "origin", "main")
    assert res.code == 0, res.err
    for wt in (env.a, env.b):
        git(wt, "merge", "-q", "--ff-only", "main")
    return head(env.root)


def fresh_clone(env: Env, name: str = "ci") -> Path:
    dest = env.root.parent / name
    git(env.root.parent, "clone", "-q", str(env.root.parent / "remote.git"), str(dest))
    git(dest, "fetch", "-q", "origin", f"{REF}:{REF}", check=False)
    return dest


def ci(clone: Path, base: str, *args: str) -> dict:  # type: ignore[type-arg]
    res = run_cli("gate", "ci", "--base", base, *args, "--json", cwd=clone)
    assert res.code in (0, 1), res.err
    doc = res.json
    assert set(doc) == {"ok", "base", "head", "commits", "summary"}
    assert (res.code == 0) == doc["ok"]
    return doc


def codes(doc: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {c["commit"]: c["reason_code"] for c in doc["commits"]}


@pytest.fixture
def team(env: Env) -> Env:
    env.remote()
    env.mode("agent-a", "guarded")
    env.mode("agent-b", "guarded")
    return env


# --- writing ---------------------------------------------------------------------------------


def test_every_recorded_commit_gets_a_receipt(team: Env) -> None:
    env = team
    tid, lease = env.lease("agent-a", "src/auth/login.py")
    sha = work(env, env.a, "src/auth/login.py", "v2\n")
    rec = env.last("commit_recorded")
    (pred,) = predicates(env.root, sha)
    assert pred["verdict"] == "allowed" and pred["mode"] == "guarded" and pred["operation"] == "commit"
    assert pred["worktree"] == "agent-a" and pred["task_id"] == tid and pred["lease_id"] == lease
    assert pred["audit_sequence"] == rec["sequence"] and pred["entry_hash"] == rec["entry_hash"]
    assert pred["tree"] == head(env.a, "HEAD^{tree}") and pred["parents"] == [head(env.a, "HEAD^")]
    blob = head(env.a, "HEAD:src/auth/login.py")
    assert pred["changes"] == [f"M src/auth/login.py {blob}"] and pred["source"] is None
    # A bypass gets a receipt too, saying so.
    env.change(env.a, "src/auth/login.py", "v3\n")
    assert commit(env.a, "skip", "--no-verify").code == 0
    assert [p["verdict"] for p in predicates(env.root, head(env.a))] == ["bypassed"]
    # An amend names its source.
    old = head(env.a)
    env.change(env.a, "src/auth/login.py", "v4\n")
    assert commit(env.a, "amended", "--amend", "--no-verify").code == 0
    preds = predicates(env.root, head(env.a))
    assert preds and all(p["verdict"] == "bypassed" for p in preds)
    assert any(p["source"] == old for p in preds) or any(p["operation"] == "amend" for p in preds)


def test_concurrent_commits_lose_no_receipt(team: Env) -> None:
    env = team
    env.lease("agent-a", "src/auth/login.py")
    env.lease("agent-b", "src/billing/invoice.py")

    def run(wt: Path, rel: str, out: list[str]) -> None:
        for i in range(4):
            write(wt / rel, f"{i}\n")
            git(wt, "add", rel)
            assert commit(wt, f"c{i}").code == 0
            out.append(head(wt))

    got_a: list[str] = []
    got_b: list[str] = []
    threads = [threading.Thread(target=run, args=(env.a, "src/auth/login.py", got_a)),
               threading.Thread(target=run, args=(env.b, "src/billing/invoice.py", got_b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    have = notes_of(env.root)
    assert all(c in have for c in got_a + got_b)


# --- pushing and CI in a fresh clone ---------------------------------------------------------


def test_push_carries_receipts_and_ci_passes_in_a_fresh_clone(team: Env) -> None:
    env = team
    base = trusted(env)
    env.lease("agent-a", "src/auth/login.py")
    c1 = work(env, env.a, "src/auth/login.py", "one\n")
    c2 = work(env, env.a, "src/auth/login.py", "two\n")
    res = run_git(env.a, "push", "-q", "origin", "agent-a")
    assert res.code == 0, res.err
    remote_notes = notes_of(env.root.parent / "remote.git")
    assert c1 in remote_notes and c2 in remote_notes
    clone = fresh_clone(env)
    assert not (clone / ".switchman").exists()
    doc = ci(clone, base, "--head", "origin/agent-a")
    assert doc["ok"] and codes(doc) == {c1: "receipt_ok", c2: "receipt_ok"}
    assert doc["base"] == base and doc["head"] == c2
    # --require-mode guarded: these were judged in guarded mode.
    assert ci(clone, base, "--head", "origin/agent-a", "--require-mode", "guarded")["ok"]
    # Human output, and --fetch in a clone that has not fetched the notes.
    bare = env.root.parent / "bare-clone"
    git(env.root.parent, "clone", "-q", str(env.root.parent / "remote.git"), str(bare))
    assert not ci(bare, base, "--head", "origin/agent-a")["ok"]  # no notes: missing_provenance
    assert ci(bare, base, "--head", "origin/agent-a", "--fetch", "origin")["ok"]
    res = run_cli("gate", "ci", "--base", base, "--head", "origin/agent-a", cwd=bare)
    assert res.code == 0 and "ci gate passed: 2 commit(s)" in res.out
    # A missing base is bad input, not "not initialised".
    res = run_cli("gate", "ci", "--base", "no-such-rev", cwd=bare)
    assert res.code == 2 and res.err.startswith("error: ")


def test_observed_receipts_fail_require_mode_guarded(env: Env) -> None:
    env.remote()
    base = trusted(env)
    work(env, env.a, "src/auth/login.py", "one\n")  # observed, no lease: allowed with warnings
    assert run_git(env.a, "push", "-q", "origin", "agent-a").code == 0
    clone = fresh_clone(env)
    doc = ci(clone, base, "--head", "origin/agent-a", "--require-mode", "guarded")
    assert not doc["ok"] and list(codes(doc).values()) == ["receipt_mode_too_weak"]


def test_failures_each_with_their_code(team: Env) -> None:
    env = team
    base = trusted(env)
    env.lease("agent-a", "src/auth/login.py")
    good = work(env, env.a, "src/auth/login.py", "one\n")
    bypass = work(env, env.a, "src/auth/login.py", "two\n", "skip", "--no-verify")
    # An unhooked commit (no hooks at all), pushed with --no-verify.
    env.change(env.a, "src/auth/login.py", "three\n")
    assert run_git(env.a, "-c", "core.hooksPath=/nonexistent", "commit", "-q", "-m", "unhooked").code == 0
    unhooked = head(env.a)
    assert run_git(env.a, "push", "-q", "--no-verify", "origin", "agent-a").code == 0
    # Pushed with --no-verify: the receipts did not travel; push them by hand, after any switchman
    # command (here the drain it starts with) has recorded the spooled bypass and written its receipt.
    settle(env.root)
    assert run_git(env.root, "push", "-q", "--no-verify", "origin", f"{REF}:{REF}").code == 0
    clone = fresh_clone(env)
    got = codes(ci(clone, base, "--head", "origin/agent-a"))
    assert got == {good: "receipt_ok", bypass: "commit_gate_bypassed", unhooked: "missing_provenance"}

    # Tampering, done in the clone (what a forge sees): edit, copy, untrusted key.
    from switchman.checkpoint.keys import Signer
    from switchman.receipts import envelope, notes

    line = notes_of(clone)[good][0]
    env_doc = json.loads(line)
    payload = json.loads(__import__("base64").b64decode(env_doc["payload"]))
    payload["predicate"]["mode"] = "strict"
    env_doc["payload"] = __import__("base64").b64encode(envelope._compact(payload).encode()).decode()
    edited = envelope.dump_line(env_doc)
    # The copy: the good receipt put on the unhooked commit; a stranger's key on the bypass.
    stranger = Signer.generate("stranger")
    st = envelope.build_statement(
        bypass, tree=head(clone, f"{bypass}^{{tree}}"), parents=[head(clone, f"{bypass}^")], verdict="allowed",
        mode="guarded", operation="commit", changes=[f"M src/auth/login.py {head(clone, f'{bypass}:src/auth/login.py')}"],
    )
    git(clone, "update-ref", "-d", REF)
    notes.append(str(clone), {good: [edited], bypass: [envelope.receipt_line(st, stranger)]})
    got = codes(ci(clone, base, "--head", "origin/agent-a"))
    assert got == {good: "receipt_signature_invalid", bypass: "untrusted_key", unhooked: "missing_provenance"}
    other = fresh_clone(env, "ci-copy")
    notes.append(str(other), {unhooked: [line]})
    got = codes(ci(other, base, "--head", "origin/agent-a"))
    assert got == {good: "receipt_ok", bypass: "commit_gate_bypassed", unhooked: "receipt_mismatch"}


def test_rebased_branch_and_forge_squash_pass(team: Env) -> None:
    env = team
    base = trusted(env)
    env.lease("agent-a", "src/auth/login.py", "src/billing/invoice.py")
    work(env, env.a, "src/auth/login.py", "one\n")
    work(env, env.a, "src/billing/invoice.py", "two\n")
    assert run_git(env.a, "push", "-q", "origin", "agent-a").code == 0
    # main moves on (through the hooks in the main worktree, observed mode).
    write(env.root / "docs" / "guide.md", "# moved on\n")
    git(env.root, "add", "docs/guide.md")
    assert commit(env.root, "docs").code == 0
    assert run_git(env.root, "push", "-q", "origin", "main").code == 0
    # The agent rebases through the hooks: the picks keep their changes digest.
    git(env.a, "fetch", "-q", "origin")
    res = run_git(env.a, "rebase", "-q", "origin/main")
    assert res.code == 0, res.err
    assert run_git(env.a, "push", "-q", "-f", "origin", "agent-a").code == 0, "rebased push"
    clone = fresh_clone(env, "ci2")
    doc = ci(clone, base, "--head", "origin/agent-a")
    assert doc["ok"], doc
    assert set(codes(doc).values()) <= {"receipt_ok", "rebased"}
    # The forge squashes the branch onto main: no hooks, no receipt of its own.
    forge = fresh_clone(env, "forge")
    git(forge, "merge", "-q", "--squash", "origin/agent-a")
    git(forge, "commit", "-q", "-m", "squash")
    squash = head(forge)
    git(forge, "fetch", "-q", "origin", f"{REF}:{REF}")
    doc = ci(forge, head(forge, "HEAD^"), "--head", squash)
    assert doc["ok"] and codes(doc) == {squash: "forge_merge"}


def test_two_agents_pushing_at_once_lose_no_receipt(team: Env) -> None:
    env = team
    trusted(env)
    env.lease("agent-a", "src/auth/login.py")
    env.lease("agent-b", "src/billing/invoice.py")
    a = work(env, env.a, "src/auth/login.py", "a\n")
    b = work(env, env.b, "src/billing/invoice.py", "b\n")
    results: dict[str, int] = {}

    def push(wt: Path, branch: str) -> None:
        results[branch] = run_git(wt, "push", "-q", "origin", branch).code

    threads = [threading.Thread(target=push, args=(env.a, "agent-a")), threading.Thread(target=push, args=(env.b, "agent-b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"agent-a": 0, "agent-b": 0}
    remote_notes = notes_of(env.root.parent / "remote.git")
    assert a in remote_notes and b in remote_notes


def test_push_refused_when_notes_cannot_be_pushed(team: Env) -> None:
    env = team
    env.lease("agent-a", "src/auth/login.py")
    work(env, env.a, "src/auth/login.py", "one\n")
    bare = env.root.parent / "remote.git"
    hook = bare / "hooks" / "update"
    write(hook, f'#!/bin/sh\ncase "$1" in {REF}) echo "notes are not allowed" >&2; exit 1;; esac\nexit 0\n')
    hook.chmod(0o755)
    res = run_git(env.a, "push", "-q", "origin", "agent-a")
    assert res.code != 0 and "receipts_not_pushed" in res.err
    assert "switchman-hook push" in res.err
    assert run_git(bare, "rev-parse", "-q", "--verify", "refs/heads/agent-a").code != 0
    # Observed mode warns and lets the branch through.
    env.mode("agent-a", "observed")
    res = run_git(env.a, "push", "-q", "origin", "agent-a")
    assert res.code == 0 and "receipts_not_pushed" in res.err


def test_switchman_push_is_atomic_branch_and_notes(team: Env) -> None:
    env = team
    env.lease("agent-a", "src/auth/login.py")
    sha = work(env, env.a, "src/auth/login.py", "one\n")
    res = run_cli("push", "origin", "agent-a", cwd=env.a)
    assert res.code == 0, res.err
    bare = env.root.parent / "remote.git"
    assert head(bare, "refs/heads/agent-a") == sha and sha in notes_of(bare)


# --- trust -----------------------------------------------------------------------------------


def test_trust_add_is_idempotent_and_rotation_keeps_old_receipts(team: Env) -> None:
    env = team
    first = run_cli("trust", "add", "--json", cwd=env.root).json
    assert first["added"] is True
    assert run_cli("trust", "add", "--json", cwd=env.root).json["added"] is False
    listed = run_cli("trust", "list", "--json", cwd=env.root).json["keys"]
    assert [k["verifier_key"] for k in listed] == [first["verifier_key"]]
    git(env.root, "add", ".switchman-keys")
    assert commit(env.root, "trust").code == 0
    env.lease("agent-a", "src/auth/login.py")
    git(env.a, "merge", "-q", "--ff-only", "main")
    base = head(env.root)
    old = work(env, env.a, "src/auth/login.py", "old key\n")
    assert run_cli("audit", "rotate-key", cwd=env.root).code == 0
    second = run_cli("trust", "add", "--json", cwd=env.root).json
    assert second["added"] is True and second["verifier_key"] != first["verifier_key"]
    keys_file = env.root / ".switchman-keys"
    new = work(env, env.a, "src/auth/login.py", "new key\n")
    clone_keys = env.root.parent / "keys.txt"
    clone_keys.write_text(keys_file.read_text())
    doc = ci(env.a, base, "--trusted-keys", str(clone_keys))
    assert codes(doc) == {old: "receipt_ok", new: "receipt_ok"}
    # Bad line: an error naming it, exit 2.
    clone_keys.write_text("# ok\nnot a key\n")
    res = run_cli("gate", "ci", "--base", base, "--trusted-keys", str(clone_keys), cwd=env.a)
    assert res.code == 2 and "line 2" in res.err


def test_keys_are_read_from_the_base_never_the_head(team: Env) -> None:
    """A PR that adds its own key to .switchman-keys does not make its receipts trusted."""
    env = team
    env.remote()
    base = head(env.root)  # no .switchman-keys at the base
    env.lease("agent-a", "src/auth/login.py", ".switchman-keys")
    work(env, env.a, "src/auth/login.py", "one\n")
    run_cli("trust", "add", cwd=env.a)
    git(env.a, "add", ".switchman-keys")
    assert commit(env.a, "trust myself").code == 0
    assert run_git(env.a, "push", "-q", "origin", "agent-a").code == 0
    clone = fresh_clone(env)
    doc = ci(clone, base, "--head", "origin/agent-a")
    assert not doc["ok"] and set(codes(doc).values()) == {"untrusted_key"}


def test_gate_ci_fresh_clone_needs_no_init(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    write(src / "a.txt", "a\n")
    git(src, "add", "a.txt")
    git(src, "commit", "-q", "-m", "one")
    base = head(src)
    write(src / "a.txt", "b\n")
    git(src, "commit", "-q", "-am", "two")
    doc = ci(src, base)
    assert not doc["ok"] and list(codes(doc).values()) == ["missing_provenance"]
    assert doc["summary"]["trusted_keys"] == 0
    proc = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=src, capture_output=True, text=True)
    assert ".switchman" not in proc.stdout  # nothing created


def test_doctor_receipts_check(team: Env) -> None:
    env = team
    env.lease("agent-a", "src/auth/login.py")
    work(env, env.a, "src/auth/login.py", "one\n")

    def receipts() -> dict:  # type: ignore[type-arg]
        doc = run_cli("doctor", "--json", cwd=env.root).json
        return next(c for c in doc["checks"] if c["id"] == "receipts")

    got = receipts()
    assert got["status"] == "warn" and "not on origin" in got["detail"] and "switchman-hook push origin" in got["fix"]
    assert run_git(env.a, "push", "-q", "origin", "agent-a").code == 0
    assert receipts()["status"] == "ok"
    # Receipts are derived from the signed rows: doctor writes the ones that went missing.
    git(env.root, "update-ref", "-d", REF)
    got = receipts()
    assert got["status"] == "warn" and "not on origin" in got["detail"]
    assert notes_of(env.root)
