"""The hot path: installed hook scripts run `<python> -c 'from switchman.hookrun import main'`.

Dispatch only: the doctor's probe, a fast exit where switchman is not set up, then one handler
per hook (HANDLERS). How the hook was invoked is read by `hookenv`; what happens when the store
cannot answer is `failclosed`'s. No click, no GitPython, no cryptography at import time: a commit
pays only for git plumbing, sqlite3 and hashing, and each handler imports only its own gate.
"""

from __future__ import annotations

import os
import sys

from .failclosed import GATING, err, fail, remember_mode, remembered_mode
from .hookenv import (
    framework_name,
    push_lines,
    rewrite_command,
    rewrite_lines,
    squash_merge,
    under_framework,
)

PROBE_ENV = "SWITCHMAN_DOCTOR_PROBE"  # doctor checks an interpreter's hookrun has it
_FAST_EXIT = False  # set by main() for the hook process itself (see there)
VIA_HELPER = False  # set by serve(): this hook runs in a warm helper's fork (switchman.helper)


def _probe(name: str) -> int:
    """`doctor` asks whether the hook reaches us: answer where we are, touch nothing."""
    import json

    from . import __version__
    from .errors import SwitchmanError
    from .repo import locate

    answer: dict[str, object] = {"hook": name, "version": __version__, "python": sys.executable, "helper": VIA_HELPER}
    try:
        paths = locate()
        answer.update(
            toplevel=paths.toplevel,
            state_dir=paths.state_dir,
            managed=_managed(paths.state_dir),
        )
    except SwitchmanError as exc:
        answer["error"] = exc.message
    sys.stdout.write("switchman-probe " + json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


def _managed(state_dir: str) -> bool:
    """A store is there to judge against: the SQLite file, or a PostgreSQL server this clone joined."""
    if os.path.exists(os.path.join(state_dir, "switchman.db")):
        return True
    from .store import postgres_config

    return os.path.isdir(state_dir) and postgres_config.selected(state_dir) is not None


# Every name a hook script, the pre-commit framework or a hand-written manager line may pass.
FRAMEWORK_ALIASES = ("gate", "record", "push-gate")


def known_names() -> tuple[str, ...]:
    return (*HANDLERS, *FRAMEWORK_ALIASES)


def quiet() -> bool:
    """`-q` or SWITCHMAN_QUIET=1: observed-mode warnings and success chatter are dropped."""
    return os.environ.get("SWITCHMAN_QUIET", "") not in ("", "0")


def verbose() -> bool:
    """`-v`, SWITCHMAN_VERBOSE=1 or (as before) SWITCHMAN_DEBUG=1: tracebacks on internal errors."""
    return any(os.environ.get(v, "") not in ("", "0") for v in ("SWITCHMAN_VERBOSE", "SWITCHMAN_DEBUG"))


FRAMEWORK_HINT_MARKER = "switchman-framework-hint"  # in the git common dir: the hint is said once


def _framework_hint() -> None:
    """Under pre-commit/prek in a repo never `init`ed: say once how to start, not a silent Passed."""
    from .errors import SwitchmanError
    from .repo import locate

    try:
        paths = locate()
    except SwitchmanError:
        return
    marker = os.path.join(paths.common_dir, FRAMEWORK_HINT_MARKER)
    if os.path.isdir(paths.state_dir) or os.path.exists(marker):
        return
    try:
        with open(marker, "x", encoding="ascii") as fh:
            fh.write("said\n")
    except OSError:
        return  # another hook said it first (or the git dir is read-only: say nothing, stay fast)
    err(
        "switchman: this repository is not initialised, so the switchman hooks check nothing — "
        "run `switchman-hook init` to start (said once)"
    )


def run(name: str, args: list[str]) -> int:
    from .errors import SwitchmanError
    from .repo import locate, pin_hook_git

    if name not in HANDLERS and name not in FRAMEWORK_ALIASES:
        err(f"error: unknown hook name {name!r} — use one of: {', '.join(known_names())}")
        return 2

    # Every git this hook runs is the git that started it, not whatever a planted GIT_EXEC_PATH
    # or PATH puts first (git prepends its exec path to the hook's PATH): SPEC §10.
    pin_hook_git()
    # Only the pre-commit gate answers the doctor's probe; post-commit ignores it, so a commit
    # made with the variable set is still checked for a bypass.
    if name in ("pre-commit", "gate") and os.environ.get(PROBE_ENV) == "1":
        return _probe(name)
    git_name = framework_name(name, None)
    if _FAST_EXIT and git_name == "pre-commit":
        # The gate's first question (git reads the whole index for it): ask it before even
        # locating the repository. Hooks are installed only where switchman is initialised.
        from .fingerprints import DIFF_INDEX_ARGS
        from .repo import LOCATE_ARGS, prefetch_git

        prefetch_git([*DIFF_INDEX_ARGS, "HEAD", "--"])
        prefetch_git(LOCATE_ARGS)  # beside it, on the other core: `locate` then only collects
    try:
        try:
            paths = locate()
        except SwitchmanError:
            return 0
        if paths.toplevel is None or not os.path.isdir(paths.state_dir):
            if under_framework() and paths.toplevel is not None:
                _framework_hint()
            return 0  # not managed by switchman: hooks stay out of the way
        if _FAST_EXIT:
            _prefetch(git_name, paths)
        # A managed repo whose switchman.db vanished fails like a corrupted one (Store.open says so).
        name = git_name
        framework = under_framework()
        try:
            return _dispatch(name, args, paths, framework)
        except SwitchmanError as exc:
            if name in ("post-commit", "post-merge") and _spool_head(name, paths):
                # Kept for the next hook or command that reaches the store (SPEC §12).
                return fail(name, paths, exc.message + " (the commit is kept in the spool until the store answers)", exc.fix)
            return fail(name, paths, exc.message, exc.fix)
        except Exception as exc:  # noqa: BLE001 - a hook must answer with one line, never a traceback
            if verbose():
                import traceback

                traceback.print_exc()
            return fail(name, paths, f"internal error: {type(exc).__name__}: {exc}", "rerun with SWITCHMAN_VERBOSE=1 (or -v) and report it")
    finally:
        if not _FAST_EXIT:
            from .repo import discard_prefetched

            discard_prefetched()


def _spool_head(name: str, paths) -> bool:  # type: ignore[no-untyped-def]
    """The store cannot take the commit now: spool it, as the sh post-commit does (True if kept)."""
    try:
        from . import spool
        from .gates.history import is_new_merge_commit
        from .gates.traces import read_live, spool_fields
        from .repo import HEAD_ARGS, run_git

        if name == "post-merge" and not is_new_merge_commit(paths.toplevel, None, paths.git_dir):
            return False
        head = run_git(HEAD_ARGS, paths.toplevel, check=False).stdout.decode().split()
        worktree = "." if paths.git_dir == paths.common_dir else os.path.basename(paths.git_dir)
        if not head or (worktree != "." and os.path.dirname(paths.git_dir) != os.path.join(paths.common_dir, "worktrees")):
            return False
        spool.ensure(paths.common_dir)
        spool.append(paths.common_dir, [head[0], worktree, *spool_fields(read_live(paths.git_dir))])
        return True
    except Exception:  # noqa: BLE001 - the warning that follows is what matters now
        return False


def _prefetch(name: str, paths: object) -> None:
    """Start the git commands this hook will need, so they run while Python imports the gate.

    Two cores: git reads the index (or walks the worktree) on one while the interpreter loads
    modules on the other. `run_git` hands each result to the first caller asking for exactly that
    command in this directory with the inherited environment (see `repo.prefetch_git`). Only in a
    managed repository, and only in the hook process itself (`_FAST_EXIT`).
    """
    from .repo import HEAD_ARGS, committed_paths_args, prefetch_git

    if name == "pre-commit":
        from .fingerprints import DIFF_INDEX_ARGS, STATUS_ARGS

        prefetch_git([*DIFF_INDEX_ARGS, "HEAD", "--"])  # started before `locate` already: a no-op
        if remembered_mode(paths) == "strict":  # strict scans the whole worktree too
            prefetch_git(STATUS_ARGS)
    elif name == "post-commit":
        prefetch_git(HEAD_ARGS)
        prefetch_git(committed_paths_args("HEAD"))
    elif name in ("post-checkout", "post-merge", "post-rewrite"):
        from .fingerprints import STATUS_ARGS

        prefetch_git(STATUS_ARGS)  # the re-baseline's `git status`: the slowest step


def _dispatch(name: str, args: list[str], paths, framework: bool) -> int:  # type: ignore[no-untyped-def]
    from .state import open_store

    store = open_store(paths)
    try:
        _drain(name, paths, store)
        result = HANDLERS[name](paths, store, args, framework)
    finally:
        if not _FAST_EXIT:
            store.close()
    if result is None:  # a recording hook: nothing to print, and it never fails the command
        return 0
    remember_mode(paths, result.mode)
    if (result.violations or result.warnings) and not (result.ok and quiet()):
        # A clean pass prints nothing (render stays unloaded); quiet drops what only warns
        # (observed mode, allowed with warnings), never a refusal.
        from .render import format_gate

        err(format_gate(result))
    return 0 if result.ok else 1


def _drain(name: str, paths, store) -> None:  # type: ignore[no-untyped-def]
    """Record what the sh post-commit spooled before this hook judges anything (switchman.spool)."""
    from . import spool

    if not spool.pending(paths.common_dir):
        return
    from .gates.spooled import drain

    if name in GATING:
        # The gate appends its own row right after: one signed checkpoint then covers both.
        from .checkpoint import writer

        with writer.suspended():
            drain(paths, store, raise_errors=True)
    else:
        drain(paths, store, raise_errors=True)


# One handler per hook, each importing only the gate it runs: (paths, store, argv, framework) ->
# a GateResult to print and exit on, or None for a recording hook.


def _pre_commit(paths, store, args, framework):  # type: ignore[no-untyped-def]
    from .gates.commit import commit_gate

    if _FAST_EXIT:
        _warm_signer()
    return commit_gate(paths, store, framework=framework)


def _pre_merge_commit(paths, store, args, framework):  # type: ignore[no-untyped-def]
    from .gates.merge import merge_gate

    return merge_gate(paths, store, hook=True)


def _pre_push(paths, store, args, framework):  # type: ignore[no-untyped-def]
    from .gates.push import push_gate

    remote, url, lines = push_lines(args)
    return push_gate(paths, store, remote, url, lines)


def _post_commit(paths, store, args, framework):  # type: ignore[no-untyped-def]
    from .gates.history import post_commit

    post_commit(paths, store)


def _post_merge(paths, store, args, framework):  # type: ignore[no-untyped-def]
    from .gates.history import post_merge

    post_merge(paths, store, squash=squash_merge(args), framework=framework)


def _post_rewrite(paths, store, args, framework):  # type: ignore[no-untyped-def]
    from .gates.history import post_rewrite

    command = rewrite_command(args)
    post_rewrite(paths, store, command, rewrite_lines(paths, command, framework), framework=framework)


def _post_checkout(paths, store, args, framework):  # type: ignore[no-untyped-def]
    from .gates.history import rebaseline

    rebaseline(paths, store, framework=framework)


HANDLERS = {
    "pre-commit": _pre_commit,
    "pre-merge-commit": _pre_merge_commit,
    "pre-push": _pre_push,
    "post-commit": _post_commit,
    "post-merge": _post_merge,
    "post-rewrite": _post_rewrite,
    "post-checkout": _post_checkout,
}


def _warm_signer() -> None:
    """Import the Ed25519 signer now: the gate is about to wait for `git diff-index` and
    `git write-tree` (prefetched, still running on a big index), and its audit row will need a
    signed checkpoint anyway. On a small index git is done already and this costs nothing extra.
    """
    import contextlib

    with contextlib.suppress(ImportError):  # a dependency; the checkpoint writer would say so
        from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: F401


def _flags(args: list[str]) -> list[str]:
    while args and args[0] in ("-q", "--quiet", "-v", "--verbose"):
        os.environ["SWITCHMAN_QUIET" if args[0] in ("-q", "--quiet") else "SWITCHMAN_VERBOSE"] = "1"
        args = args[1:]
    return args


def serve(argv: list[str]) -> int:
    """A warm helper's child runs the hook here (switchman.helper): the script's path, returning
    the exit code instead of leaving, so the child can hand it to its client first."""
    global _FAST_EXIT, VIA_HELPER
    args = _flags(list(argv))
    if not args:
        err("usage: switchman-hookrun [-q|-v] HOOK-NAME [ARGS...]")
        return 2
    _FAST_EXIT = VIA_HELPER = True
    return run(args[0], args[1:])


def main(argv: list[str] | None = None) -> int:
    """Hook entry. Called without `argv` (the installed script), the process ends here.

    It then leaves with `os._exit` and never closes the database: everything is committed, and
    that skips SQLite's WAL checkpoint-on-close and the interpreter teardown, paid by every hook.
    """
    global _FAST_EXIT
    args = _flags(sys.argv[1:] if argv is None else list(argv))
    if not args:
        err("usage: switchman-hookrun [-q|-v] HOOK-NAME [ARGS...]")
        return 2
    _FAST_EXIT = argv is None
    code = run(args[0], args[1:])
    if _FAST_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
