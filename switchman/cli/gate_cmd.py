"""`gate commit|merge|push|ci`: the hooks' gates, runnable by hand, by agents and by CI."""

from __future__ import annotations

import sys
from typing import Any

import click

from .common import echo, emit_json, get_ctx, json_option


def gate_json(result: Any) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "gate": result.gate,
        "worktree": result.worktree,
        "mode": result.mode,
        "lease_id": result.lease_id,
        "compliance_state": result.compliance_state,
        "staged_files": result.staged_files,
        "changed_files": result.changed_files,
        "violations": [{"file": v.file, "reason_code": v.reason_code, "holder": v.holder, "fix": v.fix} for v in result.violations],
        "warnings": result.warnings,
        "summary": result.summary,
        "audit_sequence": result.audit_sequence,
        **({"commits": result.commits} if result.commits else {}),
    }


def _finish(result: Any, as_json: bool) -> None:
    from ..render import format_gate

    if as_json:
        emit_json(gate_json(result))
    else:
        echo(format_gate(result) or result.summary)
    if not result.ok:
        raise click.exceptions.Exit(1)


@click.group("gate")
def gate_group() -> None:
    """Run a gate for the worktree containing the current directory."""


@gate_group.command("commit")
@json_option
def gate_commit(as_json: bool) -> None:
    """Judge what is staged (and, in strict mode, every change in the worktree).

    `changed_files` lists every change in the worktree; only strict mode refuses unstaged ones.
    """
    from ..gates.commit import commit_gate

    ctx = get_ctx()
    _finish(commit_gate(ctx.paths, ctx.store, scan_worktree=True), as_json)


@gate_group.command("merge")
@click.option("--ref", help="Judge merging REF into HEAD (default: the merge in progress).")
@json_option
def gate_merge(ref: str | None, as_json: bool) -> None:
    """Refuse merging tasks whose boundary validation is blocked or dependencies are stale."""
    from ..gates.merge import merge_gate

    ctx = get_ctx()
    _finish(merge_gate(ctx.paths, ctx.store, ref=ref), as_json)


@gate_group.command("push")
@click.argument("remote")
@click.argument("url")
@json_option
def gate_push(remote: str, url: str, as_json: bool) -> None:
    """Pre-push gate: refs on stdin as git gives them (`<local ref> <sha> <remote ref> <sha>`)."""
    from ..gates.push import push_gate

    ctx = get_ctx()
    lines = sys.stdin.read().splitlines()
    _finish(push_gate(ctx.paths, ctx.store, remote, url, lines), as_json)


@gate_group.command("ci")
@click.option("--base", help="Check commits in BASE..HEAD (default: all since switchman init).")
@json_option
def gate_ci(base: str | None, as_json: bool) -> None:
    """Repo-level gate: audit verifies, no blocked validations, provenance for every commit."""
    from ..gates.ci import ci_gate

    ctx = get_ctx()
    _finish(ci_gate(ctx.paths, ctx.store, base), as_json)


def register(cli: click.Group) -> None:
    cli.add_command(gate_group)
