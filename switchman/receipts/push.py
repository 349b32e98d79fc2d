"""Bring the receipts to the remote: fetch its notes ref, union ours in, push the notes ref.

Why a nested push: a pre-push hook cannot add a ref to the push it is judging (DESIGN
"Receipts"), so the pre-push gate pushes `refs/notes/switchman` itself, first, with
`--no-verify` (the notes ref carries no commits to judge, and our own pre-push must not recurse)
and GUARD set so nothing of ours syncs again from inside it. The merged notes commit has the
remote's tip as an ancestor (`notes.merge_into`), so the push is a fast-forward and never drops a
receipt; losing a race to another pusher (non-fast-forward) fetches, merges and pushes again.
`switchman-hook push` instead sends branch and notes in one `git push --atomic`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence

from ..repo import GitError, git_env, run_git
from . import notes

GUARD = "SWITCHMAN_HOOK_NOTES_PUSH"
SIDE_PREFIX = "refs/switchman/remote-notes/"
ATTEMPTS = 6


def side_ref(remote: str) -> str:
    return SIDE_PREFIX + hashlib.sha256(remote.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _env(env: Mapping[str, str] | None) -> dict[str, str]:
    return dict(env) if env is not None else git_env(for_other_worktree=True)


def fetch_remote_notes(cwd: str, remote: str, env: Mapping[str, str] | None = None) -> str | None:
    """Fetch REMOTE's notes ref into a side ref; its commit id, or None when the remote has none."""
    e = _env(env)
    side = side_ref(remote)
    proc = run_git(["fetch", "-q", "--no-tags", "--no-write-fetch-head", remote, f"+{notes.REF}:{side}"], cwd, env=e, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        if "find remote ref" in err:
            return None
        raise GitError(f"cannot fetch {notes.REF} from {remote}: {err.splitlines()[-1] if err else 'git fetch failed'}", f"check `git fetch {remote}` works")
    return notes.ref_oid(cwd, side, env=e)


def merge_remote(cwd: str, remote: str, env: Mapping[str, str] | None = None) -> str | None:
    """Fetch and union REMOTE's receipts into ours; the local notes tip after (None: no notes)."""
    e = _env(env)
    theirs = fetch_remote_notes(cwd, remote, e)
    if theirs is not None:
        return notes.merge_into(cwd, side_ref(remote), env=e)
    return notes.ref_oid(cwd, env=e)


def sync(cwd: str | os.PathLike[str], remote: str, env: Mapping[str, str] | None = None, attempts: int = ATTEMPTS) -> str | None:
    """Make REMOTE's notes ref hold every local receipt; the pushed tip (None: nothing to push).

    Raises GitError (code receipts_not_pushed) when the notes ref cannot be pushed.
    """
    where = os.fspath(cwd)
    e = _env(env)
    last = ""
    for _ in range(attempts):
        tip = merge_remote(where, remote, e)
        if tip is None or tip == notes.ref_oid(where, side_ref(remote), env=e):
            return tip  # nothing, or the remote already has exactly this
        push_env = {**e, GUARD: "1"}
        proc = run_git(["push", "-q", "--no-verify", remote, f"{notes.REF}:{notes.REF}"], where, env=push_env, check=False)
        if proc.returncode == 0:
            run_git(["update-ref", side_ref(remote), tip], where, env=e, check=False)
            return tip
        last = proc.stderr.decode("utf-8", "replace").strip()
        if not any(w in last for w in ("non-fast-forward", "fetch first", "stale info", "cannot lock ref")):
            break  # refused for good (permissions, protected ref): retrying will not help
    raise GitError(
        f"could not push {notes.REF} to {remote}: {last.splitlines()[-1] if last else 'git push failed'}",
        f"allow pushing {notes.REF} to {remote}, then `switchman-hook push {remote}`",
        code="receipts_not_pushed",
    )


def pushes_notes(ref_lines: Sequence[str]) -> bool:
    """Whether this push already carries the notes ref (our nested push, `switchman-hook push`)."""
    return any(len(f) >= 3 and f[2] == notes.REF for f in (line.split() for line in ref_lines))


def only_deletes(ref_lines: Sequence[str]) -> bool:
    return all(set(f[1]) == {"0"} for f in (line.split() for line in ref_lines) if len(f) >= 4)


def atomic_push(cwd: str, remote: str, refspecs: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """`switchman-hook push`: union the remote's receipts in, then one `git push --atomic` of the
    branch refspecs and the notes ref; the hooks run (pre-push judges the branch)."""
    e = _env(env)
    merge_remote(cwd, remote, e)
    args = ["push", "--atomic", remote, *refspecs]
    if notes.ref_oid(cwd, env=e) is not None:
        args.append(f"{notes.REF}:{notes.REF}")
    import subprocess

    # Not run_git: the push's own output (and the pre-push gate's) belongs to the person.
    return subprocess.run(["git", *args], cwd=cwd, env={k: v for k, v in os.environ.items() if k != GUARD}).returncode


def gate_violations(cwd: str, remote: str, ref_lines: Sequence[str], env: Mapping[str, str] | None = None) -> list:  # type: ignore[type-arg]
    """The pre-push gate's part: sync the notes before the branch push; a Violation if it failed.

    Skipped for a push that deletes only, or already carries the notes ref, or runs inside our
    own nested push (GUARD). The gate's mode decides: guarded/strict refuse, observed warns.
    """
    from ..gates.common import Violation
    from ..reasons import RECEIPTS_NOT_PUSHED, fix

    environ = env if env is not None else os.environ
    if environ.get(GUARD) or not ref_lines or only_deletes(ref_lines) or pushes_notes(ref_lines):
        return []
    if notes.ref_oid(cwd) is None:  # no receipt written here yet: nothing to bring along
        return []
    try:
        sync(cwd, remote)
    except GitError as exc:
        return [Violation(notes.REF, RECEIPTS_NOT_PUSHED, {"error": exc.message}, exc.fix or fix(RECEIPTS_NOT_PUSHED))]
    return []
