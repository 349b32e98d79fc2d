"""`whoami`, `check`, `agent-hook claude-code|install|uninstall` (SPEC §13)."""

from __future__ import annotations

import os
import sys

import click

from .common import echo, emit_json, get_ctx, json_option
from .completion import complete_worktrees


def _window_and_globs() -> tuple[float, tuple[str, ...]]:
    from .. import policy as policymod
    from ..gates.common import stale_minutes

    ctx = get_ctx()
    ctx.drain = False  # a question before an edit changes nothing (SPEC §13), not even the spool
    state_dir = ctx.store.state_dir
    pol = policymod.load(state_dir)
    return stale_minutes(state_dir, pol), pol.allowed_generated_paths


@click.command("whoami")
@json_option
def whoami_command(as_json: bool) -> None:
    """This worktree: its mode, compliance, lease, task, scope and claims."""
    from ..ops import agents

    ctx = get_ctx()
    window, _ = _window_and_globs()
    data = agents.whoami(ctx.store, ctx.paths.toplevel, window)
    if as_json:
        emit_json(data)
        return
    lease = data["lease"]
    echo(f"worktree {data['worktree']} ({data['mode']}, {data['compliance_state']})")
    if lease is None:
        echo(f"no active lease — `switchman-hook lease next {data['worktree']}`")
        return
    echo(f"lease {lease.id}{' (STALE)' if lease.stale else ''}: task {lease.task_id} ({data['task'].title})")
    for p in data["scope"]["allowed_paths"]:
        echo(f"  scope: {p}")
    for t in data["scope"]["subsystem_tags"]:
        echo(f"  subsystem: #{t}")
    for c in data["claims"]:
        echo(f"  claim: {c}")


@click.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option("--worktree", "worktree", metavar="NAME", shell_complete=complete_worktrees, help="Judge for this worktree (default: the cwd's).")
@json_option
def check_command(paths: tuple[str, ...], worktree: str | None, as_json: bool) -> None:
    """Would the commit gate allow PATHS in this worktree now? Exit 1 if any is refused."""
    from ..ops import agents
    from ..reasons import text

    ctx = get_ctx()
    window, globs = _window_and_globs()
    data = agents.check(
        ctx.store, paths, toplevel=ctx.paths.toplevel, cwd=ctx.cwd, worktree=worktree, stale_minutes=window, generated_globs=globs
    )
    if as_json:
        # SPEC §13's keys exactly: the fix is for the human output and the agent hook.
        emit_json({**data, "paths": [{k: v for k, v in r.items() if k != "fix"} for r in data["paths"]]})
    else:
        for row in data["paths"]:
            verdict = "allowed" if row["allowed"] else "refused"
            holder = row["holder"] or {}
            held = f" — held by task {holder['task_id']} in {holder['worktree']}" if not row["allowed"] and holder.get("task_id") else ""
            echo(f"{row['path']}: {verdict} [{row['reason_code']}] {text(row['reason_code'])}{held}")
            if row["fix"]:
                echo(f"    fix: {row['fix']}")
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
