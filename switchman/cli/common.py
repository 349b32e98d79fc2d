"""What every command shares: the repo context, `--json`, and one way to print."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..cli_quote import shown
from ..jsonutil import dumps
from ..models import to_dict

F = TypeVar("F", bound=Callable[..., Any])


class Ctx:
    """Lazily located repo and opened store for the directory given by `-C` (or the cwd)."""

    def __init__(self, directory: str | None) -> None:
        self.cwd = os.path.abspath(directory) if directory else os.getcwd()
        self._paths = None
        self._store = None
        self.json = False

    @property
    def paths(self):  # type: ignore[no-untyped-def]
        if self._paths is None:
            from ..repo import locate

            if not os.path.isdir(self.cwd):
                from ..errors import BadInput

                raise BadInput(f"-C {self.cwd}: no such directory", "pass an existing directory")
            self._paths = locate(self.cwd)
        return self._paths

    @property
    def store(self):  # type: ignore[no-untyped-def]
        if self._store is None:
            from ..state import open_store

            self._store = open_store(self.paths, check_signer=True)
            if self.drain:
                from ..gates.spooled import drain_pending

                drain_pending(self.paths, self._store)
        return self._store

    drain = True  # record spooled commits first (switchman.spool); off for read-only questions

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


# SQLite integers are 64-bit: a larger number is bad input (exit 2), not an OverflowError.
INT64_MAX = 2**63 - 1
INT64 = click.IntRange(-INT64_MAX - 1, INT64_MAX)


def worktree_ref(ref: str) -> str:
    """A WORKTREE argument: a registered name as is, a path made absolute against -C DIR."""
    from ..store import worktrees as wtmod

    ctx = get_ctx()
    if os.path.isabs(ref):
        return ref
    candidate = os.path.abspath(os.path.join(ctx.cwd, ref))
    if os.sep in ref or ref in (os.curdir, os.pardir):
        return candidate
    if wtmod.get(ctx.store, ref) is None and os.path.exists(candidate):
        return candidate
    return ref


def caller():  # type: ignore[no-untyped-def]
    """The worktree this command runs in (its top level; None outside any), for the audit rows
    of operations that may weaken another worktree's enforcement (issue 12)."""
    from ..ops.leases import Caller

    paths = get_ctx().paths
    return Caller(None if paths.is_bare else paths.toplevel)


def get_ctx() -> Ctx:
    return click.get_current_context().find_object(Ctx)  # type: ignore[return-value]


def json_option(fn: F) -> F:
    """Add `--json`; the command then prints exactly one JSON document on stdout."""

    @click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
    @functools.wraps(fn)
    def wrapper(*args: Any, as_json: bool = False, **kwargs: Any) -> Any:
        get_ctx().json = as_json
        return fn(*args, as_json=as_json, **kwargs)

    return wrapper  # type: ignore[return-value]


def emit_json(data: Any) -> None:
    click.echo(dumps(to_dict(data)))


def quiet() -> bool:
    """`-q`/`--quiet` (or SWITCHMAN_QUIET=1): warnings and success chatter are dropped."""
    return os.environ.get("SWITCHMAN_QUIET", "") not in ("", "0")


def verbose() -> bool:
    """`-v`/`--verbose` (or SWITCHMAN_VERBOSE=1, or SWITCHMAN_DEBUG=1): tracebacks and detail."""
    return any(os.environ.get(v, "") not in ("", "0") for v in ("SWITCHMAN_VERBOSE", "SWITCHMAN_DEBUG"))


def chatter(text: str = "") -> None:
    """A success message a script does not need (dropped by `-q`)."""
    if not quiet():
        echo(text)


def echo(text: str = "", err: bool = False) -> None:
    if err and quiet() and text.startswith("warning:"):
        return  # quiet: refusals and errors still print, warnings do not
    # click strips colour codes when stdout is not a terminal; FORCE_COLOR keeps them.
    click.echo(text, err=err, color=True if use_color() else None)


def use_color() -> bool:
    """FORCE_COLOR (any value but 0) and NO_COLOR (any non-empty value) win over the terminal test."""
    force = os.environ.get("FORCE_COLOR")
    if force is not None and force != "0":
        return True
    if os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def style(text: str, **kw: Any) -> str:
    return click.style(text, **kw) if use_color() else text


def show_path(path: str) -> str:
    """A file name made safe for one terminal line (newlines, non-UTF-8 bytes escaped)."""
    return shown(path)
