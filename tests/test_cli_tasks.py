"""`task add|list|show|spec|done|fail|retry` through the CLI, with their audit events and errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from testing.cli import Cli, assert_error, json_error, run_cli
from testing.db import all_details_are_json, events, query
from testing.git import write

pytestmark = pytest.mark.both_backends

SPEC = {
    "allowed_paths": ["src/auth/**"],
    "subsystem_tags": ["auth"],
    "pipeline_id": "P",
    "task_type": "implementation",
    "validation_rules": {"enforcement": "warn", "required_completed_task_types": ["tests"], "rationale": ["why"]},
}


# --- add / list / show ---------------------------------------------------------------------------


def test_task_add_prints_a_generated_id(initialised: Path, cli: Cli) -> None:
    out = cli.ok("task", "add", "Fix login").out
    tid = out.strip()
    assert re.fullmatch(r"task-\d{13}-[0-9a-z]{6}", tid), out
    assert out == tid + "\n"
    shown = cli.json("task", "show", tid)
    assert shown["task"]["title"] == "Fix login"
    assert shown["task"]["status"] == "pending"
    assert shown["task"]["priority"] == 5
    assert shown["spec"] is None and shown["lease"] is None and shown["claims"] == []
    created = events(initialised, "task_created")
    assert [e["task_id"] for e in created] == [tid]
    assert json.loads(created[0]["details"]) == {"title": "Fix login", "priority": 5}


def test_task_add_options_and_json(initialised: Path, cli: Cli) -> None:
    data = cli.json("task", "add", "Title é ✓", "--id", "T1", "-d", "longer\ntext", "-p", "9")
    assert data["task"]["id"] == "T1"
    assert data["task"]["description"] == "longer\ntext"
    assert data["task"]["priority"] == 9
    assert data["spec"] is None
    assert cli.json("task", "show", "T1")["task"]["title"] == "Title é ✓"


def test_task_add_spec_file_relative_to_dash_c(initialised: Path, cli: Cli) -> None:
    write(initialised / "specs" / "auth.json", json.dumps(SPEC))
    # `cli` runs in-process from another cwd; -C makes the repo the base for relative paths
    data = cli.json("task", "add", "Auth", "--id", "T1", "--spec", "specs/auth.json")
    assert data["spec"]["allowed_paths"] == ["src/auth/**"]
    res = run_cli("task", "add", "Auth2", "--id", "T2", "--spec", "auth.json", cwd=initialised / "specs")
    assert res.code == 0, res.err
    assert cli.json("task", "show", "T2")["spec"]["pipeline_id"] == "P"
    spec_events = [e for e in events(initialised, "task_spec_updated") if e["task_id"] == "T1"]
    assert json.loads(spec_events[0]["details"])["spec"]["subsystem_tags"] == ["auth"]


def test_task_add_spec_from_stdin(initialised: Path, cli: Cli) -> None:
    data = cli.json("task", "add", "S", "--id", "T1", "--spec", "-", input=json.dumps({"allowed_paths": ["docs/*.md"]}))
    assert data["spec"]["allowed_paths"] == ["docs/*.md"]


def test_task_add_bad_input(initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "one", "--id", "T1")
    assert_error(cli("task", "add", "dup", "--id", "T1"), 2, "already exists")
    assert_error(cli("task", "add", "   "), 2, "title")
    assert_error(cli("task", "add", "x", "--id", "has space"), 2)
    assert_error(cli("task", "add", "x", "-p", "high"), 2)
    assert_error(cli("task", "add"), 2)  # missing TITLE
    assert_error(cli("task", "add", "x", "--spec", "missing.json"), 2, "missing.json")
    write(initialised / "bad.json", "{not json")
    assert_error(cli("task", "add", "x", "--spec", "bad.json"), 2, "bad.json")
    write(initialised / "bad-type.json", '{"allowed_paths": "src/**"}')
    assert_error(cli("task", "add", "x", "--spec", "bad-type.json"), 2, "allowed_paths")
    # nothing of the refused adds was stored
    assert [t["id"] for t in cli.json("task", "list")["tasks"]] == ["T1"]


def test_task_list_orders_by_priority_and_filters(initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "low", "--id", "L", "-p", "1")
    cli.ok("task", "add", "high", "--id", "H", "-p", "9")
    cli.ok("task", "add", "mid", "--id", "M")
    cli.ok("task", "done", "M")
    assert [t["id"] for t in cli.json("task", "list")["tasks"]] == ["H", "M", "L"]
    assert [t["id"] for t in cli.json("task", "list", "--status", "pending")["tasks"]] == ["H", "L"]
    assert [t["id"] for t in cli.json("task", "list", "--status", "done")["tasks"]] == ["M"]
    assert cli.json("task", "list", "--status", "failed")["tasks"] == []
    assert_error(cli("task", "list", "--status", "bogus"), 2)
    human = cli.ok("task", "list").out
    assert human.splitlines()[0].split() == ["ID", "STATUS", "PRI", "WORKTREE", "TITLE"]


def test_task_show_includes_spec_lease_and_claims(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "Auth", "--id", "T1")
    cli.ok("task", "spec", "T1", "--json-text", json.dumps(SPEC))
    lease = cli.json("lease", "acquire", "T1", "agent-a")["lease"]
    cli.ok("claim", "T1", "agent-a", "src/auth/login.py")
    shown = cli.json("task", "show", "T1")
    assert set(shown) == {"task", "spec", "lease", "claims"}
    assert shown["lease"]["id"] == lease["id"]
    assert [c["file_path"] for c in shown["claims"]] == ["src/auth/login.py"]
    assert shown["spec"]["validation_rules"]["rationale"] == ["why"]
    human = cli.ok("task", "show", "T1").out
    assert "src/auth/login.py" in human and lease["id"] in human


@pytest.mark.parametrize(
    "args",
    [
        ["task", "show", "nope"],
        ["task", "done", "nope"],
        ["task", "fail", "nope"],
        ["task", "retry", "nope"],
        ["task", "spec", "nope", "--allowed-path", "src/**"],
        ["release", "nope"],
        ["lease", "acquire", "nope", "main"],
        ["claim", "nope", "main", "README.md"],
    ],
)
def test_unknown_task_is_exit_1(initialised: Path, cli: Cli, args: list[str]) -> None:
    assert_error(cli(*args), 1, "nope")
    json_error(cli(*args, "--json"), 1, "unknown_task")


# --- spec -----------------------------------------------------------------------------------------


def test_task_spec_sources(initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "t", "--id", "T1")
    write(initialised / "spec.json", json.dumps(SPEC))
    assert cli.json("task", "spec", "T1", "--file", "spec.json")["spec"]["task_type"] == "implementation"
    got = cli.json("task", "spec", "T1", "--json-text", '{"allowed_paths": ["docs/*.md", "docs/*.md"]}')["spec"]
    assert got["allowed_paths"] == ["docs/*.md"]  # de-duplicated
    got = cli.json(
        "task", "spec", "T1",
        "--allowed-path", "src/**", "--allowed-path", "docs/**",
        "--subsystem", "auth", "--pipeline", "P", "--task-type", "tests",
        "--require-type", "implementation", "--validation", "blocked",
    )["spec"]
    assert got == {
        "allowed_paths": ["src/**", "docs/**"],
        "subsystem_tags": ["auth"],
        "pipeline_id": "P",
        "task_type": "tests",
        "validation_rules": {"enforcement": "blocked", "required_completed_task_types": ["implementation"], "rationale": []},
    }
    assert cli.json("task", "show", "T1")["spec"] == got
    got = cli.json("task", "spec", "T1", "--require-type", "docs")["spec"]
    assert got["validation_rules"]["enforcement"] == "warn"  # requiring a type implies warn
    assert cli.ok("task", "spec", "T1", "--pipeline", "Q").out.strip() == "spec of T1 updated"
    assert len([e for e in events(initialised, "task_spec_updated") if e["task_id"] == "T1"]) == 5


def test_task_spec_keeps_unknown_keys_verbatim(initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "t", "--id", "T1")
    extra = {
        "owner": "team-ä",
        "nested": {"list": [1, 2.5, None, True, {"deep": "x"}], "empty": {}},
        "validation_rules": {"enforcement": "none", "custom_rule": ["keep", "me"]},
    }
    cli.ok("task", "spec", "T1", "--json-text", json.dumps(extra))
    spec = cli.json("task", "show", "T1")["spec"]
    assert spec["owner"] == "team-ä"
    assert spec["nested"] == extra["nested"]
    assert spec["validation_rules"]["custom_rule"] == ["keep", "me"]
    stored = query(initialised, "SELECT spec_json FROM task_specs WHERE task_id = 'T1'")[0]["spec_json"]
    assert json.loads(stored)["nested"] == extra["nested"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{"allowed_paths": "src/**"}', "allowed_paths"),
        ('{"allowed_paths": [1]}', "allowed_paths"),
        ('{"allowed_paths": [""]}', "allowed_paths"),
        ('{"allowed_paths": ["src/[a"]}', "allowed_paths"),
        ('{"allowed_paths": ["../outside/**"]}', "allowed_paths"),
        ('{"allowed_paths": ["!src/**"]}', "allowed_paths"),
        ('{"subsystem_tags": "auth"}', "subsystem_tags"),
        ('{"subsystem_tags": [null]}', "subsystem_tags"),
        ('{"pipeline_id": 7}', "pipeline_id"),
        ('{"pipeline_id": ""}', "pipeline_id"),
        ('{"task_type": ["tests"]}', "task_type"),
        ('{"validation_rules": []}', "validation_rules"),
        ('{"validation_rules": {"enforcement": "strict"}}', "validation_rules.enforcement"),
        ('{"validation_rules": {"enforcement": null}}', "validation_rules.enforcement"),
        ('{"validation_rules": {"required_completed_task_types": "tests"}}', "required_completed_task_types"),
        ('{"validation_rules": {"rationale": "because"}}', "validation_rules.rationale"),
        ('["allowed_paths"]', "JSON object"),
        ('"just a string"', "JSON object"),
        ("{bad json", "not valid JSON"),
        ('{"x": NaN}', "not valid JSON"),
        ('{"x": 1e999}', "not valid JSON"),
        ("[" * 50_000, "nested too deeply"),
        ('{"x": ' + "[" * 900 + "]" * 900 + "}", "`x` is nested more than 64 levels"),
        ("", "not valid JSON"),
    ],
)
def test_invalid_spec_is_exit_2_naming_the_key(initialised: Path, cli: Cli, text: str, key: str) -> None:
    cli.ok("task", "add", "t", "--id", "T1")
    cli.ok("task", "spec", "T1", "--allowed-path", "docs/**")
    assert_error(cli("task", "spec", "T1", "--json-text", text), 2, key)
    err = json_error(cli("task", "spec", "T1", "--json-text", text, "--json"), 2, "invalid_spec")
    assert key in err["message"]
    assert cli.json("task", "show", "T1")["spec"]["allowed_paths"] == ["docs/**"]  # unchanged


def test_task_spec_bad_glob_flag_and_source_errors(initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "t", "--id", "T1")
    assert_error(cli("task", "spec", "T1", "--allowed-path", "src/[x"), 2, "allowed_paths")
    assert_error(cli("task", "spec", "T1"), 2, "exactly one")
    assert_error(cli("task", "spec", "T1", "--json-text", "{}", "--allowed-path", "x"), 2, "exactly one")
    assert_error(cli("task", "spec", "T1", "--validation", "sometimes"), 2)
    assert_error(cli("task", "spec", "T1", "--file", "nope.json"), 2, "nope.json")
    assert_error(cli("task", "spec"), 2)


# --- lifecycle ------------------------------------------------------------------------------------


def test_done_fail_retry_lifecycle_and_events(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "t", "--id", "T1")
    cli.ok("task", "spec", "T1", "--allowed-path", "src/auth/**", "--subsystem", "auth")
    lease = cli.json("lease", "acquire", "T1", "agent-a")["lease"]
    cli.ok("claim", "T1", "agent-a", "src/auth/login.py")
    done = cli.json("task", "done", "T1")["task"]
    assert done["status"] == "done" and done["completed_at"]
    assert cli.json("lease", "show", lease["id"])["lease"]["status"] == "completed"
    assert cli.json("claims")["claims"] == []
    assert query(initialised, "SELECT COUNT(*) AS n FROM scope_reservations WHERE released_at IS NULL")[0]["n"] == 0
    assert_error(cli("task", "done", "T1"), 1, "already done")
    assert_error(cli("task", "fail", "T1"), 1)

    retried = cli.json("task", "retry", "T1", "--reason", "flaky")["task"]
    assert retried["status"] == "pending" and retried["worktree"] is None and retried["completed_at"] is None
    assert_error(cli("task", "retry", "T1"), 1, "pending")

    lease2 = cli.json("lease", "acquire", "T1", "agent-b")["lease"]
    cli.ok("claim", "T1", "agent-b", "src/auth/login.py")
    failed = cli.json("task", "fail", "T1", "tests do not pass")["task"]
    assert failed["status"] == "failed"
    shown = cli.json("lease", "show", lease2["id"])["lease"]
    assert shown["status"] == "failed" and shown["failure_reason"] == "tests do not pass"
    assert cli.json("claims")["claims"] == []
    assert_error(cli("task", "done", "T1"), 1, "retry")
    assert_error(cli("lease", "acquire", "T1", "agent-a"), 1, "retry")
    assert cli.ok("task", "retry", "T1").out.strip() == "T1 is now pending"

    kinds = [e["event_type"] for e in events(initialised) if e["task_id"] == "T1"]
    assert kinds == [
        "task_created",
        "task_spec_updated",
        "lease_started",
        "scope_reserved",
        "file_claimed",
        "claim_released",
        "task_completed",
        "task_retried",
        "lease_started",
        "scope_reserved",
        "file_claimed",
        "claim_released",
        "task_failed",
        "task_retried",
    ]
    fail_row = events(initialised, "task_failed")[0]
    assert fail_row["status"] == "denied" and fail_row["reason_code"] == "task_failed"
    # issue 12: failing agent-b's lease from the main worktree is weakening, named with the caller.
    assert json.loads(fail_row["details"]) == {"reason": "tests do not pass", "by_worktree": "main", "weakens": True}
    retry_row = events(initialised, "task_retried")[0]
    assert json.loads(retry_row["details"])["reason"] == "flaky"
    all_details_are_json(initialised)
    assert cli.json("audit", "verify")["ok"] is True


def test_done_and_fail_without_a_lease(initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "a", "--id", "A")
    cli.ok("task", "add", "b", "--id", "B")
    assert cli.json("task", "done", "A")["task"]["status"] == "done"
    assert cli.json("task", "fail", "B")["task"]["status"] == "failed"
    assert json.loads(events(initialised, "task_failed")[0]["details"]) == {"reason": "unknown"}
    all_details_are_json(initialised)


def test_every_json_output_is_one_document(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "t", "--id", "T1")
    for args in (
        ["task", "list"],
        ["task", "show", "T1"],
        ["task", "spec", "T1", "--allowed-path", "src/**"],
        ["lease", "acquire", "T1", "agent-a"],
        ["lease", "list"],
        ["claim", "T1", "agent-a", "README.md"],
        ["claims"],
        ["status"],
        ["worktree", "list"],
        ["worktree", "sync"],
        ["policy", "show"],
        ["audit", "list"],
        ["audit", "verify"],
        ["validation", "list"],
        ["invalidations", "list"],
        ["lease", "reap"],
        ["release", "T1"],
        ["task", "done", "T1"],
        ["lease", "next", "agent-b"],
    ):
        res = cli.ok(*args, "--json")
        json.loads(res.out)  # raises on a second document or trailing text
        assert res.out.count("\n") == 1 and res.err == ""


def test_a_deep_but_allowed_spec_prints_back(initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "t", "--id", "T1")
    deep = '{"x": ' + "[" * 63 + "]" * 63 + "}"
    cli.ok("task", "spec", "T1", "--json-text", deep)
    assert cli.json("task", "show", "T1")["spec"]["x"] == json.loads(deep)["x"]
    cli.ok("audit", "list", "--json")
    cli.ok("status", "--json")
