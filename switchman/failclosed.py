"""What a hook does when the store cannot answer: fail closed, say so in one line, log it.

Gating hooks refuse in guarded/strict mode and warn in observed mode; recording hooks warn and
never fail the command. The mode used then is the strictest of the policy default and the
worktree's last known mode, kept in `<git dir>/switchman-mode` by every gate run, so a broken
store cannot relax it. Each failure is appended to FAILURE_LOG for `doctor` to show later.
"""

from __future__ import annotations

import os
import sys

GATING = ("pre-commit", "pre-merge-commit", "pre-push")
RECORDING = ("post-commit", "post-checkout", "post-merge", "post-rewrite")
MODE_MARKER = "switchman-mode"  # per-worktree (`--git-path`), read when the store is unusable
_RANK = {"observed": 0, "guarded": 1, "integrator": 1, "strict": 2}
FAILURE_LOG = "switchman-hook-failures.log"  # in the git common dir: outside the store that failed


def err(text: str) -> None:
    """One line on stderr, flushed now (a hook's process may leave with os._exit)."""
    if text:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def remembered_mode(paths: object) -> str | None:
    try:
        with open(os.path.join(paths.git_dir, MODE_MARKER), encoding="ascii") as fh:  # type: ignore[attr-defined]
            mode = fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return mode if mode in _RANK else None


def remember_mode(paths: object, mode: str) -> None:
    """Keep this worktree's mode beside its git dir, so a broken store still fails closed."""
    if mode not in _RANK or remembered_mode(paths) == mode:
        return
    try:
        with open(os.path.join(paths.git_dir, MODE_MARKER), "w", encoding="ascii") as fh:  # type: ignore[attr-defined]
            fh.write(mode + "\n")
    except OSError:
        pass


def failure_mode(paths: object) -> str:
    """The strictest of the policy default and this worktree's last known mode."""
    try:
        from .policy import load

        mode = load(paths.state_dir).default_mode  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - an unreadable policy fails closed too
        mode = "guarded"
    remembered = remembered_mode(paths)
    if remembered is not None and _RANK[remembered] > _RANK.get(mode, 1):
        mode = remembered
    return mode


def fail(name: str, paths: object, what: str, fix: str) -> int:
    """Fail closed in guarded/strict, open in observed: one line on stderr, never a traceback.

    Each failure is also appended to FAILURE_LOG, so `doctor` can show what went unchecked or
    unrecorded after the store works again.
    """
    mode = failure_mode(paths)
    what = what.replace("\r", "\\r").replace("\n", "\\n")
    fix = fix or "run `switchman-hook doctor`"
    if name in GATING and mode != "observed":
        verdict, code = "refused", 1
        err(f"error: switchman {name} refused ({mode} mode fails closed): {what} — {fix}")
    elif name in GATING:
        verdict, code = "allowed_unchecked", 0
        err(f"warning: switchman {name} allowed unchecked ({mode} mode): {what} — {fix}")
    else:
        verdict, code = "not_recorded", 0
        err(f"warning: switchman {name} could not record: {what} — {fix}")
    _log_failure(paths, name, mode, verdict, what)
    return code


def _log_failure(paths: object, name: str, mode: str, verdict: str, what: str) -> None:
    import json
    import time

    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hook": name,
        "mode": mode,
        "verdict": verdict,
        "worktree": getattr(paths, "toplevel", None),
        "reason": what,
    }
    try:
        fd = os.open(os.path.join(paths.common_dir, FAILURE_LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # type: ignore[attr-defined]
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
    except OSError:
        pass  # best effort: the stderr line above already told the person
