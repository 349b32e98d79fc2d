"""`whoami`, `check`, `agent-hook claude-code|install|uninstall` (SPEC §13).

What `whoami` and `check` compute and print is `agents_view`'s: `cli.fast` answers the same
commands without click (the console script tries it first).
"""

from __future__ import annotations

import os
import sys

import click

from . import agents_view
from .common import echo, emit_json, get_ctx, json_option
from .completion import complete_worktrees


@click.command("whoami")
@json_option
def whoami_command(as_json: bool) -> None:
    """This worktree: its mode, compliance, lease, task, scope and claims."""
    data = agents_view.whoami(get_ctx())
    if as_json:
        emit_json(data)
        return
    for line in agents_view.whoami_lines(data):
        echo(line)


@click.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option("--worktree", "worktree", metavar="NAME", shell_complete=complete_worktrees, help="Judge for this worktree (default: the cwd's).")
@json_option
def check_command(paths: tuple[str, ...], worktree: str | None, as_json: bool) -> None:
    """Would the commit gate allow PATHS in this worktree now? Exit 1 if any is refused."""
    data = agents_view.check(get_ctx(), paths, worktree)
    if as_json:
        emit_json(agents_view.check_doc(data))
    else:
        for line in agents_view.check_lines(data):
            echo(line)
    if not data["ok"]:
        raise click.exceptions.Exit(1)


# --- agent-hook ---------------------------------------------------------------------------------


@click.group("agent-hook")
def agent_hook_group() -> None:
    """Hooks for agents' own hook systems (Claude Code PreToolUse)."""


@agent_hook_group.command("claude-code")
def agent_hook_claude_code() -> None:
    """The PreToolUse hook: reads the hook JSON on stdin, denies a write `check` would refuse."""
    from .claude_hook import run

    raise click.exceptions.Exit(run(sys.stdin.read(), sys.stdout, sys.stderr))


_SCOPE = click.option(
    "--scope", type=click.Choice(["project", "local", "user"]), default="project", show_default=True,
    help="project: .claude/settings.json; local: .claude/settings.local.json; user: ~/.claude/settings.json.",
)


@agent_hook_group.command("install")
@click.argument("agent", type=click.Choice(["claude-code"]))
@_SCOPE
@json_option
def agent_hook_install(agent: str, scope: str, as_json: bool) -> None:
    """Merge our PreToolUse hook into the agent's settings file (idempotent)."""
    from .claude_hook import install, settings_path

    path = settings_path(scope, get_ctx().paths.toplevel)
    changed = install(path, _command())
    if as_json:
        emit_json({"ok": True, "settings": path, "changed": changed})
    else:
        echo(f"{'installed' if changed else 'already installed'}: Claude Code PreToolUse hook in {path}")


@agent_hook_group.command("uninstall")
@click.argument("agent", type=click.Choice(["claude-code"]))
@_SCOPE
@json_option
def agent_hook_uninstall(agent: str, scope: str, as_json: bool) -> None:
    """Remove only our hook entry from the agent's settings file."""
    from .claude_hook import settings_path, uninstall

    path = settings_path(scope, get_ctx().paths.toplevel)
    changed = uninstall(path)
    if as_json:
        emit_json({"ok": True, "settings": path, "changed": changed})
    else:
        echo(f"{'removed' if changed else 'not installed'}: Claude Code PreToolUse hook in {path}")


def _command() -> str:
    """The absolute path of this switchman-hook, as the hook command."""
    import shlex
    import shutil

    exe = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "switchman-hook")
    if not os.path.exists(exe):
        exe = shutil.which("switchman-hook") or exe
    return f"{shlex.quote(os.path.abspath(exe))} agent-hook claude-code"


def register(cli: click.Group) -> None:
    cli.add_command(whoami_command)
    cli.add_command(check_command)
    cli.add_command(agent_hook_group)
