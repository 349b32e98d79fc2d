# ruff: noqa: F811 - pytest fixtures imported from pg_fixtures are parameters here
"""Two clones on two machines, one PostgreSQL server (SPEC §12): they coordinate exactly as two
linked worktrees do through SQLite. Each clone runs with its own SWITCHMAN_MACHINE_ID and HOME
(its own checkpoint key) and connects as its own login role in switchman_agent; tampering is done
as the database owner."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from testing.cli import assert_error
from testing.git import git
from testing.machines import Machine, agent_url
from testing.pg import Cluster

from .pg_fixtures import pg_cluster  # noqa: F401

# `worktree list --json` keys before machine ids: kept unchanged, `machine` added.
WORKTREE_KEYS = {
    "name", "path", "branch", "agent", "status", "enforcement_mode", "compliance_state",
    "registered_at", "last_seen", "machine",
}


class Team:
    def __init__(self, owner_url: str, a: Machine, b: Machine) -> None:
        self.owner_url, self.a, self.b = owner_url, a, b

    def admin(self, sql: str) -> None:
        """As the database owner, inside this repository (row-level security as for agents)."""
        repo_id = self.a.cli.json("store", "info")["repo_id"]
        with psycopg.connect(self.owner_url, autocommit=True) as conn:
            conn.execute("SELECT set_config('switchman.repo_id', %s, false)", (repo_id,))
            conn.execute(sql)


@pytest.fixture
def team(repo: Path, pg_cluster: Cluster) -> Team:
    owner = pg_cluster.url(pg_cluster.create_database())
    Machine(repo, "origin").cli.ok("store", "setup", owner)
    a = Machine.clone(repo, repo.parent / "clone-a", agent_url(owner, pg_cluster, "agent_a"), "machine-a", mode="guarded")
    b = Machine.clone(repo, repo.parent / "clone-b", agent_url(owner, pg_cluster, "agent_b"), "machine-b")
    return Team(owner, a, b)


def test_each_clone_is_a_worktree_on_its_machine(team: Team) -> None:
    a, b = team.a, team.b
    info_a, info_b = a.cli.json("store", "info"), b.cli.json("store", "info")
    assert info_a["repo_id"] == info_b["repo_id"] == git(a.path, "rev-list", "--max-parents=0", "HEAD").strip()
    assert info_a["backend"] == info_b["backend"] == "postgresql"
    assert (info_a["machine"], info_b["machine"]) == ("machine-a", "machine-b")
    listing = a.cli.json("worktree", "list")["worktrees"]
    assert listing == b.cli.json("worktree", "list")["worktrees"]  # one registry, seen from both
    assert all(set(w) == WORKTREE_KEYS for w in listing)
    where = {w["name"]: (w["machine"], w["path"]) for w in listing}
    assert where == {a.worktree(): ("machine-a", str(a.path)), b.worktree(): ("machine-b", str(b.path))}
    assert a.worktree() == "main" and b.worktree() == "main@machine-b"  # unique per repository
    assert "MACHINE" in b.cli.ok("worktree", "list").out
    registered = [e for e in b.cli.json("audit", "list", "--event-type", "worktree_registered")["events"]]
    assert {json.loads(e["details"])["machine"] for e in registered} == {"machine-a", "machine-b"}


def test_the_same_path_on_another_machine_is_another_worktree(team: Team) -> None:
    """Identity is (machine, path): a third machine whose checkout sits at clone A's path (a
    container with the same mount point) gets its own worktree, and clone A keeps its own."""
    a = team.a
    c = Machine(a.path, "machine-c")
    c.cli.ok("worktree", "sync")
    rows = [w for w in a.cli.json("worktree", "list")["worktrees"] if w["path"] == str(a.path)]
    assert sorted((w["name"], w["machine"]) for w in rows) == [("main", "machine-a"), ("main@machine-c", "machine-c")]
    assert a.worktree() == "main" and c.worktree() == "main@machine-c"
    # only this machine's worktrees are observed or compared with git here
    seen = c.cli.json("monitor", "once")
    assert [w["name"] for w in seen["worktrees"]] == ["main@machine-c"] and seen["skipped"] == []


def test_lease_claim_and_scope_are_exclusive_across_machines(team: Team) -> None:
    a, b = team.a, team.b
    wa, wb = a.worktree(), b.worktree()
    billing = a.task("billing")
    a.cli.ok("lease", "acquire", billing, wa)
    # lease: one active lease per task, whoever asks
    err = assert_error(b.cli("lease", "acquire", billing, wb), 1, wa)
    assert "already has active lease" in err
    # claim: the holder is named (task, lease, worktree on the other machine)
    a.cli.ok("claim", billing, wa, "src/billing/invoice.py")
    auth = b.task("auth")
    b.cli.ok("lease", "acquire", auth, wb)
    res = b.cli("claim", auth, wb, "src/billing/invoice.py", "--json")
    assert res.code == 1
    (conflict,) = res.json["error"]["conflicts"]
    assert conflict["holder"]["worktree"] == wa and conflict["holder"]["task_id"] == billing
    assert not [c for c in b.cli.json("claims")["claims"] if c["task_id"] == auth]  # all or nothing
    # scope: an overlapping reservation from the other machine is refused, its denial kept
    b.cli.ok("lease", "done")  # `auth` finished: B is free to take scoped work
    scoped = a.task("docs", spec={"allowed_paths": ["docs/**"]})
    a.cli.ok("lease", "done")
    a.cli.ok("lease", "acquire", scoped, wa)
    other = b.task("more docs", spec={"allowed_paths": ["docs/guide/*.md"]})
    err = assert_error(b.cli("lease", "acquire", other, wb), 1, scoped, wa)
    assert "scope reservation refused" in err
    denied = a.cli.json("audit", "list", "--event-type", "scope_reservation_denied")["events"]
    assert [(e["worktree"], e["task_id"]) for e in denied] == [(wb, other)]


def test_the_commit_gate_refuses_what_the_other_machine_holds(team: Team) -> None:
    a, b = team.a, team.b
    wa, wb = a.worktree(), b.worktree()
    b.cli.ok("worktree", "mode", wb, "guarded")
    billing = a.task("billing")
    a.cli.ok("lease", "acquire", billing, wa)
    a.cli.ok("claim", billing, wa, "src/billing/invoice.py")
    auth = b.task("auth", spec={"allowed_paths": ["src/auth/**"]})
    b.cli.ok("lease", "acquire", auth, wb)
    b.change("src/billing/invoice.py", "TOTAL = 2\n")
    before = b.head()
    res = b.commit()
    assert res.code != 0 and b.head() == before
    assert "path_claimed_by_other_lease" in res.err and billing in res.err
    gate = b.cli("gate", "commit", "--json")
    assert gate.code == 1
    (v,) = gate.json["violations"]
    assert v["reason_code"] == "path_claimed_by_other_lease" and v["holder"]["worktree"] == wa
    # and the other way: A may not commit into B's reserved scope
    a.change("src/auth/login.py", "def login():\n    return False\n")
    res = a.commit()
    assert res.code != 0 and "path_scoped_by_other_lease" in res.err
    # A's own claim commits, recorded under A's worktree, visible from B
    git(a.path, "reset", "-q", "--", "src/auth/login.py")
    git(a.path, "checkout", "-q", "--", "src/auth/login.py")
    a.change("src/billing/invoice.py", "TOTAL = 3\n")
    assert a.commit().code == 0
    a.cli.ok("status")  # A's next command records what its sh post-commit spooled (SPEC §7)
    recorded = b.cli.json("audit", "list", "--event-type", "commit_recorded")["events"]
    assert recorded[0]["worktree"] == wa
    assert a.cli.json("audit", "verify")["ok"] is True
    assert b.cli.json("audit", "verify")["ok"] is True


def codes_of(m: Machine) -> set[str]:
    return {f["reason_code"] for f in m.cli("audit", "verify", "--json").json["failures"]}


def _work(team: Team) -> None:
    """Interleaved writes from both machines; the last rows come from A."""
    for i in range(2):
        team.b.task(f"b{i}")
        team.a.task(f"a{i}")


def test_a_rewritten_row_is_detected_from_either_side(team: Team) -> None:
    _work(team)
    for m in (team.a, team.b):
        assert m.cli.json("audit", "verify")["ok"] is True
    team.admin("UPDATE audit_log SET status = 'denied' WHERE sequence = 3")
    for m in (team.a, team.b):
        res = m.cli("audit", "verify", "--json")
        assert res.code == 1 and "entry_hash_mismatch" in {f["reason_code"] for f in res.json["failures"]}


def test_a_deleted_tail_is_detected_from_either_side(team: Team) -> None:
    """B wrote nothing after A's last rows, so B's own checkpoint does not cover them: the
    server's head row (next sequence, last hash) still does."""
    _work(team)
    team.admin("DELETE FROM audit_log WHERE sequence = (SELECT max(sequence) FROM audit_log)")
    for m in (team.a, team.b):
        res = m.cli("audit", "verify", "--json")
        assert res.code == 1, res.out
        codes = {f["reason_code"] for f in res.json["failures"]}
        assert "server_head_mismatch" in codes, res.out
    assert "log_shorter_than_checkpoint" in codes_of(team.a)  # A's own checkpoint covered the row


