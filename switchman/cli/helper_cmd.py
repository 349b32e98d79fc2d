"""`helper status` and `helper stop`: the warm per-user hook helper (switchman/helper/)."""

from __future__ import annotations

import click

from .common import echo, emit_json, get_ctx, json_option


@click.group("helper")
def helper_group() -> None:
    """The warm helper that runs hooks in a fork instead of a new Python (started by the first hook)."""


def _emit(state, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from ..models import to_dict

    if as_json:
        emit_json(to_dict(state))
    else:
        echo(f"helper {state.state}: {state.detail}")


@helper_group.command("status")
@json_option
def status_command(as_json: bool) -> None:
    """running (pid, socket), starting, stopped, stale_socket or disabled (SWITCHMAN_NO_HELPER=1)."""
    from .. import helperstate

    _emit(helperstate.status(get_ctx().paths.common_dir), as_json)


@helper_group.command("stop")
@json_option
def stop_command(as_json: bool) -> None:
    """Stop this repository's helper (the next hook starts a fresh one); idempotent."""
    from .. import helperstate

    _emit(helperstate.stop(get_ctx().paths.common_dir), as_json)


def register(cli: click.Group) -> None:
    cli.add_command(helper_group)
