"""`init` and `status`."""

from __future__ import annotations

import click

from ..models import to_dict
from .common import chatter, echo, emit_json, get_ctx, json_option


@click.command("init")
@click.option("--mode", type=click.Choice(["observed", "guarded", "strict"]), help="Default enforcement mode.")
@click.option("--install-hooks", is_flag=True, help="Also install the git hooks.")
@click.option(
    "--new-history",
    is_flag=True,
    help="After a deliberate reset: start a fresh store and checkpoint history (recorded as such).",
)
@click.option("--store", "store_url", metavar="URL", help="Use a PostgreSQL store (team backend) instead of SQLite.")
@click.option("--repo-id", metavar="ID", help="Repository id in a shared store (default: the oldest root commit).")
@json_option
def init_command(
    mode: str | None, install_hooks: bool, new_history: bool, store_url: str | None, repo_id: str | None, as_json: bool
) -> None:
    """Create the shared state, audit key and policy; register git's worktrees. Idempotent."""
    from ..state import init

    ctx = get_ctx()
    result = init(ctx.paths, mode, new_history=new_history, store_url=store_url, repo_id=repo_id)
    hooks = None
    integrator = None
    if install_hooks:
        from ..install import install

        hooks = install(ctx.paths)
        from ..ops.worktrees import main_to_integrator

        integrator = None if ctx.paths.is_bare else main_to_integrator(ctx.store, ctx.paths.root)
    if as_json:
        data = to_dict(result)
        data["ok"] = True
        if hooks is not None:
            data["hooks"] = to_dict(hooks)
            data["integrator"] = integrator
        emit_json(data)
        return
    verb = "initialised" if result.created else "already initialised"
    echo(f"switchman {verb} in {result.state_dir} (default mode: {result.mode})")
    if result.key_created:
        echo("created audit.key (mode 0600; never commit it — it is excluded via .git/info/exclude)")
    for wt in result.registered:
        echo(f"registered worktree {wt.name} → {wt.path}")
    if hooks is not None:
        echo(f"hooks installed in {hooks.hooks_dir}")
        if integrator:
            echo(f"worktree {integrator} is an integrator (merge agents' branches there; no lease needed)")
    elif not install_hooks:
        chatter("next: `switchman-hook hooks install` to enforce on commit, merge and push")


def register(cli: click.Group) -> None:
    cli.add_command(init_command)
    from .status_cmd import status_command

    cli.add_command(status_command)
