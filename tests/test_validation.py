"""Boundary validation, dependency invalidation, and property tests for task spec validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchman.errors import BadInput
from switchman.specs import parse_spec_text, validate
from testing.cli import Cli
from testing.db import age_heartbeat, events, query


def add(cli: Cli, tid: str, spec: dict[str, Any]) -> None:
    cli.ok("task", "add", tid, "--id", tid)
    cli.ok("task", "spec", tid, "--json-text", json.dumps(spec))


def impl_spec(enforcement: str, pipeline: str = "P", paths: list[str] | None = None) -> dict[str, Any]:
    return {
        "allowed_paths": paths or ["src/auth/**"],
        "pipeline_id": pipeline,
        "task_type": "implementation",
        "validation_rules": {
            "enforcement": enforcement,
            "required_completed_task_types": ["tests"],
            "rationale": ["auth changes need tests"],
        },
    }


def spec_of_tests(pipeline: str = "P") -> dict[str, Any]:
    return {"allowed_paths": ["tests/auth/**"], "pipeline_id": pipeline, "task_type": "tests"}


# --- boundary validation -----------------------------------------------------------------------------


@pytest.mark.both_backends
def test_blocked_until_the_pipeline_has_a_done_tests_task(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "IMPL", impl_spec("blocked"))
    add(cli, "TESTS", spec_of_tests())
    add(cli, "OTHER_TESTS", spec_of_tests("Q"))  # a tests task of another pipeline does not count
    lease = cli.json("lease", "acquire", "IMPL", "agent-a")["lease"]["id"]
    vals = cli.json("validation", "list")["validations"]
    assert len(vals) == 1
    v = vals[0]
    assert (v["lease_id"], v["task_id"], v["pipeline_id"], v["status"]) == (lease, "IMPL", "P", "blocked")
    assert v["missing_task_types"] == ["tests"]
    assert json.loads(v["details"])["rationale"] == ["auth changes need tests"]
    row = events(initialised, "boundary_validation_state")[-1]
    assert (row["status"], row["reason_code"], row["lease_id"]) == ("denied", "blocked", lease)

    cli.ok("task", "done", "OTHER_TESTS")
    assert cli.json("validation", "list")["validations"][0]["status"] == "blocked"
    # a heartbeat re-evaluates without a new audit row when nothing changed
    before = len(events(initialised, "boundary_validation_state"))
    cli.ok("lease", "heartbeat", lease)
    assert len(events(initialised, "boundary_validation_state")) == before

    cli.ok("lease", "acquire", "TESTS", "agent-b")
    assert cli.json("validation", "list", "--status", "blocked")["validations"][0]["task_id"] == "IMPL"
    cli.ok("task", "done", "TESTS")
    v = cli.json("validation", "list", "--pipeline", "P")["validations"][0]
    assert v["status"] == "satisfied" and v["missing_task_types"] == []
    assert cli.json("validation", "list", "--status", "blocked")["validations"] == []
    assert cli.json("validation", "list", "--pipeline", "Q")["validations"] == []
    row = events(initialised, "boundary_validation_state")[-1]
    assert (row["status"], row["reason_code"]) == ("allowed", "satisfied")
    assert "satisfied" in cli.ok("status").out
    assert cli.json("audit", "verify")["ok"] is True


def test_warn_enforcement_is_pending_validation(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "IMPL", impl_spec("warn"))
    add(cli, "TESTS", spec_of_tests())
    cli.ok("lease", "acquire", "IMPL", "agent-a")
    v = cli.json("validation", "list")["validations"][0]
    assert v["status"] == "pending_validation" and v["missing_task_types"] == ["tests"]
    assert events(initialised, "boundary_validation_state")[-1]["status"] == "warn"
    assert cli.json("validation", "list", "--status", "pending_validation")["validations"][0]["task_id"] == "IMPL"
    cli.ok("task", "done", "TESTS")  # done without ever being leased still counts
    assert cli.json("validation", "list")["validations"][0]["status"] == "satisfied"


def test_satisfied_from_the_start_and_no_rules_no_row(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "TESTS", spec_of_tests())
    cli.ok("task", "done", "TESTS")
    add(cli, "IMPL", impl_spec("blocked"))
    add(cli, "PLAIN", {"allowed_paths": ["docs/**"], "pipeline_id": "P", "task_type": "docs"})
    add(cli, "NONE", {**impl_spec("none", paths=["/README.md"])})
    cli.ok("lease", "acquire", "IMPL", "agent-a")
    cli.ok("lease", "acquire", "PLAIN", "agent-b")
    cli.ok("lease", "acquire", "NONE", "main")
    vals = cli.json("validation", "list")["validations"]
    assert [(v["task_id"], v["status"]) for v in vals] == [("IMPL", "satisfied")]


def test_spec_change_on_an_active_lease_re_evaluates(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "IMPL", {"allowed_paths": ["src/auth/**"], "pipeline_id": "P", "task_type": "implementation"})
    cli.ok("lease", "acquire", "IMPL", "agent-a")
    assert cli.json("validation", "list")["validations"] == []
    cli.ok("task", "spec", "IMPL", "--json-text", json.dumps(impl_spec("blocked")))
    assert cli.json("validation", "list")["validations"][0]["status"] == "blocked"
    cli.ok("task", "spec", "IMPL", "--json-text", json.dumps(impl_spec("warn")))
    assert cli.json("validation", "list")["validations"][0]["status"] == "pending_validation"


# --- dependency invalidation -------------------------------------------------------------------------


@pytest.mark.both_backends
def test_overlapping_lease_of_another_pipeline_invalidates_and_retry_revalidates(
    agents: tuple[Path, Path], initialised: Path, cli: Cli
) -> None:
    add(cli, "P1", {"allowed_paths": ["src/auth/**"], "subsystem_tags": ["auth"], "pipeline_id": "P"})
    add(cli, "P2", {"allowed_paths": ["docs/**"], "pipeline_id": "P"})
    add(cli, "SAME", {"allowed_paths": ["src/auth/login.py"], "pipeline_id": "P"})
    add(cli, "Q1", {"allowed_paths": ["src/**"], "pipeline_id": "Q"})
    add(cli, "Q2", {"allowed_paths": ["/README.md"], "subsystem_tags": ["auth"], "pipeline_id": "Q"})
    cli.ok("lease", "acquire", "P1", "agent-a")
    cli.ok("task", "done", "P1")
    cli.ok("task", "done", "P2")

    # same pipeline: no invalidation
    cli.ok("lease", "acquire", "SAME", "agent-a")
    cli.ok("task", "done", "SAME")
    assert cli.json("invalidations", "list")["invalidations"] == []

    q1 = cli.json("lease", "acquire", "Q1", "agent-b")["lease"]["id"]
    inv = cli.json("invalidations", "list")["invalidations"]
    got = {(i["affected_task_id"], i["reason_type"], i["source_scope_pattern"], i["affected_scope_pattern"]) for i in inv}
    assert got == {("P1", "scope_overlap", "src/**", "src/auth/**"), ("SAME", "scope_overlap", "src/**", "src/auth/login.py")}
    assert all(i["status"] == "stale" and i["source_task_id"] == "Q1" and i["source_lease_id"] == q1 for i in inv)
    assert all(i["source_pipeline_id"] == "Q" and i["affected_pipeline_id"] == "P" for i in inv)
    row = events(initialised, "dependency_invalidations_updated")[-1]
    assert (row["status"], row["reason_code"], row["lease_id"]) == ("warn", "dependency_invalidated", q1)
    assert json.loads(row["details"])["affected_tasks"] == ["P1", "SAME"]
    cli.ok("task", "done", "Q1")

    cli.ok("lease", "acquire", "Q2", "agent-b")
    sub = [i for i in cli.json("invalidations", "list")["invalidations"] if i["reason_type"] == "subsystem_overlap"]
    assert [(i["affected_task_id"], i["subsystem_tag"]) for i in sub] == [("P1", "auth")]
    assert {i["affected_task_id"] for i in cli.json("status")["invalidations"]} == {"P1", "SAME"}

    retried = cli.json("task", "retry", "P1")["task"]
    assert retried["status"] == "pending"
    left = cli.json("invalidations", "list")["invalidations"]
    assert [i["affected_task_id"] for i in left] == ["SAME"]
    reval = cli.json("invalidations", "list", "--status", "revalidated")["invalidations"]
    assert len(reval) == 2 and all(i["affected_task_id"] == "P1" and i["resolved_at"] for i in reval)
    assert len(cli.json("invalidations", "list", "--status", "all")["invalidations"]) == 3
    row = events(initialised, "dependency_invalidations_updated")[-1]
    assert (row["status"], row["reason_code"], row["task_id"]) == ("info", "revalidated", "P1")
    assert "SAME" in cli.ok("invalidations", "list").out
    assert cli.json("audit", "verify")["ok"] is True


def test_invalidation_is_recorded_once_per_overlap(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "P1", {"allowed_paths": ["src/auth/**"], "pipeline_id": "P"})
    add(cli, "Q1", {"allowed_paths": ["src/**"], "pipeline_id": "Q"})
    cli.ok("task", "done", "P1")
    lease = cli.json("lease", "acquire", "Q1", "agent-b")["lease"]["id"]
    age_heartbeat(initialised, lease, 60)
    cli.ok("lease", "reap")
    cli.ok("lease", "acquire", "Q1", "agent-b")
    assert len(cli.json("invalidations", "list")["invalidations"]) == 1


def test_spec_change_on_an_active_lease_records_new_invalidations(
    agents: tuple[Path, Path], initialised: Path, cli: Cli
) -> None:
    add(cli, "P1", {"allowed_paths": ["src/auth/**"], "pipeline_id": "P"})
    add(cli, "Q1", {"allowed_paths": ["docs/**"], "pipeline_id": "Q"})
    cli.ok("task", "done", "P1")
    cli.ok("lease", "acquire", "Q1", "agent-b")
    assert cli.json("invalidations", "list")["invalidations"] == []
    cli.ok("task", "spec", "Q1", "--json-text", json.dumps({"allowed_paths": ["src/auth/x.py"], "pipeline_id": "Q"}))
    assert [i["affected_task_id"] for i in cli.json("invalidations", "list")["invalidations"]] == ["P1"]
    rows = query(initialised, "SELECT source_scope_pattern FROM dependency_invalidations")
    assert rows == [{"source_scope_pattern": "src/auth/x.py"}]


# --- property tests: spec validation never crashes ----------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
GLOBISH = st.text(alphabet="ab/*?[]!.\\ -#{}\n\udcff", max_size=12)
KNOWN = st.fixed_dictionaries(
    {},
    optional={
        "allowed_paths": st.lists(GLOBISH, max_size=3) | JSON,
        "subsystem_tags": st.lists(st.text(max_size=5), max_size=3) | JSON,
        "pipeline_id": st.none() | st.text(max_size=5) | JSON,
        "task_type": st.sampled_from(["implementation", "tests", "docs", "governance", ""]) | JSON,
        "validation_rules": st.fixed_dictionaries(
            {},
            optional={
                "enforcement": st.sampled_from(["none", "warn", "blocked", "bad"]) | JSON,
                "required_completed_task_types": st.lists(st.text(max_size=5), max_size=3) | JSON,
                "rationale": st.lists(st.text(max_size=5), max_size=2) | JSON,
            },
        )
        | JSON,
        "extra": JSON,
    },
)


def _check(value: Any) -> None:
    try:
        out = validate(value)
    except BadInput as exc:
        assert exc.exit_code == 2 and exc.code == "invalid_spec"
        assert exc.line().startswith("error: invalid task spec") and "\n" not in exc.line()
        return
    assert isinstance(out, dict)
    for key, v in value.items():  # unknown keys are kept verbatim
        if key not in ("allowed_paths", "subsystem_tags", "pipeline_id", "task_type", "validation_rules"):
            assert out[key] == v
    assert validate(out) == out  # idempotent: a stored spec re-validates to itself
    text = json.dumps(out)
    assert parse_spec_text(text) == out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_value_validates_or_is_bad_input(value: Any) -> None:
    _check(value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(KNOWN)
def test_spec_shaped_values_validate_or_are_bad_input(value: dict[str, Any]) -> None:
    _check(value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_is_bad_input(text: str) -> None:
    try:
        parse_spec_text(text)
    except BadInput as exc:
        assert exc.exit_code == 2


def test_retrying_the_done_tests_task_blocks_again(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    add(cli, "IMPL", impl_spec("blocked"))
    add(cli, "TESTS", spec_of_tests())
    cli.ok("lease", "acquire", "IMPL", "agent-a")
    cli.ok("task", "done", "TESTS")
    assert cli.json("validation", "list")["validations"][0]["status"] == "satisfied"
    cli.ok("task", "retry", "TESTS")
    v = cli.json("validation", "list")["validations"][0]
    assert (v["status"], v["missing_task_types"]) == ("blocked", ["tests"])
