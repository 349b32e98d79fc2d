"""Leases, claims and scope reservations through the CLI, on real linked worktrees, on both
backends (SPEC §12)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from testing.cli import Cli, assert_error, json_error, run_cli
from testing.db import age_heartbeat, events, query, scalar

pytestmark = pytest.mark.both_backends


def add(cli: Cli, tid: str, *spec_args: str, priority: int = 5) -> None:
    cli.ok("task", "add", tid, "--id", tid, "-p", str(priority))
    if spec_args:
        cli.ok("task", "spec", tid, *spec_args)


def acquire(cli: Cli, tid: str, wt: str) -> str:
    return cli.json("lease", "acquire", tid, wt)["lease"]["id"]


# --- acquire -----------------------------------------------------------------------------------


def test_lease_acquire(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "T1")
    data = cli.json("lease", "acquire", "T1", "agent-a", "--agent", "claude-1")
    assert set(data) == {"lease", "task"}
    lease, task = data["lease"], data["task"]
    assert lease["task_id"] == "T1" and lease["worktree"] == "agent-a" and lease["agent"] == "claude-1"
    assert lease["status"] == "active" and lease["stale"] is False
    assert lease["id"].startswith("lease-")
    assert task["status"] == "in_progress" and task["worktree"] == "agent-a" and task["agent"] == "claude-1"
    wt = {w["name"]: w for w in cli.json("worktree", "list")["worktrees"]}["agent-a"]
    assert wt["status"] == "busy" and wt["agent"] == "claude-1"
    started = events(initialised, "lease_started")
    assert len(started) == 1 and started[0]["lease_id"] == lease["id"] and started[0]["status"] == "allowed"
    assert json.loads(started[0]["details"]) == {"agent": "claude-1"}
    human = cli.ok("lease", "list").out
    assert lease["id"] in human


def test_one_active_lease_per_task_and_per_worktree(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "T1")
    add(cli, "T2")
    lease = acquire(cli, "T1", "agent-a")
    line = assert_error(cli("lease", "acquire", "T1", "agent-b"), 1)
    assert lease in line and "agent-a" in line
    err = json_error(cli("lease", "acquire", "T1", "agent-b", "--json"), 1, "lease_held")
    assert err["holder"]["lease_id"] == lease
    line = assert_error(cli("lease", "acquire", "T2", "agent-a"), 1)
    assert lease in line and "T1" in line
    # neither refusal left anything behind
    assert scalar(initialised, "SELECT COUNT(*) FROM leases") == 1
    assert cli.json("task", "show", "T2")["task"]["status"] == "pending"
    acquire(cli, "T2", "agent-b")


def test_acquire_errors(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "T1")
    assert_error(cli("lease", "acquire", "T1", "nowhere"), 1, "nowhere")
    json_error(cli("lease", "acquire", "T1", "nowhere", "--json"), 1, "unknown_worktree")
    assert_error(cli("lease", "acquire", "T1"), 2)
    assert_error(cli("lease", "acquire"), 2)
    cli.ok("task", "done", "T1")
    assert_error(cli("lease", "acquire", "T1", "agent-a"), 1, "done")


def test_worktree_given_by_path(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    a, b = agents
    add(cli, "T1")
    add(cli, "T2")
    add(cli, "T3")
    # absolute path of the top level
    assert cli.json("lease", "acquire", "T1", str(a))["lease"]["worktree"] == "agent-a"
    # a path relative to -C DIR (not to the process cwd), and a subdirectory of a worktree
    assert cli.json("lease", "acquire", "T2", "../agent-b/src")["lease"]["worktree"] == "agent-b"
    # `.` from inside the main worktree (real console script, real cwd)
    res = run_cli("lease", "acquire", "T3", ".", "--json", cwd=initialised / "docs")
    assert res.code == 0, res.err
    assert json.loads(res.out)["lease"]["worktree"] == "main"


# --- next --------------------------------------------------------------------------------------


def test_lease_next_takes_the_highest_priority_free_task(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    assert cli.json("lease", "next", "agent-a") == {"lease": None, "task": None}
    assert cli.ok("lease", "next", "agent-a").out.strip() == "no pending task"
    add(cli, "LOW", priority=1)
    add(cli, "HIGH", "--allowed-path", "src/**", priority=9)
    add(cli, "MID", "--allowed-path", "src/auth/**", priority=5)
    first = cli.json("lease", "next", "agent-a", "--agent", "bot")
    assert first["task"]["id"] == "HIGH" and first["lease"]["agent"] == "bot"
    # MID's scope overlaps HIGH's reservation: skipped, LOW is next
    assert cli.json("lease", "next", "agent-b")["task"]["id"] == "LOW"
    assert_error(cli("lease", "next", "agent-a"), 1, "already holds")
    assert cli.json("lease", "next", "main") == {"lease": None, "task": None}
    assert scalar(initialised, "SELECT COUNT(*) FROM audit_log WHERE event_type = 'scope_reservation_denied'") == 0
    assert_error(cli("lease", "next", "ghost"), 1, "ghost")


# --- list / show / heartbeat / done / fail -------------------------------------------------------


def test_lease_list_show_heartbeat_done_fail(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "T1", "--allowed-path", "src/auth/**", "--subsystem", "auth")
    add(cli, "T2")
    l1 = acquire(cli, "T1", "agent-a")
    l2 = acquire(cli, "T2", "agent-b")
    cli.ok("claim", "T1", "agent-a", "src/auth/login.py")

    show = cli.json("lease", "show", l1)
    assert set(show) == {"lease", "task", "spec", "worktree", "claims", "reservations"}
    assert show["task"]["id"] == "T1" and show["worktree"]["name"] == "agent-a"
    assert show["spec"]["allowed_paths"] == ["src/auth/**"]
    assert [c["file_path"] for c in show["claims"]] == ["src/auth/login.py"]
    kinds = sorted((r["ownership_level"], r["scope_pattern"] or r["subsystem_tag"]) for r in show["reservations"])
    assert kinds == [("path_scope", "src/auth/**"), ("subsystem", "auth")]
    assert "scope: src/auth/**" in cli.ok("lease", "show", l1).out

    before = show["lease"]["heartbeat_at"]
    age_heartbeat(initialised, l1, 5)
    hb = cli.json("lease", "heartbeat", l1, "--agent", "a2")["lease"]
    assert hb["heartbeat_at"] >= before
    assert hb["agent"] == "a2"
    assert events(initialised, "lease_heartbeated")[-1]["lease_id"] == l1

    done = cli.json("lease", "done", l1)
    assert done["lease"]["status"] == "completed" and done["task"]["status"] == "done"
    failed = cli.json("lease", "fail", l2, "gave up")
    assert failed["lease"]["status"] == "failed" and failed["lease"]["failure_reason"] == "gave up"
    assert failed["task"]["status"] == "failed"

    assert [r["id"] for r in cli.json("lease", "list", "--status", "completed")["leases"]] == [l1]
    assert [r["id"] for r in cli.json("lease", "list", "--status", "failed")["leases"]] == [l2]
    assert cli.json("lease", "list", "--status", "active")["leases"] == []
    assert len(cli.json("lease", "list")["leases"]) == 2
    assert_error(cli("lease", "list", "--status", "zombie"), 2)

    assert_error(cli("lease", "heartbeat", l1), 1, "completed")
    assert_error(cli("lease", "done", l1), 1, "completed")
    assert_error(cli("lease", "fail", l2), 1, "failed")
    for cmd in ("show", "heartbeat", "done", "fail"):
        assert_error(cli("lease", cmd, "lease-nope"), 1, "lease-nope")
    json_error(cli("lease", "show", "lease-nope", "--json"), 1, "unknown_lease")


# --- reap ----------------------------------------------------------------------------------------


def test_reap_expires_stale_leases_and_requeues(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "OLD", "--allowed-path", "src/auth/**", "--subsystem", "auth")
    add(cli, "NEW", "--allowed-path", "docs/**")
    old = acquire(cli, "OLD", "agent-a")
    new = acquire(cli, "NEW", "agent-b")
    cli.ok("claim", "OLD", "agent-a", "src/auth/login.py")
    age_heartbeat(initialised, old, 20)

    stale = cli.json("lease", "list", "--status", "stale")["leases"]
    assert [lease["id"] for lease in stale] == [old] and stale[0]["stale"] is True
    assert "STALE" in cli.ok("lease", "list").out
    assert {lease["id"]: lease["stale"] for lease in cli.json("status")["leases"]} == {old: True, new: False}

    reaped = cli.json("lease", "reap")["expired"]
    assert [lease["id"] for lease in reaped] == [old]
    assert reaped[0]["status"] == "expired"
    assert cli.json("task", "show", "OLD")["task"]["status"] == "pending"
    assert cli.json("task", "show", "OLD")["task"]["worktree"] is None
    assert cli.json("claims")["claims"] == []
    assert scalar(initialised, "SELECT COUNT(*) FROM scope_reservations WHERE lease_id = ? AND released_at IS NULL", (old,)) == 0
    expired = events(initialised, "lease_expired")
    assert expired[0]["lease_id"] == old and expired[0]["status"] == "warn"
    assert [e["file_path"] for e in events(initialised, "claim_released")] == ["src/auth/login.py"]
    assert cli.json("lease", "show", new)["lease"]["status"] == "active"
    assert cli.ok("lease", "reap").out.strip() == "no stale leases"

    # the freed scope and worktree can be used again
    assert cli.json("lease", "acquire", "OLD", "agent-a")["lease"]["status"] == "active"

    # --stale-after 0 expires every active lease, however fresh
    assert {lease["id"] for lease in cli.json("lease", "reap", "--stale-after", "0")["expired"]} >= {new}
    assert cli.json("lease", "list", "--status", "active")["leases"] == []
    assert_error(cli("lease", "reap", "--stale-after", "-1"), 2)
    assert_error(cli("lease", "reap", "--stale-after", "soon"), 2)
    assert cli.json("audit", "verify")["ok"] is True


def test_reap_window_from_policy(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "T1")
    lease = acquire(cli, "T1", "agent-a")
    age_heartbeat(initialised, lease, 5)
    assert cli.json("lease", "reap")["expired"] == []  # default window 15 minutes
    policy = initialised / ".switchman" / "enforcement.json"
    data = json.loads(policy.read_text())
    data["stale_lease_minutes"] = 2
    policy.write_text(json.dumps(data))
    assert [r["id"] for r in cli.json("lease", "reap")["expired"]] == [lease]


def test_heartbeat_revives_a_stale_lease(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "T1")
    lease = acquire(cli, "T1", "agent-a")
    age_heartbeat(initialised, lease, 30)
    assert cli.json("lease", "show", lease)["lease"]["stale"] is True
    cli.ok("lease", "heartbeat", lease)
    assert cli.json("lease", "show", lease)["lease"]["stale"] is False
    assert cli.json("lease", "reap")["expired"] == []


# --- claims ----------------------------------------------------------------------------------------


def test_claim_is_all_or_nothing(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "A")
    add(cli, "B")
    la = acquire(cli, "A", "agent-a")
    got = cli.json("claim", "A", "agent-a", "src/auth/login.py", "./docs//guide.md", "src/new file.py")
    assert got["ok"] is True
    assert sorted(c["file_path"] for c in got["claims"]) == ["docs/guide.md", "src/auth/login.py", "src/new file.py"]
    assert all(c["lease_id"] == la for c in got["claims"])
    # re-claiming your own paths is a no-op, not a conflict
    cli.ok("claim", "A", "agent-a", "src/auth/login.py")
    assert len(events(initialised, "file_claimed")) == 3

    acquire(cli, "B", "agent-b")
    res = cli("claim", "B", "agent-b", "README.md", "src/auth/login.py")
    line = assert_error(res, 1, "src/auth/login.py → A")
    assert la in line and "agent-a" in line
    err = json_error(cli("claim", "B", "agent-b", "README.md", "docs/guide.md", "--json"), 1, "path_claimed_by_other_lease")
    assert err["conflicts"] == [
        {"file": "docs/guide.md", "holder": {"task_id": "A", "lease_id": la, "worktree": "agent-a"}}
    ]
    # nothing of the refused claims was taken
    assert [c["file_path"] for c in cli.json("claims", "--worktree", "agent-b")["claims"]] == []
    cli.ok("claim", "B", "agent-b", "README.md")
    assert [c["file_path"] for c in cli.json("claims", "--worktree", "agent-b")["claims"]] == ["README.md"]
    assert len(cli.json("claims")["claims"]) == 4
    assert [c["task_id"] for c in cli.json("claims", "--worktree", str(agents[0]))["claims"]] == ["A", "A", "A"]
    assert_error(cli("claims", "--worktree", "ghost"), 1, "ghost")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("../x", "path_outside_repo"),
        ("src/../../x", "path_outside_repo"),
        ("/etc/passwd", "path_outside_repo"),
        (".git/config", "invalid_path"),
        (".switchman/audit.key", "invalid_path"),
        (".", "invalid_path"),
    ],
)
def test_claim_refuses_paths_outside(agents: tuple[Path, Path], initialised: Path, cli: Cli, path: str, code: str) -> None:
    add(cli, "A")
    acquire(cli, "A", "agent-a")
    assert_error(cli("claim", "A", "agent-a", "README.md", path), 2)
    json_error(cli("claim", "A", "agent-a", "README.md", path, "--json"), 2, code)
    assert cli.json("claims")["claims"] == []


def test_claim_paths_absolute_and_relative_to_cwd(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    a, _ = agents
    add(cli, "A")
    acquire(cli, "A", "agent-a")
    cli.ok("claim", "A", "agent-a", str(a / "src" / "auth" / "login.py"))
    # relative to the cwd when it is inside the worktree (the real console script, real cwd)
    res = run_cli("claim", "A", "agent-a", "invoice.py", "../auth/new.py", cwd=a / "src" / "billing")
    assert res.code == 0, res.err
    # and with -C into the worktree
    cli.ok("claim", "A", "agent-a", "guide.md", cwd=a / "docs")
    paths = [c["file_path"] for c in cli.json("claims")["claims"]]
    assert paths == ["docs/guide.md", "src/auth/login.py", "src/auth/new.py", "src/billing/invoice.py"]
    # an absolute path into the *main* worktree is not inside agent-a
    json_error(cli("claim", "A", "agent-a", str(initialised / "README.md"), "--json"), 2, "path_outside_repo")


def test_claim_symlinked_directory_leaving_the_worktree(agents: tuple[Path, Path], initialised: Path, cli: Cli, tmp_path: Path) -> None:
    a, _ = agents
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, a / "link")
    add(cli, "A")
    acquire(cli, "A", "agent-a")
    json_error(cli("claim", "A", "agent-a", "link/x.py", "--json"), 2, "path_outside_repo")


def test_claim_inside_another_leases_scope_is_refused(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "A", "--allowed-path", "src/auth/**")
    add(cli, "B", "--allowed-path", "docs/**")
    la = acquire(cli, "A", "agent-a")
    acquire(cli, "B", "agent-b")
    line = assert_error(cli("claim", "B", "agent-b", "docs/new.md", "src/auth/login.py"), 1, "src/auth/login.py → A")
    assert la in line
    err = json_error(cli("claim", "B", "agent-b", "src/auth/x.py", "--json"), 1, "path_scoped_by_other_lease")
    assert err["conflicts"][0]["holder"]["scope"] == "src/auth/**"
    assert cli.json("claims")["claims"] == []
    cli.ok("claim", "A", "agent-a", "src/auth/login.py")  # the holder itself may


def test_claim_leases_a_pending_task_and_checks_the_worktree(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "A")
    add(cli, "B")
    add(cli, "C")
    got = cli.json("claim", "A", "agent-a", "README.md", "--agent", "bot")
    lease_id = got["claims"][0]["lease_id"]
    lease = cli.json("lease", "show", lease_id)["lease"]
    assert lease["worktree"] == "agent-a" and lease["agent"] == "bot"
    assert cli.json("task", "show", "A")["task"]["status"] == "in_progress"
    # A is leased to agent-a: claiming for it from agent-b is a conflict
    assert_error(cli("claim", "A", "agent-b", "docs/guide.md"), 1, "agent-a")
    # agent-a is busy with A: B cannot be leased there through a claim either
    assert_error(cli("claim", "B", "agent-a", "docs/guide.md"), 1, "agent-a")
    cli.ok("task", "done", "C")
    assert_error(cli("claim", "C", "agent-b", "docs/guide.md"), 1, "done")
    assert_error(cli("claim", "A", "agent-a"), 2)  # no PATH


def test_release_and_claims_listing(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "A")
    acquire(cli, "A", "agent-a")
    cli.ok("claim", "A", "agent-a", "README.md", "docs/guide.md")
    human = cli.ok("claims").out
    assert "README.md" in human and "agent-a" in human
    released = cli.json("release", "A")["released"]
    assert sorted(c["file_path"] for c in released) == ["README.md", "docs/guide.md"]
    assert cli.json("claims")["claims"] == []
    assert cli.ok("release", "A").out.strip() == "released 0 claim(s) of A"
    assert cli.ok("claims").out.strip() == "no active claims"
    assert [e["file_path"] for e in events(initialised, "claim_released")] == ["README.md", "docs/guide.md"]
    # the lease survives a release; paths can be claimed again
    cli.ok("claim", "A", "agent-a", "README.md")


def test_claim_names_with_newlines_and_non_utf8_bytes(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "A")
    acquire(cli, "A", "agent-a")
    odd = os.fsdecode(b"dir/caf\xe9\nname.txt")
    cli.ok("claim", "A", "agent-a", odd)
    got = cli.json("claims")["claims"]
    assert len(got) == 1
    assert cli.json("audit", "verify")["ok"] is True
    human = cli.ok("claims").out
    assert len(human.strip().splitlines()) == 2  # header + one escaped line


# --- scope reservations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mine", "theirs", "overlap"),
    [
        (["src/**"], ["src/auth/**"], True),
        (["src/auth/**"], ["src/authz/**"], False),
        (["docs/*.md"], ["docs/*.txt"], False),
        (["docs/*.md"], ["docs/guide.md"], True),
        (["*.py"], ["src/auth/login.py"], True),  # gitignore-style: no slash matches at any depth
        (["/*.py"], ["src/auth/login.py"], False),  # a leading slash anchors at the root
        (["README.md"], ["src/auth/**"], True),
        (["**/*.py"], ["src/auth/login.py"], True),
        (["src/auth/**"], ["src/auth"], True),
    ],
)
def test_scope_overlap(agents: tuple[Path, Path], initialised: Path, cli: Cli, mine: list[str], theirs: list[str], overlap: bool) -> None:
    add(cli, "A", "--json-text", json.dumps({"allowed_paths": theirs}))
    add(cli, "B", "--json-text", json.dumps({"allowed_paths": mine}))
    acquire(cli, "A", "agent-a")
    res = cli("lease", "acquire", "B", "agent-b")
    if overlap:
        assert_error(res, 1, "scope reservation refused", "A")
    else:
        assert res.code == 0, res.err


def test_refused_reservation_keeps_its_denial_and_rolls_back_the_lease(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "A", "--allowed-path", "src/**")
    add(cli, "B", "--allowed-path", "src/auth/**", "--allowed-path", "docs/**")
    la = acquire(cli, "A", "agent-a")
    err = json_error(cli("lease", "acquire", "B", "agent-b", "--json"), 1, "scope_reserved_by_other_lease")
    assert err["conflicts"][0]["lease_id"] == la
    assert err["conflicts"][0]["scope_pattern"] == "src/auth/**"
    # the lease rolled back whole ...
    assert scalar(initialised, "SELECT COUNT(*) FROM leases WHERE task_id = 'B'") == 0
    assert cli.json("task", "show", "B")["task"]["status"] == "pending"
    assert scalar(initialised, "SELECT COUNT(*) FROM scope_reservations WHERE task_id = 'B'") == 0
    wt = {w["name"]: w for w in cli.json("worktree", "list")["worktrees"]}["agent-b"]
    assert wt["status"] == "idle"
    assert [e for e in events(initialised) if e["event_type"] == "lease_started" and e["task_id"] == "B"] == []
    # ... but its denial is on the record, signed and chained
    denied = events(initialised, "scope_reservation_denied")
    assert len(denied) == 1
    row = denied[0]
    assert row["status"] == "denied" and row["reason_code"] == "scope_reserved_by_other_lease"
    assert row["task_id"] == "B" and row["worktree"] == "agent-b" and row["lease_id"] is None
    details = json.loads(row["details"])
    assert details["conflicts"][0]["task_id"] == "A"
    assert cli.json("audit", "verify")["ok"] is True
    assert any(d["event_type"] == "scope_reservation_denied" for d in cli.json("status")["recent_denials"])


def test_shared_subsystem_tag_is_refused(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "A", "--allowed-path", "src/auth/**", "--subsystem", "auth")
    add(cli, "B", "--allowed-path", "docs/**", "--subsystem", "auth", "--subsystem", "docs")
    add(cli, "C", "--allowed-path", "/README.md", "--subsystem", "billing")
    acquire(cli, "A", "agent-a")
    line = assert_error(cli("lease", "acquire", "B", "agent-b"), 1, "subsystem auth")
    assert "A" in line
    acquire(cli, "C", "agent-b")


def test_task_spec_re_reserves_an_active_lease_atomically(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "A", "--allowed-path", "src/auth/**", "--subsystem", "auth")
    add(cli, "B", "--allowed-path", "docs/**")
    la = acquire(cli, "A", "agent-a")
    lb = acquire(cli, "B", "agent-b")

    # a compatible new spec replaces the reservations in place
    cli.ok("task", "spec", "B", "--allowed-path", "docs/*.md", "--allowed-path", "/README.md")
    scopes = sorted(r["scope_pattern"] for r in cli.json("lease", "show", lb)["reservations"])
    assert scopes == ["/README.md", "docs/*.md"]
    assert scalar(initialised, "SELECT COUNT(*) FROM scope_reservations WHERE lease_id = ? AND released_at IS NOT NULL", (lb,)) == 1

    # a conflicting new spec is refused whole: old spec and reservations intact
    denied_before = len(events(initialised, "scope_reservation_denied"))
    line = assert_error(cli("task", "spec", "B", "--allowed-path", "src/**"), 1, "src/auth/**")
    assert la in line
    assert cli.json("task", "show", "B")["spec"]["allowed_paths"] == ["docs/*.md", "/README.md"]
    scopes = sorted(r["scope_pattern"] for r in cli.json("lease", "show", lb)["reservations"])
    assert scopes == ["/README.md", "docs/*.md"]
    denied = events(initialised, "scope_reservation_denied")
    assert len(denied) == denied_before + 1
    assert denied[-1]["lease_id"] == lb  # the lease exists, so the denial names it
    assert_error(cli("task", "spec", "B", "--subsystem", "auth"), 1, "subsystem auth")
    assert [e["event_type"] for e in events(initialised) if e["task_id"] == "B"][-1] == "scope_reservation_denied"

    # a spec change on a pending task reserves nothing
    add(cli, "C")
    cli.ok("task", "spec", "C", "--allowed-path", "src/**")
    assert scalar(initialised, "SELECT COUNT(*) FROM scope_reservations WHERE task_id = 'C'") == 0
    assert cli.json("audit", "verify")["ok"] is True


def test_released_scopes_are_free_again(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "A", "--allowed-path", "src/**")
    add(cli, "B", "--allowed-path", "src/auth/**")
    acquire(cli, "A", "agent-a")
    assert_error(cli("lease", "acquire", "B", "agent-b"), 1)
    cli.ok("task", "done", "A")
    acquire(cli, "B", "agent-b")
    rows = query(initialised, "SELECT task_id, released_at FROM scope_reservations ORDER BY id")
    assert [(r["task_id"], r["released_at"] is None) for r in rows] == [("A", False), ("B", True)]


def test_human_output_of_every_lease_and_claim_command(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "A", "--allowed-path", "src/auth/**", "--subsystem", "auth", priority=9)
    add(cli, "B", "--allowed-path", "docs/**")
    out = cli.ok("lease", "next", "agent-a", "--agent", "bot").out
    assert "task A (A) leased to agent-a" in out
    lease_a = cli.json("task", "show", "A")["lease"]["id"]
    assert cli.ok("lease", "acquire", "B", "agent-b").out.strip().endswith("task B leased to agent-b")
    lease_b = cli.json("task", "show", "B")["lease"]["id"]
    assert cli.ok("claim", "A", "agent-a", "src/auth/login.py").out.strip() == "claimed src/auth/login.py for A (agent-a)"
    assert cli.ok("lease", "heartbeat", lease_a).out.startswith(f"{lease_a} heartbeat ")
    show = cli.ok("lease", "show", lease_a).out
    assert "scope: src/auth/**" in show and "scope: #auth" in show and "claim: src/auth/login.py" in show
    age_heartbeat(initialised, lease_b, 60)
    assert "STALE" in cli.ok("lease", "show", lease_b).out
    assert cli.ok("lease", "reap").out.strip() == f"expired {lease_b} (task B requeued, worktree agent-b)"
    assert cli.ok("lease", "done", lease_a).out.strip() == f"{lease_a} completed; task A is done"
    assert cli.ok("task", "retry", "A").out.strip() == "A is now pending"
    lease_a2 = cli.json("lease", "acquire", "A", "agent-a")["lease"]["id"]
    assert cli.ok("lease", "fail", lease_a2, "boom").out.strip() == f"{lease_a2} failed; task A is failed"
    assert cli.ok("lease", "list", "--status", "active").out.strip() == "no leases"


def test_lease_start_and_end_move_compliance_between_observed_and_managed(agents: tuple[Path, Path], cli: Cli) -> None:
    def state(name: str) -> str:
        return {w["name"]: w["compliance_state"] for w in cli.json("worktree", "list")["worktrees"]}[name]

    cli.ok("task", "add", "Work", "--id", "C1")
    assert state("agent-a") == "observed"
    lease = cli.json("lease", "acquire", "C1", "agent-a")["lease"]["id"]
    assert state("agent-a") == "managed"
    cli.ok("lease", "done", lease)
    assert state("agent-a") == "observed"
