"""Shell completion: task ids, lease ids and worktree names from the store, and `completion SHELL`.

Completion runs `switchman-hook` with `_SWITCHMAN_HOOK_COMPLETE=<shell>_complete`; each function
here reads the store of the repository around the cwd (or `-C DIR`) and never fails: outside a
managed repository it offers nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click
from click.shell_completion import CompletionItem


def _rows(ctx: click.Context, fetch: Callable[[Any], list[tuple[str, str]]]) -> list[tuple[str, str]]:
    from ..repo import locate
    from ..state import open_store

    root = ctx.find_root()
    directory = root.params.get("directory") if root is not None else None
    try:
        paths = locate(os.path.abspath(directory) if directory else os.getcwd())
        if not os.path.exists(os.path.join(paths.state_dir, "switchman.db")):
            return []
        store = open_store(paths)
    except Exception:  # noqa: BLE001 - completion offers nothing rather than an error
        return []
    try:
        return fetch(store)
    except Exception:  # noqa: BLE001
        return []
    finally:
        store.close()


def _items(rows: list[tuple[str, str]], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(value, help=help_) for value, help_ in rows if value.startswith(incomplete)]


def complete_tasks(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from ..store import tasks

    return _items(_rows(ctx, lambda db: [(t.id, f"{t.status}: {t.title}") for t in tasks.list_tasks(db)]), incomplete)


def complete_leases(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from ..store import leases

    return _items(
        _rows(ctx, lambda db: [(r.id, f"task {r.task_id} in {r.worktree}") for r in leases.list_leases(db, "active")]),
        incomplete,
    )


def complete_worktrees(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from ..store import worktrees

    return _items(_rows(ctx, lambda db: [(w.name, w.path) for w in worktrees.list_all(db)]), incomplete)


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_command(shell: str) -> None:
    """Print the shell completion script: eval "$(switchman-hook completion bash)"."""
    from click.shell_completion import get_completion_class

    from . import cli  # the click group (`switchman.cli` loads it from `cli.app`)

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "switchman-hook", "_SWITCHMAN_HOOK_COMPLETE").source())


def register(cli: click.Group) -> None:
    cli.add_command(completion_command)
