"""`uninstall [--purge]`: the hooks out (chained ones restored); with --purge, every trace too."""

from __future__ import annotations

import click

from ..models import to_dict
from ..render import table
from .common import chatter, echo, emit_json, get_ctx, json_option, show_path


@click.command("uninstall")
@click.option(
    "--purge",
    is_flag=True,
    help="Also remove the state dir, this repo's signing keys, refs/switchman/*, the exclude line and marker files.",
)
@json_option
def uninstall_command(purge: bool, as_json: bool) -> None:
    """Remove the hooks (restoring the ones they chained); --purge removes everything else too."""
    from ..purge import remove

    result = remove(get_ctx().paths, purge=purge)
    if as_json:
        emit_json({"ok": True, "purged": result.purged, "hooks": to_dict(result.hooks), "removed": result.removed})
        return
    hooks = result.hooks
    echo(f"hooks dir: {show_path(hooks.hooks_dir)}")
    echo(table([[h.name, h.action] for h in hooks.hooks], ["hook", "action"]))
    for w in hooks.warnings:
        echo(f"warning: {w}", err=True)
    for item in result.removed:
        echo(f"removed {show_path(item)}")
    if purge and not result.removed:
        chatter("nothing else to remove")
    elif not purge:
        chatter("the store is kept: `switchman-hook uninstall --purge` removes it and every other trace")


def register(cli: click.Group) -> None:
    cli.add_command(uninstall_command)
