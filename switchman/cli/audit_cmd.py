"""`audit list|verify|export`, `validation list`, `invalidations list`."""

from __future__ import annotations

import click

from ..jsonutil import dumps
from .common import echo, emit_json, get_ctx, json_option, show_path, table


@click.group("audit")
def audit_group() -> None:
    """The signed, hash-chained audit trail."""


@audit_group.command("list")
@click.option("--event-type", help="Only this event type.")
@click.option("--status", type=click.Choice(["allowed", "denied", "warn", "info"]))
@click.option("--task", "task_id", help="Only events of this task.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
def audit_list(event_type: str | None, status: str | None, task_id: str | None, limit: int, as_json: bool) -> None:
    """Audit events, newest first."""
    from ..audit import list_rows

    rows = list_rows(get_ctx().store.conn, event_type=event_type, status=status, task_id=task_id, limit=limit)
    if as_json:
        emit_json({"events": [r.to_dict() for r in rows]})
        return
    echo(
        table(
            [
                [str(r.sequence), r.created_at, r.event_type, r.status, r.reason_code or "-", r.worktree or "-", r.task_id or "-", show_path(r.file_path or "-")]
                for r in rows
            ],
            ["SEQ", "TIME", "EVENT", "STATUS", "REASON", "WORKTREE", "TASK", "FILE"],
        )
        or "no audit events"
    )


def run_verify(as_json: bool) -> int:
    from ..audit import read_key, verify

    store = get_ctx().store
    result = verify(store.conn, read_key(store.state_dir))
    if as_json:
        emit_json(result.to_dict())
    elif result.ok:
        echo(f"audit trail ok: {result.count} events, chain and signatures verify")
    else:
        echo(f"audit trail FAILED verification ({len(result.failures)} problem(s) in {result.count} events):")
        for f in result.failures[:50]:
            echo(f"  [{f.reason_code}] seq {f.sequence if f.sequence is not None else '-'} (row {f.id if f.id is not None else '-'}): {f.message}")
    if not result.ok and any(f.reason_code == "key_missing" for f in result.failures):
        click.echo("error: audit.key is missing — restore .switchman/audit.key from a backup; it is never regenerated", err=True)
        return 3
    return 0 if result.ok else 1


@audit_group.command("verify")
@json_option
def audit_verify(as_json: bool) -> None:
    """Check sequence, hash chain and HMAC signatures of every row."""
    code = run_verify(as_json)
    if code:
        raise click.exceptions.Exit(code)


@audit_group.command("export")
@click.option("--since", "since", type=click.IntRange(min=0), help="Only rows with sequence greater than SEQ.")
def audit_export(since: int | None) -> None:
    """Rows as JSON Lines, oldest first, for shipping elsewhere."""
    from ..audit import iter_rows

    out = click.get_text_stream("stdout")
    for row in iter_rows(get_ctx().store.conn, since):
        out.write(dumps(row.to_dict()) + "\n")


@click.group("validation")
def validation_group() -> None:
    """Boundary validation state per lease."""


@validation_group.command("list")
@click.option("--status", type=click.Choice(["satisfied", "pending_validation", "blocked"]))
@click.option("--pipeline", help="Only this pipeline.")
@json_option
def validation_list(status: str | None, pipeline: str | None, as_json: bool) -> None:
    """Boundary validations."""
    from ..validation import list_validations

    rows = list_validations(get_ctx().store, status, pipeline)
    if as_json:
        emit_json({"validations": rows})
        return
    echo(table([[v.lease_id, v.task_id, v.pipeline_id or "-", v.status, ", ".join(v.missing_task_types) or "-"] for v in rows], ["LEASE", "TASK", "PIPELINE", "STATUS", "MISSING"]) or "no boundary validations")


@click.group("invalidations")
def invalidations_group() -> None:
    """Dependency invalidations between pipelines."""


@invalidations_group.command("list")
@click.option("--status", type=click.Choice(["stale", "revalidated", "all"]), default="stale", show_default=True)
@json_option
def invalidations_list(status: str, as_json: bool) -> None:
    """Dependency invalidations."""
    from ..validation import list_invalidations

    rows = list_invalidations(get_ctx().store, status)
    if as_json:
        emit_json({"invalidations": rows})
        return
    echo(
        table(
            [[str(i.id), i.affected_task_id, i.source_task_id, i.reason_type, i.subsystem_tag or i.affected_scope_pattern or "-", i.status] for i in rows],
            ["ID", "AFFECTED", "SOURCE", "REASON", "OVERLAP", "STATUS"],
        )
        or "no dependency invalidations"
    )


def register(cli: click.Group) -> None:
    cli.add_command(audit_group)
    cli.add_command(validation_group)
    cli.add_command(invalidations_group)
