"""The hot path: installed hook scripts exec `python -m switchman.hookrun NAME ARGS...`.

No click, no GitPython, no cryptography at import time: a commit pays only for git plumbing,
sqlite3 and hashing. Fail-closed rules (when the store is unusable): gating hooks refuse in
guarded/strict mode and warn in observed mode; recording hooks warn and never fail the command.
"""

from __future__ import annotations

import os
import sys

GATING = ("pre-commit", "pre-merge-commit", "pre-push")
RECORDING = ("post-commit", "post-checkout", "post-merge", "post-rewrite")


def _err(text: str) -> None:
    if text:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def _framework_name(name: str, paths: object) -> str:
    """pre-commit framework ids map to a git hook by the PRE_COMMIT_* environment it sets."""
    env = os.environ
    if name == "gate":
        return "pre-merge-commit" if os.path.exists(os.path.join(paths.git_dir, "MERGE_HEAD")) else "pre-commit"  # type: ignore[attr-defined]
    if name == "record":
        if env.get("PRE_COMMIT_CHECKOUT_TYPE") is not None:
            return "post-checkout"
        if env.get("PRE_COMMIT_IS_SQUASH_MERGE") is not None:
            return "post-merge"
        if env.get("PRE_COMMIT_REWRITE_COMMAND") is not None:
            return "post-rewrite"
        return "post-commit"
    if name == "push-gate":
        return "pre-push"
    return name


def _push_lines(args: list[str]) -> tuple[str, str, list[str]]:
    env = os.environ
    if env.get("PRE_COMMIT") == "1" and env.get("PRE_COMMIT_TO_REF"):
        remote = env.get("PRE_COMMIT_REMOTE_NAME", args[0] if args else "origin")
        url = env.get("PRE_COMMIT_REMOTE_URL", args[1] if len(args) > 1 else "")
        line = " ".join(
            [
                env.get("PRE_COMMIT_LOCAL_BRANCH", "HEAD"),
                env["PRE_COMMIT_TO_REF"],
                env.get("PRE_COMMIT_REMOTE_BRANCH", "HEAD"),
                env.get("PRE_COMMIT_FROM_REF") or "0" * 40,
            ]
        )
        return remote, url, [line]
    remote = args[0] if args else ""
    url = args[1] if len(args) > 1 else ""
    return remote, url, sys.stdin.read().splitlines()


def run(name: str, args: list[str]) -> int:
    from .errors import SwitchmanError
    from .repo import locate

    try:
        paths = locate()
    except SwitchmanError:
        return 0
    if paths.toplevel is None or not os.path.exists(os.path.join(paths.state_dir, "switchman.db")):
        return 0  # not managed by switchman: hooks stay out of the way
    name = _framework_name(name, paths)
    framework = os.environ.get("PRE_COMMIT") == "1"
    try:
        return _dispatch(name, args, paths, framework)
    except SwitchmanError as exc:
        return _fail(name, paths, exc.line())
    except Exception as exc:  # noqa: BLE001 - a hook must answer with one line, never a traceback
        if os.environ.get("SWITCHMAN_DEBUG"):
            import traceback

            traceback.print_exc()
        return _fail(name, paths, f"error: internal error in switchman hook {name}: {type(exc).__name__}: {exc}")


def _fail(name: str, paths: object, line: str) -> int:
    """Fail closed in guarded/strict, open in observed (the mode read best-effort from policy)."""
    mode = "observed"
    try:
        from .policy import load

        mode = load(paths.state_dir).default_mode  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        mode = "guarded"
    if name in GATING and mode != "observed":
        _err(f"switchman: {name} refused because the store is unusable ({mode} mode fails closed)")
        _err(line)
        _err("  fix: run `switchman-hook doctor`")
        return 1
    _err(f"switchman: {name} could not record ({line}); run `switchman-hook doctor`")
    return 0


def _dispatch(name: str, args: list[str], paths, framework: bool) -> int:  # type: ignore[no-untyped-def]
    from . import gates
    from .report import format_gate
    from .store import Store

    store = Store.open(paths.state_dir)
    try:
        if name == "pre-commit":
            result = gates.commit_gate(paths, store, framework=framework)
        elif name == "pre-merge-commit":
            result = gates.merge_gate(paths, store)
        elif name == "pre-push":
            remote, url, lines = _push_lines(args)
            result = gates.push_gate(paths, store, remote, url, lines)
        elif name == "post-commit":
            gates.post_commit(paths, store)
            return 0
        elif name == "post-merge":
            squash = (args[:1] == ["1"]) or os.environ.get("PRE_COMMIT_IS_SQUASH_MERGE") == "1"
            gates.post_merge(paths, store, squash=squash)
            return 0
        elif name == "post-rewrite":
            command = args[0] if args else os.environ.get("PRE_COMMIT_REWRITE_COMMAND", "rebase")
            lines = [] if framework else sys.stdin.read().splitlines()
            gates.post_rewrite(paths, store, command, lines)
            return 0
        elif name == "post-checkout":
            gates.rebaseline(paths, store)
            return 0
        else:
            _err(f"switchman: unknown hook {name!r}")
            return 0
    finally:
        store.close()
    _err(format_gate(result))
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        _err("usage: python -m switchman.hookrun HOOK-NAME [ARGS...]")
        return 2
    return run(args[0], args[1:])


if __name__ == "__main__":
    sys.exit(main())
