"""`status`: one screen of everything that is going on."""

from __future__ import annotations

import click

from ..render import status_lines
from .common import echo, emit_json, get_ctx, json_option, style


def _paint(text: str, colour: str | None, bold: bool) -> str:
    return style(text, fg=colour, bold=True if bold else None)


@click.command("status")
@json_option
def status_command(as_json: bool) -> None:
    """Tasks, leases, claims, reservations, compliance, validations, invalidations, denials."""
    from ..status import collect

    ctx = get_ctx()
    report = collect(ctx.paths, ctx.store)
    if as_json:
        emit_json(report)
        return
    for line in status_lines(report, _paint):
        echo(line)