def test_each_machine_signs_with_its_own_key_and_rotates_only_its_own(team: Team) -> None:
    a, b = team.a, team.b
    ka, kb = a.cli.json("audit", "pubkey"), b.cli.json("audit", "pubkey")
    assert ka["verifier_key"] != kb["verifier_key"]
    assert sorted(k["machine"] for k in ka["keyring"]) == ["machine-a", "machine-b"]
    rotated = a.cli.json("audit", "rotate-key")
    assert rotated["retired"] == [ka["verifier_key"]]  # B's key is not A's to retire
    assert b.cli.json("audit", "pubkey")["verifier_key"] == kb["verifier_key"]
    b.task("signed by B's key still")
    a.task("signed by A's new key")
    for m in (a, b):
        assert m.cli.json("audit", "verify")["ok"] is True
    # each machine puts its own key into .switchman-keys for CI
    assert a.cli.json("trust", "add")["verifier_key"] == rotated["verifier_key"]
    assert b.cli.json("trust", "add")["verifier_key"] == kb["verifier_key"]


def test_every_machine_keeps_the_servers_time(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    """Machine A's clock is 40 minutes behind: its heartbeats would look stale to B at once (and a
    clock ahead would never go stale). Both record and judge by the server's clock instead."""
    from switchman import timeutil

    real = timeutil._clock
    monkeypatch.setattr(timeutil, "_clock", lambda: real() - 40 * 60)
    a, b = team.a, team.b
    tid = a.task("slow clock")
    lease = a.cli.json("lease", "acquire", tid, a.worktree())["lease"]
    assert abs(timeutil.parse_ts(lease["heartbeat_at"]) - real()) < 60  # type: ignore[operator]
    monkeypatch.setattr(timeutil, "_clock", real)
    seen = {x["id"]: x for x in b.cli.json("lease", "list", "--status", "active")["leases"]}
    assert seen[lease["id"]]["stale"] is False
    assert b.cli.json("lease", "reap")["expired"] == []


def test_a_name_another_machine_has_is_refused_naming_that_machine(team: Team) -> None:
    b = team.b
    err = assert_error(b.cli("worktree", "add", "main", str(b.path), "main"), 2, "machine-a")
    assert "choose another NAME" in err
