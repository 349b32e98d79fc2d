"""`check`, `whoami` and `agent-hook claude-code` without click: what an agent runs before every edit.

The console script (`switchman.cli.entry`) calls `run` before anything imports click: click and
the command modules take ~37 ms to import, of the 60 ms a `check` may cost (benchmarks/README.md,
"check"). `run` answers only an invocation it parses with certainty and an answer it can print
exactly as click would; it returns None for everything else, and the click application
(`cli.app`, the reference) then answers from scratch:

* another command, any global option but a leading `-C DIR`, `--help`, an unknown or malformed
  option, a missing argument, shell completion: click's parsing, help and usage errors;
* any exception while answering (not a worktree, not initialised, bad policy, a broken pipe...):
  nothing has been printed yet and these commands change nothing, so click reruns them and
  reports the error itself: the same line, JSON document and exit code;
* output click would alter (escape sequences it strips from a non-terminal, text the stream
  cannot encode), or a standard stream click would re-wrap (ASCII encoding).

What is computed and printed is `agents_view`'s, shared with the click commands; the stdin a
Claude Code hook call read is handed back (`sys.stdin` replayed) before click reruns it.
tests/test_fast_cli.py runs both paths on the same inputs and compares stdout, stderr and exit code.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

COMPLETE_VAR = "_SWITCHMAN_HOOK_COMPLETE"  # click's shell completion is asking: click's job


class Call:
    """One parsed invocation (a plain class: a NamedTuple or dataclass costs import time here)."""

    __slots__ = ("command", "directory", "paths", "worktree", "as_json")

    def __init__(
        self, command: str, directory: str | None, paths: tuple[str, ...] = (), worktree: str | None = None, as_json: bool = False
    ) -> None:
        self.command = command  # "check", "whoami" or "agent-hook"
        self.directory = directory  # -C DIR
        self.paths = paths
        self.worktree = worktree
        self.as_json = as_json

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Call) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return f"Call({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> Call | None:
    """The invocation, when it is one of ours and click would read it exactly so; else None."""
    if COMPLETE_VAR in environ or any("\0" in a for a in argv):
        return None
    args = list(argv)
    directory = None
    if args[:1] == ["-C"]:
        if len(args) < 2 or args[1].startswith("-"):
            return None
        directory, args = args[1], args[2:]
    if not args:
        return None
    command, rest = args[0], args[1:]
    if command == "whoami":
        return Call("whoami", directory, as_json=bool(rest)) if all(a == "--json" for a in rest) else None
    if command == "agent-hook":
        return Call("agent-hook", directory) if rest == ["claude-code"] else None
    if command == "check":
        return _parse_check(directory, rest)
    return None


def _parse_check(directory: str | None, rest: list[str]) -> Call | None:
    """`check PATH... [--worktree NAME] [--json]`, options anywhere, `--` ending them (as click)."""
    paths: list[str] = []
    worktree: str | None = None
    as_json = False
    i = 0
    while i < len(rest):
        tok = rest[i]
        i += 1
        if tok == "--":
            paths += rest[i:]
            break
        if tok == "--json":
            as_json = True
        elif tok == "--worktree" or tok.startswith("--worktree="):
            if worktree is not None:
                return None
            if tok == "--worktree":
                if i == len(rest):
                    return None
                value, i = rest[i], i + 1
            else:
                value = tok[len("--worktree=") :]
            if not value or value.startswith("-"):
                return None
            worktree = value
        elif tok.startswith("-") and tok != "-":
            return None  # --help, -h, an unknown option, --json=x: click says what it says
        else:
            paths.append(tok)
    return Call("check", directory, tuple(paths), worktree, as_json) if paths else None


def run(argv: Sequence[str]) -> int | None:
    """The exit code after answering, or None: the click CLI must answer this invocation."""
    call = parse(argv, os.environ)
    if call is None or not (_plain(sys.stdout) and _plain(sys.stderr)):
        return None
    if call.directory is None:
        from ..repo import LOCATE_ARGS, prefetch_git

        # The repository's location, asked now: git answers on the other core while the
        # modules below load (`locate` takes the answer; ~2-3 ms of a git process saved).
        prefetch_git(LOCATE_ARGS)
    try:
        if call.command == "agent-hook":
            return _claude_code(call)
        text, code = _answer(call)
    except KeyboardInterrupt:
        return _interrupted()
    except Exception:  # noqa: BLE001 - click reruns it and reports the error, byte for byte
        return None
    return _write(text, code)


def _answer(call: Call) -> tuple[str, int]:
    from ..jsonutil import dumps
    from ..models import to_dict
    from . import agents_view
    from .context import Ctx

    ctx = Ctx(call.directory)
    try:
        if call.command == "whoami":
            data = agents_view.whoami(ctx)
            doc, lines, code = data, agents_view.whoami_lines, 0
        else:
            data = agents_view.check(ctx, call.paths, call.worktree)
            doc, lines, code = agents_view.check_doc(data), agents_view.check_lines, 0 if data["ok"] else 1
        text = dumps(to_dict(doc)) + "\n" if call.as_json else "".join(f"{line}\n" for line in lines(data))
    finally:
        ctx.close()
    return text, code


def _claude_code(call: Call) -> int | None:
    """The PreToolUse hook; when click must answer after all, it reads the same stdin."""
    from . import claude_hook
    from .context import Ctx

    Ctx(call.directory)  # the click group makes one first: a vanished cwd fails there, not here
    stdin = sys.stdin
    if not _plain(stdin) or getattr(stdin, "buffer", None) is None:
        return None
    data = stdin.buffer.read()

    def replay() -> Any:
        return io.TextIOWrapper(io.BytesIO(data), encoding=stdin.encoding, errors=stdin.errors, newline="\n")

    try:
        return claude_hook.run(replay().read(), sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        raise
    except Exception:  # noqa: BLE001 - see run(): click reruns the call on the same input
        sys.stdin = replay()
        return None


def _plain(stream: Any) -> bool:
    """A text stream click writes to as it is: it re-wraps one with no (or an ASCII) encoding."""
    import codecs

    encoding, errors = getattr(stream, "encoding", None), getattr(stream, "errors", None)
    if not isinstance(encoding, str) or not isinstance(errors, str):
        return False
    try:
        return codecs.lookup(encoding).name != "ascii"
    except LookupError:
        return False


def _write(text: str, code: int) -> int | None:
    out = sys.stdout
    if "\x1b" in text:
        return None  # click strips escape sequences when stdout is not a terminal
    try:
        text.encode(out.encoding, out.errors)
    except (UnicodeError, LookupError):
        return None  # click meets the same error and reports it
    try:
        out.write(text)
        out.flush()
    except OSError:
        return None  # a broken pipe: click meets it again and exits as it does
    return code


def leave(code: int) -> NoReturn:
    """Exit without the interpreter's teardown (~7 ms of module and object finalisation; the
    store is closed already), once stdout and stderr are flushed. A flush that fails (a closed
    pipe) leaves it to the normal exit, which reports it as it does after the click path."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - the normal exit meets it again
        sys.exit(code)
    os._exit(code)


def _interrupted() -> int:
    """What click's application prints for ^C inside a command (a blank line closes the ^C echo)."""
    sys.stderr.write("\nerror: aborted\n")
    sys.stderr.flush()
    return 130
