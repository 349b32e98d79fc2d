"""`worktree *`, `policy *`, `audit list` filters, `validation list`, `invalidations list`, `status`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from switchman.store.postgres_config import machine_id
from testing.cli import Cli, assert_error, json_error
from testing.db import events, scalar
from testing.git import add_worktree, git, write


def names(cli: Cli) -> dict[str, dict]:  # type: ignore[type-arg]
    return {w["name"]: w for w in cli.json("worktree", "list")["worktrees"]}


# --- worktree --------------------------------------------------------------------------------------


@pytest.mark.both_backends
def test_worktree_list_names_each_worktrees_machine(agents: tuple[Path, Path], cli: Cli) -> None:
    """SPEC §12: a worktree row records its machine; the JSON gains `machine`, nothing else changes."""
    rows = cli.json("worktree", "list")["worktrees"]
    assert [w["name"] for w in rows] == ["main", "agent-a", "agent-b"]
    assert all(set(w) == {"name", "path", "branch", "agent", "status", "enforcement_mode", "compliance_state",
                          "registered_at", "last_seen", "machine"} for w in rows)
    assert {w["machine"] for w in rows} == {machine_id()}


def test_worktree_list_and_sync(initialised: Path, cli: Cli) -> None:
    assert list(names(cli)) == ["main"]
    a = add_worktree(initialised, "agent-a")
    assert cli.json("worktree", "sync")["registered"][0]["name"] == "agent-a"
    assert cli.json("worktree", "sync")["registered"] == []
    assert cli.ok("worktree", "sync").out.strip() == "all git worktrees are registered"
    wt = names(cli)["agent-a"]
    assert wt["path"] == str(a) and wt["branch"] == "agent-a"
    assert wt["enforcement_mode"] == "observed" and wt["compliance_state"] == "observed" and wt["status"] == "idle"
    human = cli.ok("worktree", "list").out
    assert human.splitlines()[0].split() == ["NAME", "BRANCH", "MODE", "COMPLIANCE", "STATUS", "PATH"]
    # a basename that is already taken gets a suffix
    other = initialised.parent / "elsewhere"
    other.mkdir()
    git(initialised, "worktree", "add", "-q", "-b", "dup", str(other / "agent-a"))
    assert cli.json("worktree", "sync")["registered"][0]["name"] == "agent-a-2"
    # a branch switch in a worktree is picked up by sync
    git(a, "checkout", "-q", "-b", "renamed-branch")
    cli.ok("worktree", "sync")
    assert names(cli)["agent-a"]["branch"] == "renamed-branch"


def test_worktree_add_registers_an_existing_linked_worktree_under_a_name(initialised: Path, cli: Cli) -> None:
    a = add_worktree(initialised, "agent-a")
    data = cli.json("worktree", "add", "alice", str(a), "agent-a")
    assert data["created"] is False
    assert data["worktree"]["name"] == "alice" and data["worktree"]["path"] == str(a)
    cli.ok("worktree", "sync")  # already known by path: not registered twice
    assert sorted(names(cli)) == ["alice", "main"]
    # renaming an already registered worktree keeps one row per path
    data = cli.json("worktree", "add", "alice2", "../agent-a", "agent-a")
    assert sorted(names(cli)) == ["alice2", "main"]
    rename = events(initialised, "worktree_registered")[-1]
    assert json.loads(rename["details"])["renamed_from"] == "alice"
    assert data["worktree"]["path"] == str(a)


def test_worktree_add_creates_a_new_worktree(initialised: Path, cli: Cli) -> None:
    data = cli.json("worktree", "add", "bob", "../bob-wt", "feature/bob")
    path = (initialised.parent / "bob-wt").resolve()
    assert data["created"] is True
    assert data["worktree"] == {**data["worktree"], "name": "bob", "path": str(path), "branch": "feature/bob"}
    assert path.is_dir() and (path / ".git").is_file()
    assert git(path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "feature/bob"
    assert str(path) in git(initialised, "worktree", "list")
    # an existing branch is checked out, not re-created
    git(initialised, "branch", "existing")
    assert cli.json("worktree", "add", "carol", "../carol-wt", "existing")["worktree"]["branch"] == "existing"
    assert "created and registered worktree" in cli.ok("worktree", "add", "dave", "../dave-wt", "d").out


def test_worktree_add_errors(initialised: Path, cli: Cli) -> None:
    cli.ok("worktree", "add", "bob", "../bob-wt", "bob")
    assert_error(cli("worktree", "add", "bob", "../other", "other"), 2, "bob")  # name taken
    assert_error(cli("worktree", "add", "a/b", "../x", "x"), 2)
    assert_error(cli("worktree", "add", "", "../x", "x"), 2)
    write(initialised.parent / "full" / "file.txt", "x")
    assert_error(cli("worktree", "add", "full", "../full", "full"), 2, "not a worktree")
    # the branch is checked out in the main worktree: git refuses, that is bad input
    line = assert_error(cli("worktree", "add", "m2", "../m2", "main"), 2, "main")
    assert "/../" not in line
    assert_error(cli("worktree", "add", "only-name"), 2)
    assert sorted(names(cli)) == ["bob", "main"]


def test_worktree_rename_is_refused_while_it_holds_a_lease(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    a, _ = agents
    cli.ok("task", "add", "t", "--id", "T1")
    cli.ok("lease", "acquire", "T1", "agent-a")
    assert_error(cli("worktree", "add", "renamed", str(a), "agent-a"), 1, "active lease")
    assert "agent-a" in names(cli)
    cli.ok("task", "done", "T1")
    cli.ok("worktree", "add", "renamed", str(a), "agent-a")
    assert "renamed" in names(cli) and "agent-a" not in names(cli)


def test_worktree_mode(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    a, _ = agents
    assert cli.json("worktree", "mode", "agent-a", "strict")["worktree"]["enforcement_mode"] == "strict"
    cli.ok("worktree", "mode", str(a / "src"), "guarded")  # by path, any directory inside it
    assert names(cli)["agent-a"]["enforcement_mode"] == "guarded"
    assert names(cli)["agent-b"]["enforcement_mode"] == "observed"
    row = events(initialised, "policy_updated")[-1]
    assert row["worktree"] == "agent-a"
    # issue 12: lowering agent-a from the main worktree is weakening, named with the caller.
    assert json.loads(row["details"]) == {"enforcement_mode": "guarded", "previous": "strict", "by_worktree": "main", "weakens": True}
    assert_error(cli("worktree", "mode", "agent-a", "loose"), 2)
    assert_error(cli("worktree", "mode", "ghost", "strict"), 1, "ghost")
    json_error(cli("worktree", "mode", "ghost", "strict", "--json"), 1, "unknown_worktree")


# --- policy ----------------------------------------------------------------------------------------


def policy_file(root: Path) -> Path:
    return root / ".switchman" / "enforcement.json"


def test_policy_show_allow_mode(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    assert cli.json("policy", "show") == {"default_mode": "observed", "allowed_generated_paths": []}
    got = cli.json("policy", "allow", "dist/**", "*.lock")
    assert got["allowed_generated_paths"] == ["dist/**", "*.lock"]
    cli.ok("policy", "allow", "dist/**", "gen/*.py")
    assert json.loads(policy_file(initialised).read_text())["allowed_generated_paths"] == ["dist/**", "*.lock", "gen/*.py"]
    assert "dist/**" in cli.ok("policy", "show").out
    assert cli.json("policy", "mode", "guarded")["default_mode"] == "guarded"
    # the default applies to worktrees registered from now on, not to existing ones ...
    add_worktree(initialised, "agent-c")
    cli.ok("worktree", "sync")
    modes = {n: w["enforcement_mode"] for n, w in names(cli).items()}
    assert modes == {"main": "observed", "agent-a": "observed", "agent-b": "observed", "agent-c": "guarded"}
    # ... unless asked
    cli.ok("policy", "mode", "strict", "--all-worktrees")
    assert {w["enforcement_mode"] for w in names(cli).values()} == {"strict"}
    updates = [json.loads(e["details"]) for e in events(initialised, "policy_updated")]
    assert updates[0]["added"] == ["dist/**", "*.lock"]
    assert updates[-1]["default_mode"] == "strict" and updates[-1]["all_worktrees"] is True
    assert cli.json("audit", "verify")["ok"] is True


def test_policy_errors(initialised: Path, cli: Cli) -> None:
    assert_error(cli("policy", "allow", "src/[x"), 2, "src/[x")
    assert_error(cli("policy", "allow", "../up/**"), 2)
    assert_error(cli("policy", "allow"), 2)
    assert_error(cli("policy", "mode", "loose"), 2)
    assert cli.json("policy", "show")["allowed_generated_paths"] == []


def test_policy_rewrite_preserves_unknown_keys(initialised: Path, cli: Cli) -> None:
    original = {
        "default_mode": "observed",
        "allowed_generated_paths": ["dist/**"],
        "stale_lease_minutes": 30,
        "team": {"owners": ["ä", "b"], "nested": [1, None, True]},
    }
    policy_file(initialised).write_text(json.dumps(original, indent=4))
    cli.ok("policy", "allow", "build/**")
    cli.ok("policy", "mode", "guarded")
    data = json.loads(policy_file(initialised).read_text())
    assert data == {**original, "default_mode": "guarded", "allowed_generated_paths": ["dist/**", "build/**"]}
    assert list(data) == list(original)  # key order kept
    assert cli.json("policy", "show")["team"] == original["team"]
    assert not list((initialised / ".switchman").glob("*.tmp*"))
    assert not list((initialised / ".switchman").glob(".enforcement.json.*"))  # fsutil.atomic_write's temp name


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{\n  "default_mode": "observed",\n  "allowed_generated_paths": [,]\n}\n', "line 3"),
        ("{\n\n\n", "line 4"),
        ("[]", "JSON object"),
        ('{"default_mode": "loose"}', "default_mode"),
        ('{"allowed_generated_paths": "dist/**"}', "allowed_generated_paths"),
    ],
)
def test_malformed_policy_names_file_and_line(initialised: Path, cli: Cli, text: str, needle: str) -> None:
    policy_file(initialised).write_text(text)
    for args in (["policy", "show"], ["policy", "allow", "x/**"], ["policy", "mode", "strict"], ["status"]):
        line = assert_error(cli(*args), 2, "enforcement.json", needle)
        assert str(policy_file(initialised)) in line
    json_error(cli("policy", "show", "--json"), 2, "policy_malformed")
    assert policy_file(initialised).read_text() == text  # never overwritten


def test_missing_policy_file_means_defaults(initialised: Path, cli: Cli) -> None:
    policy_file(initialised).unlink()
    assert cli.json("policy", "show") == {"default_mode": "observed", "allowed_generated_paths": []}
    cli.ok("init")
    assert policy_file(initialised).exists()


# --- audit list / validation list / invalidations list / status ----------------------------------------


def test_audit_list_filters(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    for tid in ("T1", "T2", "T3"):
        cli.ok("task", "add", tid, "--id", tid)
    cli.ok("task", "fail", "T2", "nope")
    everything = cli.json("audit", "list", "--limit", "1000")["events"]
    seqs = [e["sequence"] for e in everything]
    assert seqs == sorted(seqs, reverse=True)  # newest first
    assert len(everything) == scalar(initialised, "SELECT COUNT(*) FROM audit_log")
    assert set(everything[0]) == {
        "id", "event_type", "status", "reason_code", "worktree", "task_id", "lease_id", "file_path",
        "details", "created_at", "sequence", "prev_hash", "entry_hash", "signature",
    }
    created = cli.json("audit", "list", "--event-type", "task_created")["events"]
    assert [e["task_id"] for e in created] == ["T3", "T2", "T1"]
    denied = cli.json("audit", "list", "--status", "denied")["events"]
    assert [(e["event_type"], e["task_id"]) for e in denied] == [("task_failed", "T2")]
    t2 = cli.json("audit", "list", "--task", "T2")["events"]
    assert [e["event_type"] for e in t2] == ["task_failed", "task_created"]
    assert len(cli.json("audit", "list", "--limit", "2")["events"]) == 2
    assert cli.json("audit", "list", "--event-type", "task_created", "--task", "T2", "--status", "info")["events"][0]["task_id"] == "T2"
    assert cli.json("audit", "list", "--task", "ghost")["events"] == []
    assert_error(cli("audit", "list", "--limit", "0"), 2)
    assert_error(cli("audit", "list", "--status", "maybe"), 2)
    assert "task_failed" in cli.ok("audit", "list").out
    assert len(cli.ok("audit", "list", "--limit", "3").out.splitlines()) == 4


def test_validation_and_invalidations_lists_empty(initialised: Path, cli: Cli) -> None:
    assert cli.json("validation", "list") == {"validations": []}
    assert cli.json("invalidations", "list") == {"invalidations": []}
    assert cli.ok("validation", "list").out.strip() == "no boundary validations"
    assert cli.ok("invalidations", "list", "--status", "all").out.strip() == "no dependency invalidations"
    assert_error(cli("validation", "list", "--status", "great"), 2)
    assert_error(cli("invalidations", "list", "--status", "fresh"), 2)


def test_status_report(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "a", "--id", "A", "-p", "9")
    cli.ok("task", "spec", "A", "--allowed-path", "src/auth/**", "--subsystem", "auth")
    cli.ok("task", "add", "b", "--id", "B")
    cli.ok("task", "spec", "B", "--allowed-path", "src/**")
    lease = cli.json("lease", "acquire", "A", "agent-a")["lease"]["id"]
    cli.ok("claim", "A", "agent-a", "src/auth/login.py")
    assert cli("lease", "acquire", "B", "agent-b").code == 1
    report = cli.json("status")
    assert set(report) == {
        "repo_root", "task_counts", "tasks", "leases", "claims", "reservations", "worktrees",
        "validations", "invalidations", "recent_denials",
        "open_bypasses",  # SPEC §10: bypassed commits still on a branch stay listed
        "recent_weakening", "weakening_window",  # issue 12: weakening is visible
    }
    assert report["recent_weakening"] == [] and report["weakening_window"] == 15
    assert report["repo_root"] == str(initialised.resolve())
    assert report["task_counts"] == {"in_progress": 1, "pending": 1}
    assert [lease_["id"] for lease_ in report["leases"]] == [lease]
    assert sorted(report["leases"][0]["scopes"]) == ["#auth", "src/auth/**"]
    assert [c["file_path"] for c in report["claims"]] == ["src/auth/login.py"]
    assert len(report["reservations"]) == 2
    assert {w["name"] for w in report["worktrees"]} == {"main", "agent-a", "agent-b"}
    assert report["recent_denials"][0]["event_type"] == "scope_reservation_denied"
    human = cli.ok("status").out
    for needle in ("Active leases", lease, "src/auth/login.py", "scope_reservation_denied", "agent-b"):
        assert needle in human


@pytest.mark.parametrize("value", ['"soon"', "-5", "true", "null"])
def test_bad_stale_window_in_policy_is_exit_2(initialised: Path, cli: Cli, value: str) -> None:
    policy_file(initialised).write_text('{"default_mode": "observed", "stale_lease_minutes": ' + value + "}")
    for args in (["lease", "list"], ["status"], ["lease", "reap"]):
        assert_error(cli(*args), 2, "stale_lease_minutes")
    cli.ok("lease", "reap", "--stale-after", "5")  # an explicit window does not need the policy's


def test_a_bad_glob_in_the_policy_fails_the_gates_closed_naming_the_file(env) -> None:  # type: ignore[no-untyped-def]
    """issue 12 defect 7: the gates keep failing closed on it, and say which file and glob."""
    from testing.gates import commit

    env.mode("agent-a", "guarded")
    policy = env.root / ".switchman" / "enforcement.json"
    doc = json.loads(policy.read_text())
    doc["allowed_generated_paths"] = ["dist/**", "["]
    policy.write_text(json.dumps(doc))
    env.change(env.a, "README.md", "x\n")
    res = commit(env.a)
    assert res.code != 0 and "enforcement.json" in res.err and "allowed_generated_paths" in res.err and "'['" in res.err
    assert_error(env.cli("policy", "allow", "build/**"), 2, "allowed_generated_paths")
    assert json.loads(policy.read_text())["allowed_generated_paths"] == ["dist/**", "["]  # nothing changed
