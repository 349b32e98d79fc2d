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


def format_ci_receipts(report: dict[str, Any]) -> str:
    """`gate ci --base` for a person: one line per failing commit with its fix, then the count."""
    from ..reasons import fix, text

    lines = []
    for c in report["commits"]:
        if c["verdict"] == "fail":
            lines.append(f"FAIL {c['commit'][:12]} [{c['reason_code']}] {c['detail']}")
            hint = fix(c["reason_code"])
            if hint:
                lines.append(f"     fix: {hint}")
    for p in report["summary"]["problems"]:
        lines.append(f"FAIL [{p['reason_code']}] {text(p['reason_code'])}: {p['detail']}")
        lines.append(f"     fix: {fix(p['reason_code'])}")
    s = report["summary"]
    word = "passed" if report["ok"] else "failed"
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(s["by_reason"].items()))
    lines.append(f"ci gate {word}: {s['commits']} commit(s) in {report['base'][:12]}..{report['head'][:12]}, "
                 f"{s['failed']} failed ({reasons or 'none'}); {s['trusted_keys']} trusted key(s) from {s['keys_from']}")
    return "\n".join(lines)


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
@click.option("--base", help="Check commits in BASE..HEAD by their receipts (default: all since switchman init, local rows).")
@click.option("--head", help="The tip to check (default: HEAD); only with --base.")
@click.option("--trusted-keys", "keys_file", metavar="FILE", help="Trusted verifier keys (default: .switchman-keys at BASE).")
@click.option("--fetch", "fetch", metavar="REMOTE", multiple=True, help="Fetch REMOTE's refs/notes/switchman first (repeatable: base repo and fork).")
@click.option("--require-mode", type=click.Choice(["observed", "guarded", "strict"]), help="Fail commits judged in a weaker mode.")
@json_option
def gate_ci(base: str | None, head: str | None, keys_file: str | None, fetch: tuple[str, ...], require_mode: str | None, as_json: bool) -> None:
    """Repo-level gate. With --base: every commit in BASE..HEAD needs a trusted receipt (works in
    a fresh clone, no init). Without: audit verifies, no blocked validations, local provenance."""
    from ..errors import BadInput

    ctx = get_ctx()
    if base is None:
        if head or keys_file or fetch or require_mode:
            raise BadInput("--head, --trusted-keys, --fetch and --require-mode need --base", "add --base REV, e.g. --base origin/main")
        from ..gates.ci import ci_gate

        _finish(ci_gate(ctx.paths, ctx.store, base), as_json)
        return
    from ..errors import EnvironmentProblem
    from ..gates.ci import receipts_ci
    from ..state import require_initialised

    paths = ctx.paths
    try:
        require_initialised(paths)
        store = ctx.store
    except EnvironmentProblem:
        store = None  # a fresh clone: receipts only
    report = receipts_ci(paths, store, base, head, keys_file=keys_file, fetch=fetch, require_mode=require_mode)
    if as_json:
        emit_json(report)
    else:
        echo(format_ci_receipts(report))
    if not report["ok"]:
        raise click.exceptions.Exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(gate_group)
