"""`lease acquire|next|list|show|heartbeat|done|fail|reap`."""

from __future__ import annotations

import click

from ..render import table
from .common import caller, echo, emit_json, get_ctx, json_option, show_path, worktree_ref
from .completion import complete_leases, complete_tasks, complete_worktrees


@click.group("lease")
def lease_group() -> None:
    """Leases bind a task to a worktree; heartbeats keep them alive."""


def _window() -> float:
    from ..policy import stale_minutes

    return stale_minutes(get_ctx().store.state_dir)


@lease_group.command("acquire")
@click.argument("task_id", shell_complete=complete_tasks)
@click.argument("worktree", shell_complete=complete_worktrees)
@click.option("--agent", help="Agent name to record.")
@json_option
def lease_acquire(task_id: str, worktree: str, agent: str | None, as_json: bool) -> None:
    """Lease TASK to WORKTREE (name or path); refuses, naming the holder, on conflict."""
    from ..ops import leases as leaseops

    lease, task = leaseops.acquire(get_ctx().store, task_id, worktree_ref(worktree), agent)
    if as_json:
        emit_json({"lease": lease, "task": task})
    else:
        echo(f"{lease.id}: task {task.id} leased to {lease.worktree}")


@lease_group.command("next")
@click.argument("worktree", shell_complete=complete_worktrees)
@click.option("--agent", help="Agent name to record.")
@json_option
def lease_next(worktree: str, agent: str | None, as_json: bool) -> None:
    """Lease the highest-priority pending task whose scopes are free."""
    from ..ops import leases as leaseops

    lease, task = leaseops.next_lease(get_ctx().store, worktree_ref(worktree), agent)
    if as_json:
        emit_json({"lease": lease, "task": task})
    elif lease is None:
        echo("no pending task")
    else:
        echo(f"{lease.id}: task {task.id} ({task.title}) leased to {lease.worktree}")


@lease_group.command("list")
@click.option("--status", type=click.Choice(["active", "completed", "failed", "expired", "stale"]))
@json_option
def lease_list(status: str | None, as_json: bool) -> None:
    """List leases (stale ones marked)."""
    from ..store import leases

    rows = leases.list_leases(get_ctx().store, status, _window())
    if as_json:
        emit_json({"leases": rows})
        return
    echo(
        table(
            [[r.id, r.task_id, r.worktree, r.status + (" (STALE)" if r.stale else ""), r.heartbeat_at] for r in rows],
            ["ID", "TASK", "WORKTREE", "STATUS", "HEARTBEAT"],
        )
        or "no leases"
    )


@lease_group.command("show")
@click.argument("lease_id", shell_complete=complete_leases)
@json_option
def lease_show(lease_id: str, as_json: bool) -> None:
    """The lease's execution context: lease, task, spec, worktree, claims, reservations."""
    from ..store import claims, leases, tasks
    from ..store import worktrees as wtmod

    store = get_ctx().store
    lease = leases.require(store, lease_id, _window())
    task = tasks.require(store, lease.task_id)
    data = {
        "lease": lease,
        "task": task,
        "spec": tasks.get_spec(store, task.id),
        "worktree": wtmod.get(store, lease.worktree),
        "claims": [c for c in claims.active(store, task_id=task.id) if c.lease_id == lease.id],
        "reservations": leases.reservations(store, lease_id=lease.id),
    }
    if as_json:
        emit_json(data)
        return
    echo(f"{lease.id} [{lease.status}{', STALE' if lease.stale else ''}] task {task.id}: {task.title}")
    echo(f"  worktree: {lease.worktree}  agent: {lease.agent or '-'}  heartbeat: {lease.heartbeat_at}")
    for r in data["reservations"]:  # type: ignore[attr-defined]
        echo(f"  scope: {r.scope_pattern or '#' + (r.subsystem_tag or '')}")
    for c in data["claims"]:  # type: ignore[attr-defined]
        echo(f"  claim: {show_path(c.file_path)}")


def _lease_id(lease_id: str | None) -> str:
    """The given id, else the active lease of the worktree containing the cwd (SPEC §13)."""
    if lease_id is not None:
        return lease_id
    from ..ops import leases as leaseops

    ctx = get_ctx()
    return leaseops.active_in_worktree_at(ctx.store, ctx.paths.toplevel).id


@lease_group.command("heartbeat")
@click.argument("lease_id", required=False, shell_complete=complete_leases)
@click.option("--agent", help="Agent name to record.")
@json_option
def lease_heartbeat(lease_id: str | None, agent: str | None, as_json: bool) -> None:
    """Refresh the lease's heartbeat (default: the cwd worktree's active lease)."""
    from ..ops import leases as leaseops

    lease = leaseops.heartbeat(get_ctx().store, _lease_id(lease_id), agent)
    if as_json:
        emit_json({"lease": lease})
    else:
        echo(f"{lease.id} heartbeat {lease.heartbeat_at}")


def _finish(lease_id: str | None, action: str, reason: str | None, as_json: bool) -> None:
    from ..ops import tasks as taskops
    from ..store import leases

    store = get_ctx().store
    lease_id = _lease_id(lease_id)
    lease = leases.require(store, lease_id)
    if lease.status != "active":
        from ..errors import Denied

        raise Denied(f"lease {lease_id} is {lease.status}", "only an active lease can be finished", code="lease_not_active")
    by = caller()
    task = taskops.complete(store, lease.task_id, by) if action == "done" else taskops.fail(store, lease.task_id, reason, by)
    lease = leases.require(store, lease_id)
    if as_json:
        emit_json({"lease": lease, "task": task})
    else:
        echo(f"{lease.id} {lease.status}; task {task.id} is {task.status}")


@lease_group.command("done")
@click.argument("lease_id", required=False, shell_complete=complete_leases)
@json_option
def lease_done(lease_id: str | None, as_json: bool) -> None:
    """Complete the lease and its task (default: the cwd worktree's active lease)."""
    _finish(lease_id, "done", None, as_json)


@lease_group.command("fail")
@click.argument("lease_id", required=False, shell_complete=complete_leases)
@click.argument("reason", required=False)
@click.option("--reason", "reason_opt", metavar="TEXT", help="Why it failed (with no LEASE_ID: the cwd worktree's lease).")
@json_option
def lease_fail(lease_id: str | None, reason: str | None, reason_opt: str | None, as_json: bool) -> None:
    """Fail the lease and its task (default: the cwd worktree's active lease)."""
    _finish(lease_id, "fail", reason_opt if reason_opt is not None else reason, as_json)


@lease_group.command("reap")
@click.option("--stale-after", type=float, metavar="MINUTES", help="Stale window (default: policy, 15).")
@json_option
def lease_reap(stale_after: float | None, as_json: bool) -> None:
    """Expire stale leases, release their claims and reservations, requeue their tasks."""
    from ..ops import leases as leaseops

    expired = leaseops.reap(get_ctx().store, _window() if stale_after is None else stale_after, caller())
    if as_json:
        emit_json({"expired": expired})
        return
    for lease in expired:
        echo(f"expired {lease.id} (task {lease.task_id} requeued, worktree {lease.worktree})")
    if not expired:
        echo("no stale leases")


def register(cli: click.Group) -> None:
    cli.add_command(lease_group)
