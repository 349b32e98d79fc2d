"""`task add|list|show|spec|done|fail|retry`."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ..errors import BadInput
from ..render import table
from .common import INT64, caller, echo, emit_json, get_ctx, json_option, show_path
from .completion import complete_tasks

MAX_SPEC_BYTES = 1 << 20


def _read_spec_file(path: str) -> dict[str, Any]:
    from ..specs import parse_spec_text

    limit = MAX_SPEC_BYTES
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            # Relative to -C DIR, as git resolves paths given with -C.
            full = os.path.join(get_ctx().cwd, path)
            if not os.path.isfile(full):  # /dev/zero, a FIFO or a directory would never end well
                raise BadInput(f"spec file {path} is not a regular file", "pass a JSON file (or - for stdin)")
            with open(full, "rb") as fh:
                data = fh.read(limit + 1)
        if len(data) > limit:
            raise BadInput(f"spec file {path} is larger than {limit // 1024} KiB", "a task spec is a small JSON object")
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read spec file {path}: {exc}", "pass a readable UTF-8 JSON file") from exc
    return parse_spec_text(text, f"spec file {path}")


@click.group("task")
def task_group() -> None:
    """Create tasks and move them through pending → in_progress → done|failed."""


@task_group.command("add")
@click.argument("title")
@click.option("--id", "task_id", help="Task id (default task-<ms>-<rand>).")
@click.option("-d", "--description", help="Longer description.")
@click.option("-p", "--priority", type=INT64, default=5, show_default=True, help="Higher runs first.")
@click.option("--spec", "spec_file", metavar="FILE", help="Task spec JSON file (- for stdin).")
@json_option
def task_add(title: str, task_id: str | None, description: str | None, priority: int, spec_file: str | None, as_json: bool) -> None:
    """Add a task; prints its id."""
    from ..ops import tasks as taskops
    from ..store import tasks

    spec = _read_spec_file(spec_file) if spec_file else None
    task = taskops.add(get_ctx().store, title, task_id=task_id, description=description, priority=priority, spec=spec)
    if as_json:
        emit_json({"task": task, "spec": tasks.get_spec(get_ctx().store, task.id)})
    else:
        echo(task.id)


@task_group.command("list")
@click.option("--status", type=click.Choice(["pending", "in_progress", "done", "failed"]))
@json_option
def task_list(status: str | None, as_json: bool) -> None:
    """List tasks, highest priority first."""
    from ..store import tasks

    rows = tasks.list_tasks(get_ctx().store, status)
    if as_json:
        emit_json({"tasks": rows})
        return
    echo(table([[t.id, t.status, str(t.priority), t.worktree or "-", t.title] for t in rows], ["ID", "STATUS", "PRI", "WORKTREE", "TITLE"]) or "no tasks")


@task_group.command("show")
@click.argument("task_id", shell_complete=complete_tasks)
@json_option
def task_show(task_id: str, as_json: bool) -> None:
    """A task with its spec, lease and claims."""
    from ..store import claims, leases, tasks

    store = get_ctx().store
    task = tasks.require(store, task_id)
    spec = tasks.get_spec(store, task_id)
    lease = leases.active_for_task(store, task_id)
    held = claims.active(store, task_id=task_id)
    if as_json:
        emit_json({"task": task, "spec": spec, "lease": lease, "claims": held})
        return
    echo(f"{task.id}  [{task.status}]  priority {task.priority}")
    echo(f"  title: {task.title}")
    if task.description:
        echo(f"  description: {task.description}")
    if spec:
        echo(f"  allowed_paths: {', '.join(spec.get('allowed_paths') or []) or '-'}")
        echo(f"  subsystem_tags: {', '.join(spec.get('subsystem_tags') or []) or '-'}")
        echo(f"  pipeline: {spec.get('pipeline_id') or '-'}  type: {spec.get('task_type') or '-'}")
    echo(f"  lease: {lease.id + ' in ' + lease.worktree + (' (STALE)' if lease.stale else '') if lease else '-'}")
    for c in held:
        echo(f"  claim: {show_path(c.file_path)}")


@task_group.command("spec")
@click.argument("task_id", shell_complete=complete_tasks)
@click.option("--file", "spec_file", metavar="FILE", help="Spec JSON file (- for stdin).")
@click.option("--json-text", help="Spec JSON text.")
@click.option("--allowed-path", "allowed_paths", multiple=True, metavar="GLOB")
@click.option("--subsystem", "subsystems", multiple=True, metavar="TAG")
@click.option("--pipeline", help="Pipeline id.")
@click.option("--task-type", help="implementation | tests | docs | governance | …")
@click.option("--require-type", "require_types", multiple=True, metavar="TYPE", help="Task type that must be done first.")
@click.option("--validation", type=click.Choice(["warn", "blocked", "none"]), help="Boundary validation enforcement.")
@json_option
def task_spec(
    task_id: str,
    spec_file: str | None,
    json_text: str | None,
    allowed_paths: tuple[str, ...],
    subsystems: tuple[str, ...],
    pipeline: str | None,
    task_type: str | None,
    require_types: tuple[str, ...],
    validation: str | None,
    as_json: bool,
) -> None:
    """Replace the task's spec (re-reserves an active lease's scopes atomically)."""
    from ..ops import tasks as taskops
    from ..specs import parse_spec_text

    flags = bool(allowed_paths or subsystems or pipeline or task_type or require_types or validation)
    sources = sum([spec_file is not None, json_text is not None, flags])
    if sources != 1:
        raise BadInput(
            "give exactly one of --file, --json-text, or the spec flags",
            "e.g. `switchman-hook task spec ID --allowed-path 'src/auth/**' --subsystem auth`",
        )
    if spec_file is not None:
        spec = _read_spec_file(spec_file)
    elif json_text is not None:
        spec = parse_spec_text(json_text, "--json-text")
    else:
        spec = {"allowed_paths": list(allowed_paths), "subsystem_tags": list(subsystems), "pipeline_id": pipeline, "task_type": task_type}
        if require_types or validation:
            spec["validation_rules"] = {
                "enforcement": validation or ("warn" if require_types else "none"),
                "required_completed_task_types": list(require_types),
                "rationale": [],
            }
    saved = taskops.set_spec(get_ctx().store, task_id, spec)
    if as_json:
        emit_json({"task_id": task_id, "spec": saved})
    else:
        echo(f"spec of {task_id} updated")


def _lifecycle(action: str, task_id: str, reason: str | None, as_json: bool) -> None:
    from ..ops import tasks as taskops

    store = get_ctx().store
    if action == "done":
        task = taskops.complete(store, task_id, caller())
    elif action == "fail":
        task = taskops.fail(store, task_id, reason, caller())
    else:
        task = taskops.retry(store, task_id, reason)
    if as_json:
        emit_json({"task": task})
    else:
        echo(f"{task.id} is now {task.status}")


@task_group.command("done")
@click.argument("task_id", shell_complete=complete_tasks)
@json_option
def task_done(task_id: str, as_json: bool) -> None:
    """Mark done: completes its lease, releases claims and reservations."""
    _lifecycle("done", task_id, None, as_json)


@task_group.command("fail")
@click.argument("task_id", shell_complete=complete_tasks)
@click.argument("reason", required=False)
@json_option
def task_fail(task_id: str, reason: str | None, as_json: bool) -> None:
    """Mark failed: fails its lease, releases claims and reservations."""
    _lifecycle("fail", task_id, reason, as_json)


@task_group.command("retry")
@click.argument("task_id", shell_complete=complete_tasks)
@click.option("--reason", help="Why it is being retried.")
@json_option
def task_retry(task_id: str, reason: str | None, as_json: bool) -> None:
    """Requeue a failed or done task as pending (revalidates its invalidations)."""
    _lifecycle("retry", task_id, reason, as_json)


def register(cli: click.Group) -> None:
    cli.add_command(task_group)
