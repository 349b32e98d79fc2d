"""`monitor once|watch`: observe every registered worktree; quarantine unowned writes."""

from __future__ import annotations

import time

import click

from ..errors import EnvironmentProblem
from .common import echo, emit_json, get_ctx, json_option

QUARANTINE_HELP = "Quarantine unowned new writes in every worktree (strict-mode worktrees always are)."


@click.group("monitor")
def monitor_group() -> None:
    """Observe all registered worktrees: record writes, compliance, and quarantine (strict)."""


@monitor_group.command("once")
@click.option("--quarantine", is_flag=True, help=QUARANTINE_HELP)
@json_option
def monitor_once(quarantine: bool, as_json: bool) -> None:
    """One pass over every registered worktree whose directory exists."""
    from ..monitor import monitor_once as run_once
    from ..render import format_result

    result = run_once(get_ctx().store, quarantine=quarantine)
    if as_json:
        emit_json(result.to_json())
    else:
        echo(format_result(result))
    if not result.ok:
        raise click.exceptions.Exit(1)


@monitor_group.command("watch")
@click.option("--interval", type=click.FloatRange(min=0), default=2.0, show_default=True, metavar="S", help="Seconds between passes.")
@click.option("--quarantine", is_flag=True, help=QUARANTINE_HELP)
@click.option("--iterations", type=click.IntRange(min=1), hidden=True, help="Stop after N passes (for tests).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document per pass (JSON Lines).")
def monitor_watch(interval: float, quarantine: bool, iterations: int | None, as_json: bool) -> None:
    """`monitor once` every S seconds until Ctrl-C (which exits 0).

    The first pass is always printed; later ones only when something happened. Exit 1 when a
    quarantine action failed in any pass (with --iterations).
    """
    from ..monitor import monitor_once
    from ..render import format_result

    ctx = get_ctx()
    ctx.json = as_json
    store = ctx.store
    failed = False
    done = 0
    try:
        while iterations is None or done < iterations:
            started = time.monotonic()
            try:
                result = monitor_once(store, quarantine=quarantine)
            except EnvironmentProblem as exc:
                if exc.code != "store_locked":
                    raise
                # A long-running watcher outlives a busy store: report it and try the next pass.
                click.echo(exc.line(), err=True)
                failed = True
            else:
                failed |= not result.ok
                if as_json:
                    emit_json(result.to_json())
                else:
                    text = format_result(result, quiet=done > 0)
                    if done == 0 or "\n" in text:
                        echo(text)
            done += 1
            if iterations is not None and done >= iterations:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        return
    if failed:
        raise click.exceptions.Exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(monitor_group)
