"""The `switchman-hook` command line: click groups that parse, call the core, and format.

Exit codes (SPEC §5): 0 ok; 1 a check said no; 2 usage or bad input; 3 environment. The console
script reaches this only when `cli.fast` leaves an invocation to it (see `switchman.cli`).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import traceback

import click

from .. import __version__
from ..errors import SwitchmanError
from ..jsonutil import dumps
from .common import Ctx, verbose


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-C", "directory", metavar="DIR", help="Run as if started in DIR (like git -C).")
@click.option("-q", "--quiet", is_flag=True, help="Drop warnings and success chatter (refusals and errors still print).")
@click.option("-v", "--verbose", is_flag=True, help="Print tracebacks on internal errors, and extra detail.")
@click.version_option(__version__, "-V", "--version", prog_name="switchman-hook")
@click.pass_context
def cli(ctx: click.Context, directory: str | None, quiet: bool, verbose: bool) -> None:
    """Keep parallel agents in linked git worktrees from trampling each other's work."""
    # Environment, not only the context: hooks run by a command (and `hook NAME`) honour them too.
    if quiet:
        os.environ["SWITCHMAN_QUIET"] = "1"
    if verbose:
        os.environ["SWITCHMAN_VERBOSE"] = "1"
    obj = Ctx(directory)
    ctx.obj = obj
    ctx.call_on_close(obj.close)


def _register() -> None:
    from . import (
        agents_cmd,
        audit_cmd,
        claims_cmd,
        completion,
        demo_cmd,
        doctor_cmd,
        gate_cmd,
        helper_cmd,
        hooks_cmd,
        init_cmd,
        leases_cmd,
        monitor_cmd,
        policy_cmd,
        store_cmd,
        tasks_cmd,
        trust_cmd,
        uninstall_cmd,
        worktrees_cmd,
    )

    for module in (init_cmd, tasks_cmd, leases_cmd, claims_cmd, worktrees_cmd, policy_cmd, audit_cmd, hooks_cmd, uninstall_cmd, gate_cmd, trust_cmd, monitor_cmd, doctor_cmd, demo_cmd, agents_cmd, completion, store_cmd, helper_cmd):
        module.register(cli)


_register()


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one error line on stderr, the SPEC exit code, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    saved = {k: os.environ.get(k) for k in ("SWITCHMAN_QUIET", "SWITCHMAN_VERBOSE")}
    try:
        return _main(args)
    finally:  # -q/-v set the environment for this invocation only (in-process callers run many)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _main(args: list[str]) -> int:
    if any("\0" in a for a in args):  # only in-process callers can pass one; refuse it cleanly
        click.echo("error: an argument contains a NUL byte — pass plain text arguments", err=True)
        return 2
    try:
        # Non-standalone click *returns* the code of a `raise click.exceptions.Exit(n)`.
        rv = cli.main(args=args, prog_name="switchman-hook", standalone_mode=False)
        return rv if type(rv) is int else 0
    except SwitchmanError as exc:
        ctx_json = "--json" in args
        if ctx_json:
            click.echo(
                dumps(
                    {
                        "ok": False,
                        "error": {"code": exc.code, "message": exc.message, "fix": exc.fix, **exc.data},
                    }
                )
            )
        click.echo(exc.line(), err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.exceptions.NoArgsIsHelpError as exc:
        # A bare `switchman-hook` (or `switchman-hook task`) asks what there is: plain help.
        click.echo(exc.ctx.get_help() if exc.ctx else cli.get_help(click.Context(cli)))
        return 0
    except click.UsageError as exc:
        hint = f"see `{exc.ctx.command_path} --help`" if exc.ctx else "see `switchman-hook --help`"
        if "--json" in args:
            error = {"code": "usage", "message": exc.format_message(), "fix": hint}
            click.echo(dumps({"ok": False, "error": error}))
        click.echo(f"error: {exc.format_message()} — {hint}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except sqlite3.DatabaseError as exc:
        click.echo(f"error: the switchman store is unreadable: {exc} — run `switchman-hook doctor`", err=True)
        return 3
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns surprises into one line
        if verbose():
            traceback.print_exc()
        click.echo(
            f"error: internal error: {type(exc).__name__}: {exc} — rerun with -v (SWITCHMAN_VERBOSE=1) and report it",
            err=True,
        )
        return 3
