"""`hooks install|uninstall|status` and the hidden `hook NAME [ARGS...]` the scripts fall back to."""

from __future__ import annotations

import os

import click

from ..models import to_dict
from ..render import table
from .common import caller, echo, emit_json, get_ctx, json_option, show_path


@click.group("hooks")
def hooks_group() -> None:
    """The git hooks that run the gates (installed into the effective hooks dir)."""


def _warn(warnings: tuple[str, ...]) -> None:
    for w in warnings:
        echo(f"warning: {w}", err=True)


@hooks_group.command("install")
@click.option("--force", is_flag=True, help="Install even into a global/system core.hooksPath.")
@json_option
def hooks_install(force: bool, as_json: bool) -> None:
    """Write the hook scripts, chaining any hook already there. Idempotent."""
    from ..install import install

    result = install(get_ctx().paths, force=force)
    if as_json:
        emit_json({"ok": result.ok, **to_dict(result)})
    else:
        echo(f"hooks dir: {show_path(result.hooks_dir)}")
        rows = [[h.name, h.action, show_path(os.path.basename(h.chained)) if h.chained else "-"] for h in result.hooks]
        echo(table(rows, ["hook", "action", "chained"]))
        _warn(result.warnings)
    if not result.ok:
        raise click.exceptions.Exit(1)


@hooks_group.command("uninstall")
@json_option
def hooks_uninstall(as_json: bool) -> None:
    """Remove the scripts and restore exactly the hooks they replaced."""
    from ..install import uninstall

    result = uninstall(get_ctx().paths, caller())
    if as_json:
        emit_json({"ok": True, **to_dict(result)})
        return
    echo(f"hooks dir: {show_path(result.hooks_dir)}")
    echo(table([[h.name, h.action] for h in result.hooks], ["hook", "action"]))
    _warn(result.warnings)


@hooks_group.command("status")
@json_option
def hooks_status(as_json: bool) -> None:
    """Which hooks are installed, current, executable, and what they chain."""
    from ..install import hook_status

    st = hook_status(get_ctx().paths)
    if as_json:
        emit_json({"ok": True, **to_dict(st)})
        return
    scope = f" (core.hooksPath, {st.hooks_path_scope})" if st.hooks_path_scope else ""
    echo(f"hooks dir: {show_path(st.hooks_dir)}{scope}")
    rows = []
    for h in st.hooks:
        chained = "-"
        if h.chained:
            chained = show_path(os.path.basename(h.chained)) + ("" if h.chained_exists else " (missing)")
        interp = "-"
        if h.interpreter is not None:
            interp = show_path(h.interpreter or "''") + ("" if h.interpreter_exists else " (missing)")
        rows.append([h.name, h.state, "yes" if h.executable else "no", chained, interp])
    echo(table(rows, ["hook", "state", "exec", "chained", "interpreter"]))


@click.command(
    "hook",
    hidden=True,
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook_command(name: str, args: tuple[str, ...]) -> None:
    """Entry point of the installed scripts when their recorded interpreter is gone."""
    from ..hookrun import main

    cwd = get_ctx().cwd
    if os.path.abspath(os.getcwd()) != cwd:
        os.chdir(cwd)
    raise click.exceptions.Exit(main([name, *args]))


def register(cli: click.Group) -> None:
    cli.add_command(hooks_group)
    cli.add_command(hook_command)
