"""`claim`, `release`, `claims`."""

from __future__ import annotations

import os

import click

from ..render import table
from .common import echo, emit_json, get_ctx, json_option, show_path, worktree_ref
from .completion import complete_tasks, complete_worktrees


@click.command("claim")
@click.argument("task_id", shell_complete=complete_tasks)
@click.argument("worktree", shell_complete=complete_worktrees)
@click.argument("paths", nargs=-1, required=True)
@click.option("--agent", help="Agent name to record.")
@json_option
def claim_command(task_id: str, worktree: str, paths: tuple[str, ...], agent: str | None, as_json: bool) -> None:
    """Claim PATHs for TASK in WORKTREE: all or nothing; conflicts list path → holder."""
    from ..ops import claims as claimops
    from ..paths import normalize
    from ..store import worktrees as wtmod

    ctx = get_ctx()
    store = ctx.store
    wt = wtmod.require(store, worktree_ref(worktree))
    real_cwd = os.path.realpath(ctx.cwd)
    cwd = ctx.cwd if real_cwd.startswith(wt.path + "/") or real_cwd == wt.path else None
    normalized = [normalize(p, worktree_root=wt.path, cwd=cwd) for p in paths]
    held = claimops.claim(store, task_id, wt.name, normalized, agent)
    if as_json:
        emit_json({"ok": True, "claims": held})
    else:
        for c in held:
            echo(f"claimed {show_path(c.file_path)} for {c.task_id} ({c.worktree})")


@click.command("release")
@click.argument("task_id", shell_complete=complete_tasks)
@json_option
def release_command(task_id: str, as_json: bool) -> None:
    """Release every active claim of TASK."""
    from ..ops import claims as claimops

    released = claimops.release(get_ctx().store, task_id)
    if as_json:
        emit_json({"released": released})
    else:
        echo(f"released {len(released)} claim(s) of {task_id}")


@click.command("claims")
@click.option("--worktree", help="Only claims held in this worktree.")
@json_option
def claims_command(worktree: str | None, as_json: bool) -> None:
    """List active claims."""
    from ..store import claims
    from ..store import worktrees as wtmod

    store = get_ctx().store
    name = wtmod.require(store, worktree_ref(worktree)).name if worktree else None
    rows = claims.active(store, worktree=name)
    if as_json:
        emit_json({"claims": rows})
        return
    echo(table([[show_path(c.file_path), c.task_id, c.lease_id or "-", c.worktree] for c in rows], ["PATH", "TASK", "LEASE", "WORKTREE"]) or "no active claims")


def register(cli: click.Group) -> None:
    cli.add_command(claim_command)
    cli.add_command(release_command)
    cli.add_command(claims_command)
