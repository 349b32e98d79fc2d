"""The sh post-commit spools; the next hook or command records (switchman/spool.py, issue 15).

Real commits through the installed scripts. The store is read with plain sqlite3 where the test
must see it *before* anything drains (Env.db() and the CLI drain first, by design).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from switchman import spool
from testing.gates import Env, commit, head, run_git, settle
from testing.git import git, write


def raw_events(env: Env) -> list[tuple[int, str, str | None]]:
    """(sequence, event type, details) straight from the file: no drain on the way."""
    conn = sqlite3.connect(f"file:{env.root / '.switchman' / 'switchman.db'}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT sequence, event_type, details FROM audit_log ORDER BY sequence"))
    finally:
        conn.close()


def spooled(env: Env) -> list[Path]:
    return sorted((env.root / ".git" / spool.SPOOL).iterdir())


def recorded(env: Env, sha: str) -> int:
    return sum(1 for _, ev, d in raw_events(env) if ev in ("commit_recorded", "commit_gate_bypassed") and d and sha in d)


def test_post_commit_spools_and_the_next_command_records(env: Env) -> None:
    env.change(env.a, "src/auth/login.py", "v2\n")
    assert commit(env.a, "one").code == 0
    sha = head(env.a)
    (entry,) = spooled(env)
    fields = entry.read_text().rstrip("\n").split("\t")
    assert entry.name.startswith(sha + "-") and fields[:3] == ["1", sha, "agent-a"]
    assert fields[5] == "commit" and recorded(env, sha) == 0  # not in the store yet
    # Any command records it first (status here); the receipt waits for doctor or the push.
    env.cli.ok("status")
    assert spooled(env) == [] and recorded(env, sha) == 1
    assert env.last("commit_recorded")["details"]["commit"] == sha
    assert run_git(env.root, "notes", "--ref", "switchman", "list", sha).code != 0
    env.cli("doctor")
    assert git(env.root, "notes", "--ref", "switchman", "list", sha).strip()


def test_the_next_hook_records_before_it_judges(env: Env) -> None:
    env.change(env.a, "src/auth/login.py", "v2\n")
    assert commit(env.a, "one").code == 0
    first = head(env.a)
    env.change(env.b, "src/billing/invoice.py", "v2\n")
    assert commit(env.b, "two").code == 0  # another worktree's pre-commit drains agent-a's spool
    events = raw_events(env)
    rec = next(s for s, ev, d in events if ev == "commit_recorded" and d and first in d)
    gates = [s for s, ev, _ in events if ev == "commit_gate"]
    assert gates[0] < rec < gates[1]  # recorded ahead of the second gate's own row
    assert len(spooled(env)) == 1  # the second commit waits for the next one


def test_amend_rebase_and_picks_are_classified_from_the_spool(env: Env) -> None:
    env.change(env.a, "src/auth/login.py", "v2\n")
    assert commit(env.a, "one").code == 0
    env.change(env.a, "src/auth/login.py", "v3\n")
    assert commit(env.a, "one again", "--amend", "--no-verify").code == 0
    amended = head(env.a)
    env.change(env.b, "src/billing/invoice.py", "v2\n")
    assert commit(env.b, "elsewhere").code == 0  # a pick onto another parent: a new commit id
    git(env.b, "cherry-pick", amended)
    picked = head(env.b)
    git(env.b, "revert", "--no-edit", "HEAD")
    reverted = head(env.b)
    settle(env.root)
    rows = [json.loads(e["details"]) for e in env.events("commit_recorded") + env.events("commit_gate_bypassed")]
    ops = {d["commit"]: d["operation"] for d in rows}
    assert ops[amended] == "amend" and ops[picked] == "cherry-pick" and ops[reverted] == "revert"


def test_each_commit_is_recorded_exactly_once_with_racing_drainers(env: Env) -> None:
    shas = []
    for i in range(6):
        env.change(env.a, "src/auth/login.py", f"v{i}\n")
        assert commit(env.a, f"c{i}", "--no-verify").code == 0  # no pre-commit: nothing drains
        shas.append(head(env.a))
    assert len(spooled(env)) == 6
    threads = [threading.Thread(target=settle, args=(env.root,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert spooled(env) == [] and [recorded(env, s) for s in shas] == [1] * 6
    # In commit order: each worktree's entries are chained by their reflog.
    order = [d for _, ev, d in raw_events(env) if ev == "commit_gate_bypassed"]
    assert [next(s for s in shas if s in d) for d in order] == shas
    assert env.cli.json("audit", "verify")["ok"]


def test_a_lost_spool_loses_no_check(env: Env) -> None:
    env.remote()
    env.mode("agent-a", "guarded")
    env.lease("agent-a", "src/auth/login.py")
    env.change(env.a, "src/auth/login.py", "v2\n")
    assert commit(env.a, "one").code == 0
    for p in spooled(env):
        p.unlink()
    res = run_git(env.a, "push", "-q", "origin", "agent-a")
    assert res.code != 0 and "missing_provenance" in res.err


def test_foreign_partial_and_stale_files(env: Env) -> None:
    folder = env.root / ".git" / spool.SPOOL
    write(folder / "junk", "not a spool line\n")
    write(folder / "writing", "1\t" + "a" * 40)  # no LF yet: an sh hook is writing it
    old = write(folder / "abandoned", "1\t" + "b" * 40)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    write(folder / "gone", f"1\t{'c' * 40}\tagent-a\n")  # a commit that does not exist
    settle(env.root)
    assert sorted(p.name for p in folder.iterdir()) == ["writing"]
    assert env.cli.json("audit", "verify")["ok"]


def test_no_spool_records_in_process(env: Env) -> None:
    env.change(env.a, "src/auth/login.py", "v2\n")
    assert commit(env.a, "one", env={"SWITCHMAN_NO_SPOOL": "1"}).code == 0
    assert spooled(env) == [] and recorded(env, head(env.a)) == 1


def test_a_store_that_cannot_answer_keeps_the_spool_until_it_can(env: Env) -> None:
    env.change(env.a, "src/auth/login.py", "v2\n")
    assert commit(env.a, "one").code == 0
    sha = head(env.a)
    db = env.root / ".switchman" / "switchman.db"
    aside = db.with_name("aside.db")
    db.rename(aside)
    try:
        res = env.cli("status")
        assert res.code != 0 and len(spooled(env)) == 1
    finally:
        aside.rename(db)
    doc = env.cli("doctor", "--json").json
    assert {c["id"]: c["status"] for c in doc["checks"]}["spool"] == "ok"  # doctor drained it
    assert spooled(env) == [] and recorded(env, sha) == 1


def test_push_writes_the_receipts_a_recorded_commit_lacks(env: Env) -> None:
    """Receipts are written where they travel: the push writes the ones its commits lack."""
    env.remote()
    env.change(env.a, "src/auth/login.py", "v2\n")
    assert commit(env.a, "one").code == 0
    sha = head(env.a)
    settle(env.root)
    git(env.root, "update-ref", "-d", "refs/notes/switchman")  # no receipt written yet
    assert run_git(env.a, "push", "-q", "origin", "agent-a").code == 0
    assert git(env.root.parent / "remote.git", "notes", "--ref", "switchman", "list", sha).strip()
    (line,) = git(env.root, "notes", "--ref", "switchman", "show", sha).strip().splitlines()
    from switchman.receipts.envelope import peek_predicate

    pred = peek_predicate(line)
    assert pred["verdict"] == "observed" or pred["mode"] == "observed"


def test_a_merge_made_while_the_store_is_down_is_recorded_when_it_is_back(env: Env) -> None:
    """post-merge (Python) cannot reach the store: it spools the merge commit, as post-commit does."""
    git(env.b, "checkout", "-q", "-b", "side")
    env.change(env.b, "docs/side.md", "side\n")
    assert commit(env.b, "side").code == 0
    git(env.b, "checkout", "-q", "agent-b")
    settle(env.root)
    db = env.root / ".switchman" / "switchman.db"
    aside = db.with_name("aside.db")
    db.rename(aside)
    try:
        res = run_git(env.b, "merge", "-q", "--no-ff", "-m", "merge side", "side")
        assert res.code == 0 and "kept in the spool" in res.err, res.err  # observed: warned, not refused
    finally:
        aside.rename(db)
    merge = head(env.b)
    assert any(p.name.startswith(merge) for p in spooled(env))
    settle(env.root)
    assert recorded(env, merge) == 1
    details = [json.loads(d) for _, ev, d in raw_events(env) if d and merge in d and ev in ("commit_recorded", "commit_gate_bypassed")]
    assert details[0]["operation"] == "merge"
