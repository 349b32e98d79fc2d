"""`doctor [--json] [--fix]`: every SPEC §8 check with its fix; exit 1 when any check fails."""

from __future__ import annotations

import click

from .common import echo, emit_json, get_ctx, json_option, style


def _paint(text: str, colour: str, bold: bool) -> str:
    return style(text, fg=colour, bold=bold)


@click.command("doctor")
@click.option("--fix", "apply_fix", is_flag=True, help="Apply the safe fixes (reinstall hooks, chmod 600 the key, add the exclude line).")
@json_option
def doctor_command(apply_fix: bool, as_json: bool) -> None:
    """Is this repo actually protected? Hooks (proved to fire), key, store, audit trail, coordination.

    Read-only unless --fix. Exit 1 when any check fails (health: blocked).
    """
    from ..doctor.checks import run
    from ..render import render_lines

    report = run(get_ctx().cwd, fix=apply_fix)
    if as_json:
        emit_json(report.to_dict())
    else:
        for line in render_lines(report, _paint):
            echo(line)
    if not report.ok:
        raise click.exceptions.Exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(doctor_command)
