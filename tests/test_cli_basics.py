"""The command line's own manners: version, help with no arguments, usage errors under --json."""

from __future__ import annotations

import json
from pathlib import Path

from switchman import __version__
from testing.cli import run_cli


def test_version_short_and_long(tmp_path: Path) -> None:
    for flag in ("-V", "--version"):
        res = run_cli(flag, cwd=tmp_path)
        assert res.code == 0 and res.out.strip() == f"switchman-hook, version {__version__}"


def test_no_arguments_prints_plain_help(tmp_path: Path) -> None:
    res = run_cli(cwd=tmp_path)
    assert res.code == 0 and res.err == ""
    assert res.out.startswith("Usage: switchman-hook") and "error:" not in res.out
    group = run_cli("task", cwd=tmp_path)
    assert group.code == 0 and group.out.startswith("Usage: switchman-hook task")


def test_usage_error_under_json_prints_one_json_document(tmp_path: Path) -> None:
    res = run_cli("task", "add", "--json", cwd=tmp_path)
    assert res.code == 2
    doc = json.loads(res.out)
    assert doc["ok"] is False and doc["error"]["code"] == "usage" and "TITLE" in doc["error"]["message"]
    assert res.err.startswith("error: ") and len(res.err.strip().splitlines()) == 1


def test_usage_error_without_json_prints_nothing_on_stdout(tmp_path: Path) -> None:
    res = run_cli("task", "add", cwd=tmp_path)
    assert res.code == 2 and res.out == "" and "Missing argument" in res.err


def test_gitpython_is_not_a_dependency() -> None:
    """Nothing imports it (the hooks ask git directly): it must not be installed for nothing."""
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text().lower()
    assert "gitpython" not in text


def test_force_color_and_no_color(repo: Path) -> None:
    from testing.cli import run_cli as run

    run("init", cwd=repo)
    forced = run("status", cwd=repo, env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert forced.code == 0 and "\x1b[" in forced.out
    plain = run("status", cwd=repo, env={"NO_COLOR": "1"})
    assert plain.code == 0 and "\x1b[" not in plain.out
