"""`audit list|verify|export`, `validation list`, `invalidations list`."""

from __future__ import annotations

import click

from ..jsonutil import dumps
from ..render import table
from .common import INT64_MAX, echo, emit_json, get_ctx, json_option, show_path


@click.group("audit")
def audit_group() -> None:
    """The signed, hash-chained audit trail."""


@audit_group.command("list")
@click.option("--event-type", help="Only this event type.")
@click.option("--status", type=click.Choice(["allowed", "denied", "warn", "info"]))
@click.option("--task", "task_id", help="Only events of this task.")
@click.option("--limit", type=click.IntRange(min=1, max=INT64_MAX), default=50, show_default=True)
@json_option
def audit_list(event_type: str | None, status: str | None, task_id: str | None, limit: int, as_json: bool) -> None:
    """Audit events, newest first."""
    from ..store.audit_log import list_rows

    rows = list_rows(get_ctx().store, event_type=event_type, status=status, task_id=task_id, limit=limit)
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


def run_verify(as_json: bool, against: str | None = None) -> int:
    from ..store.sqlite_audit import read_key
    from ..trail import verify_trail

    ctx = get_ctx()
    store = ctx.store
    trail = verify_trail(ctx.paths, store, read_key(store.state_dir), against=against)
    result, cp, failures, ok = trail.chain, trail.checkpoint, trail.failures, trail.ok
    assert cp is not None
    data = trail.to_dict()
    if as_json:
        emit_json(data)
    elif ok:
        echo(f"audit trail ok: {result.count} events, chain and signatures verify")
        echo(f"checkpoint: {cp.detail}")
    else:
        echo(f"audit trail FAILED verification ({len(failures)} problem(s) in {result.count} events):")
        for f in failures[:50]:
            echo(f"  [{f.reason_code}] seq {f.sequence if f.sequence is not None else '-'} (row {f.id if f.id is not None else '-'}): {f.message}")
    if not ok and any(f.reason_code == "key_missing" for f in failures):
        click.echo("error: audit.key is missing — restore .switchman/audit.key from a backup; it is never regenerated", err=True)
        return 3
    return 0 if ok else 1


@audit_group.command("verify")
@click.option("--against", metavar="FILE|REF", help="Also check consistency with a witness checkpoint (a file or a git rev).")
@json_option
def audit_verify(against: str | None, as_json: bool) -> None:
    """Check sequence, hash chain and HMAC signatures of every row, and the signed checkpoint."""
    code = run_verify(as_json, against)
    if code:
        raise click.exceptions.Exit(code)


# --- checkpoints, proofs, keys ----------------------------------------------------------------


@audit_group.command("checkpoint")
@json_option
def audit_checkpoint(as_json: bool) -> None:
    """Sign a checkpoint of the log now (normally written after every command that appends)."""
    from ..checkpoint.ref import REF
    from ..checkpoint.writer import write_checkpoint

    res = write_checkpoint(get_ctx().store, required=True)
    if as_json:
        emit_json({"ok": True, "ref": REF, **res.__dict__})
    elif res.written or res.reason == "current":
        echo(f"checkpoint of size {res.size} on {REF} ({'written' if res.written else 'already current'})")
    else:
        echo(f"checkpoint not written: {res.reason} (size {res.size})")


@audit_group.command("prove")
@click.argument("sequence", type=click.IntRange(min=1))
@json_option
def audit_prove(sequence: int, as_json: bool) -> None:
    """An inclusion proof of event SEQ under the signed checkpoint (check it with verify-proof)."""
    from ..checkpoint.verify import prove

    ctx = get_ctx()
    doc = prove(ctx.paths, ctx.store, sequence)
    if as_json:
        emit_json(doc)
    else:
        import json

        echo(json.dumps(doc, indent=2))


@audit_group.command("verify-proof")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--pubkey", "pubkey", required=True, metavar="KEY", help="Verifier key (`audit pubkey`) or a file holding it.")
@json_option
def audit_verify_proof(file: str, pubkey: str, as_json: bool) -> None:
    """Check an inclusion proof with only the public key: no repository or database needed."""
    import json
    import os

    from ..checkpoint.keys import VerifierKey
    from ..checkpoint.proofs import verify_proof
    from ..errors import BadInput

    key_text = pubkey
    if os.path.isfile(pubkey):
        with open(pubkey, encoding="utf-8") as fh:
            key_text = fh.read().strip()
    key = VerifierKey.parse(key_text)
    try:
        with click.open_file(file, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read proof {file}: {exc}", "pass the output of `switchman-hook audit prove SEQ --json`") from exc
    failures = verify_proof(doc, key)
    if as_json:
        emit_json({"ok": not failures, "sequence": doc.get("sequence"), "tree_size": doc.get("tree_size"), "failures": [f.__dict__ for f in failures]})
    elif failures:
        echo(f"proof FAILED for event {doc.get('sequence')}:")
        for f in failures:
            echo(f"  [{f.reason_code}] {f.message}")
    else:
        echo(f"proof ok: event {doc.get('sequence')} is in the log of size {doc.get('tree_size')} signed by {key.name}")
    if failures:
        raise click.exceptions.Exit(1)


@audit_group.command("pubkey")
@json_option
def audit_pubkey(as_json: bool) -> None:
    """Print this machine's checkpoint verifier key (commit it or give it to CI)."""
    from ..checkpoint.keys import keyring, own_key
    from ..errors import EnvironmentProblem

    store = get_ctx().store
    keys = keyring(store.conn)
    mine = own_key(store)
    if mine is None:
        raise EnvironmentProblem("this repo has no checkpoint key on this machine", "run `switchman-hook init`", code="checkpoint_key_missing")
    if as_json:
        emit_json(
            {
                "verifier_key": mine.text,
                "name": mine.name,
                "key_hash": mine.key_hash.hex(),
                "keyring": [{"verifier_key": k.key.text, "retired_size": k.retired_size, "machine": k.machine} for k in keys],
            }
        )
    else:
        echo(mine.text)


@audit_group.command("rotate-key")
@json_option
def audit_rotate_key(as_json: bool) -> None:
    """Replace the checkpoint signing key; old checkpoints stay verifiable. Logged."""
    from ..checkpoint.writer import rotate_key
    from ..gates.spooled import backfill_all_receipts

    ctx = get_ctx()
    backfill_all_receipts(ctx.paths, ctx.store)  # receipts still to write: under the old key
    res = rotate_key(ctx.paths, ctx.store)
    if as_json:
        emit_json({"ok": True, "verifier_key": res.new_key, "retired": res.retired, "retired_size": res.retired_size})
    else:
        echo(f"new checkpoint key: {res.new_key}")
        for old in res.retired:
            echo(f"retired (trusted for checkpoints up to size {res.retired_size}): {old}")



@audit_group.command("export")
@click.option("--since", "since", type=click.IntRange(min=0, max=INT64_MAX), help="Only rows with sequence greater than SEQ.")
def audit_export(since: int | None) -> None:
    """Rows as JSON Lines, oldest first, for shipping elsewhere."""
    from ..store.audit_log import iter_rows

    for row in iter_rows(get_ctx().store, since):
        click.echo(dumps(row.to_dict()))


@click.group("validation")
def validation_group() -> None:
    """Boundary validation state per lease."""


@validation_group.command("list")
@click.option("--status", type=click.Choice(["satisfied", "pending_validation", "blocked"]))
@click.option("--pipeline", help="Only this pipeline.")
@json_option
def validation_list(status: str | None, pipeline: str | None, as_json: bool) -> None:
    """Boundary validations."""
    from ..store.validations import list_validations

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
    from ..store.validations import list_invalidations

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
