"""`worktree add|list|sync|mode`."""

from __future__ import annotations

import os

import click

from ..render import table
from .common import caller, echo, emit_json, get_ctx, json_option, worktree_ref
from .completion import complete_worktrees


@click.group("worktree")
def worktree_group() -> None:
    """Registered worktrees: names are labels, identity is the path (and machine, on a server)."""


@worktree_group.command("add")
@click.argument("name")
@click.argument("path", type=click.Path())
@click.argument("branch")
@json_option
def worktree_add(name: str, path: str, branch: str, as_json: bool) -> None:
    """Register PATH as NAME, creating it with `git worktree add` (on BRANCH) if needed."""
    from ..ops.worktrees import add

    ctx = get_ctx()
    full = os.path.abspath(os.path.join(ctx.cwd, path))
    wt, created_git = add(ctx.paths, ctx.store, name, full, branch)
    if as_json:
        emit_json({"worktree": wt, "created": created_git})
    else:
        echo(f"{'created and ' if created_git else ''}registered worktree {wt.name} → {wt.path} ({wt.branch})")


@worktree_group.command("list")
@json_option
def worktree_list(as_json: bool) -> None:
    """Registered worktrees with mode and compliance."""
    from ..store import worktrees as wtmod

    store = get_ctx().store
    rows = wtmod.list_all(store)
    if as_json:
        emit_json({"worktrees": rows})
        return
    cells = [[w.name, w.branch or "-", w.enforcement_mode, w.compliance_state, w.status, w.path] for w in rows]
    header = ["NAME", "BRANCH", "MODE", "COMPLIANCE", "STATUS", "PATH"]
    if store.shared:  # clones on several machines: say which one each is on
        cells = [[*c, (w.machine or "-")[:12]] for c, w in zip(cells, rows, strict=True)]
        header.append("MACHINE")
    echo(table(cells, header) or "no worktrees")


@worktree_group.command("sync")
@json_option
def worktree_sync(as_json: bool) -> None:
    """Register every worktree `git worktree list` knows and the store does not."""
    from ..ops.worktrees import sync

    ctx = get_ctx()
    created = sync(ctx.paths, ctx.store)
    if as_json:
        emit_json({"registered": created})
        return
    for wt in created:
        echo(f"registered worktree {wt.name} → {wt.path}")
    if not created:
        echo("all git worktrees are registered")


@worktree_group.command("mode")
@click.argument("name", shell_complete=complete_worktrees)
@click.argument("mode", type=click.Choice(["observed", "guarded", "strict", "integrator"]))
@json_option
def worktree_mode(name: str, mode: str, as_json: bool) -> None:
    """Set a worktree's enforcement mode."""
    from ..ops.worktrees import set_mode

    wt = set_mode(get_ctx().store, worktree_ref(name), mode, caller())
    if as_json:
        emit_json({"worktree": wt})
    else:
        echo(f"worktree {wt.name} is now {wt.enforcement_mode}")


def register(cli: click.Group) -> None:
    cli.add_command(worktree_group)
