"""`demo [--keep]`: a narrated, real run in a throwaway repo (doubles as a smoke test)."""

from __future__ import annotations

import click

from .common import echo


@click.command("demo")
@click.option("--keep", is_flag=True, help="Leave the demo repo in place and print its path.")
def demo_command(keep: bool) -> None:
    """Build a throwaway repo with two agent worktrees and show switchman-hook at work.

    Exit 0 only if every step behaved as narrated; otherwise exit 1 naming the step.
    """
    from ..demo import run

    if run(keep=keep, emit=echo):
        raise click.exceptions.Exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(demo_command)
