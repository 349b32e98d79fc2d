"""`policy show|allow|mode`."""

from __future__ import annotations

import click

from .common import caller, echo, emit_json, get_ctx, json_option


@click.group("policy")
def policy_group() -> None:
    """The repo's enforcement policy (.switchman/enforcement.json)."""


@policy_group.command("show")
@json_option
def policy_show(as_json: bool) -> None:
    """Default mode and generated-path exceptions."""
    from ..policy import load

    pol = load(get_ctx().store.state_dir)
    if as_json:
        emit_json(pol.to_json())
        return
    echo(f"default_mode: {pol.default_mode}")
    echo("allowed_generated_paths: " + (", ".join(pol.allowed_generated_paths) or "-"))


@policy_group.command("allow")
@click.argument("globs", nargs=-1, required=True)
@json_option
def policy_allow(globs: tuple[str, ...], as_json: bool) -> None:
    """Let any lease change paths matching GLOBs (generated files)."""
    from ..ops.policy import allow

    pol = allow(get_ctx().store, list(globs), caller())
    if as_json:
        emit_json(pol.to_json())
    else:
        echo("allowed_generated_paths: " + ", ".join(pol.allowed_generated_paths))


@policy_group.command("mode")
@click.argument("mode", type=click.Choice(["observed", "guarded", "strict"]))
@click.option("--all-worktrees", is_flag=True, help="Also set every registered worktree to MODE.")
@json_option
def policy_mode(mode: str, all_worktrees: bool, as_json: bool) -> None:
    """Set the default enforcement mode for newly registered worktrees."""
    from ..ops.policy import set_default_mode

    pol = set_default_mode(get_ctx().store, mode, all_worktrees, caller())
    if as_json:
        emit_json(pol.to_json())
    else:
        echo(f"default_mode: {pol.default_mode}" + (" (applied to every worktree)" if all_worktrees else ""))


def register(cli: click.Group) -> None:
    cli.add_command(policy_group)
