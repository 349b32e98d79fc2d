"""`store setup`, `store info`, `store migrate` (the team backend, SPEC §12)."""

from __future__ import annotations

import os

import click

from .common import echo, emit_json, get_ctx, json_option


@click.group("store")
def store_group() -> None:
    """Which store this repository uses; set up and move to a PostgreSQL server."""


@store_group.command("setup")
@click.argument("url")
@click.option(
    "--schema",
    "schema_name",
    default="public",
    show_default=True,
    help="Schema the tables live in.",
)
@json_option
def setup_command(url: str, schema_name: str, as_json: bool) -> None:
    """(Administrator, once) create the schema, the agent role and the server-side audit functions."""
    from ..store import postgres
    from ..store.postgres_config import redact
    from ..store.postgres_schema import AGENT_ROLE

    postgres.setup(url, schema_name=schema_name)
    if as_json:
        emit_json(
            {"ok": True, "server": redact(url), "schema": schema_name, "agent_role": AGENT_ROLE}
        )
    else:
        echo(
            f"store ready on {redact(url)} (schema {schema_name}); agents connect as members of role {AGENT_ROLE}"
        )
        echo("next, in each clone: `switchman-hook init --store URL`")


@store_group.command("info")
@json_option
def info_command(as_json: bool) -> None:
    """Which backend, server, repository id and machine this clone uses."""
    from ..store import postgres_config
    from ..store.sqlite import DB_FILE

    ctx = get_ctx()
    state_dir = ctx.paths.state_dir
    pg = postgres_config.selected(state_dir)
    if pg is not None:
        data = {
            "backend": "postgresql",
            "server": postgres_config.redact(pg.url),
            "selected_by": "SWITCHMAN_DATABASE_URL"
            if pg.source == "env"
            else postgres_config.CONFIG_FILE,
            "repo_id": pg.repo_id,
        }
    else:
        from ..store import meta

        data = {
            "backend": "sqlite",
            "server": None,
            "path": os.path.join(state_dir, DB_FILE),
            "selected_by": "default",
            "repo_id": meta.get(ctx.store, "repo_id")
            if os.path.exists(os.path.join(state_dir, DB_FILE))
            else None,
        }
    data["machine"] = postgres_config.machine_id()
    if as_json:
        emit_json({"ok": True, **data})
        return
    where = data["server"] if pg is not None else data["path"]
    echo(f"backend {data['backend']}: {where} (selected by {data['selected_by']})")
    echo(f"repository {data['repo_id'] or '-'}; machine {data['machine']}")


@store_group.command("migrate")
@click.option(
    "--to", "url", required=True, metavar="URL", help="The PostgreSQL database (its owner's URL)."
)
@click.option(
    "--repo-id", metavar="ID", help="Repository id on the server (default: the oldest root commit)."
)
@click.option(
    "--agent-url", metavar="URL", help="The URL this clone uses afterwards (default: --to)."
)
@json_option
def migrate_command(url: str, repo_id: str | None, agent_url: str | None, as_json: bool) -> None:
    """Copy this SQLite store into PostgreSQL (every row; the audit trail verifies before and after) and switch to it."""
    from ..errors import BadInput
    from ..store import postgres_config
    from ..store.sqlite_audit import key_missing_error, read_key

    ctx = get_ctx()
    state_dir = ctx.paths.state_dir
    if postgres_config.selected(state_dir) is not None:
        raise BadInput(
            "this clone already uses a PostgreSQL store", "`switchman-hook store info` says which"
        )
    for candidate in (url, agent_url or url):
        if postgres_config.has_password(candidate):
            raise BadInput(
                "the URL holds a password",
                "put it in ~/.pgpass and pass the URL without it",
                code="password_in_url",
            )
    rid = postgres_config.check_repo_id(repo_id or postgres_config.default_repo_id(ctx.paths.root))
    store = ctx.store
    key = read_key(state_dir)
    if key is None:
        raise key_missing_error(state_dir)
    from ..store.postgres_migrate import migrate

    result = migrate(store, key, url, rid)
    postgres_config.write_config(state_dir, agent_url or url, rid)
    ctx.close()
    if as_json:
        emit_json(
            {
                "ok": True,
                "server": postgres_config.redact(agent_url or url),
                "repo_id": rid,
                **result,
            }
        )
        return
    echo(
        f"copied {sum(result['rows'].values())} rows ({result['audit_events']} audit events, verified) to {postgres_config.redact(url)}"
    )
    echo(
        f"this clone now uses repository {rid} there; .switchman/switchman.db and audit.key are no longer used"
    )


def register(cli: click.Group) -> None:
    cli.add_command(store_group)
