"""Record what the sh post-commit spooled (switchman.spool), before anything reads the store;
write the receipts of recorded commits where they are needed (`backfill_receipts`).

Every hook and every command that opens the store calls `drain_pending` first, so no answer
(`status`, `doctor`, a gate) is given on a stale record. All spooled commits go into one
transaction (one signed checkpoint), in the spool's order. A commit that already has a signed
record is skipped, so a drain that is retried, or that races another, records each commit once.

Receipts are derived from the signed recording rows, so they can be written any time after:
the push gate writes those of the pushed commits in one notes batch before the notes travel,
and doctor those of recent commits. A commit no longer pays for its receipt (a `log`, a
signature and three git processes) on its way in.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .. import spool
from ..errors import SwitchmanError
from ..receipts.record import write_receipts
from ..repo import GitError, RepoPaths, git_env, run_git
from ..store import worktrees as wtmod
from ..store.sqlite import Store, Tx
from .history import Made, prepare_record
from .traces import parse_spool_fields


def drain_pending(paths: RepoPaths, store: Store, *, raise_errors: bool = False) -> int:
    """Record spooled commits if there are any (one scandir when there are none)."""
    if not spool.pending(paths.common_dir):
        return 0
    return drain(paths, store, raise_errors=raise_errors)


def _worktree_paths(paths: RepoPaths, entry: spool.Entry) -> RepoPaths | None:
    git_dir = spool.worktree_git_dir(paths.common_dir, entry)
    if entry.worktree == ".":
        top = paths.root if not paths.is_bare else None
    else:
        try:
            with open(os.path.join(git_dir, "gitdir"), encoding="utf-8", errors="surrogateescape") as fh:
                top = os.path.dirname(fh.read().rstrip("\n"))
        except OSError:
            return None  # the worktree was removed: its commits are judged at push
    if not top or not os.path.isdir(top):
        return None
    return RepoPaths(toplevel=os.path.realpath(top), git_dir=git_dir, common_dir=paths.common_dir, hooks_dir=paths.hooks_dir, is_bare=False)


def _facts(cwd: str, commits: list[str], env: dict[str, str]) -> dict[str, tuple[str, list[str]]]:
    """commit -> (tree, parents) for every spooled commit that exists, in one git process."""
    if not commits:
        return {}
    proc = run_git(["log", "--no-walk=unsorted", "--format=%H %T %P", "--stdin"], cwd, env=env, check=False, input="\n".join(commits).encode() + b"\n")
    out: dict[str, tuple[str, list[str]]] = {}
    for line in proc.stdout.decode("ascii", "replace").splitlines():
        words = line.split()
        if len(words) >= 2:
            out[words[0]] = (words[1], words[2:])
    return out


def drain(paths: RepoPaths, store: Store, *, raise_errors: bool = False) -> int:
    """Record every spooled commit; returns how many were newly recorded. What cannot be recorded
    now stays spooled: a command warns in one line and goes on; a hook (`raise_errors`) fails
    as it would on its own write, so its one line names the cause."""
    with spool.claimed(paths.common_dir) as entries:
        if not entries:
            return 0
        cwd = paths.toplevel or paths.root
        env = git_env(for_other_worktree=True)  # commits by id: no index, any worktree's git
        facts = _facts(cwd, list(dict.fromkeys(e.commit for e in entries)), env)
        plans: list[tuple[Any, Any]] = []
        try:
            for e in entries:
                wpaths = _worktree_paths(paths, e)
                fact = facts.get(e.commit)
                if wpaths is None or fact is None:
                    continue  # gone (or forged): nothing to record; the push gate still judges it
                traces = parse_spool_fields(e.fields)
                made = Made(commit=e.commit, tree=fact[0], parents=fact[1], traces=traces, rev=e.commit)
                # `git merge` (spooled by a post-merge that could not reach the store) was judged
                # by the merge gate; everything else by the commit gate.
                gate = "merge" if traces.action.startswith(("merge", "pull")) and len(fact[1]) > 1 else "commit"
                plans.append((wpaths, prepare_record(wpaths, store, made, env=env, gate=gate)))
            results = store.write(lambda tx: _record_all(tx, plans)) if plans else []
        except (SwitchmanError, GitError, OSError) as exc:
            if raise_errors and isinstance(exc, SwitchmanError) and not isinstance(exc, GitError):
                raise
            what = getattr(exc, "message", None) or str(exc)
            sys.stderr.write(f"warning: switchman could not record {len(entries)} spooled commit(s) yet: {what} — they stay spooled; run `switchman-hook doctor`\n")
            sys.stderr.flush()
            return 0
        spool.done(entries)
    return sum(1 for r in results if r.get("recorded"))


def _record_all(tx: Tx, plans: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    return [fn(tx) for _, (_, fn) in plans]


def backfill_receipts(paths: RepoPaths, store: Store, commits: list[str], *, env: dict[str, str] | None = None) -> int:
    """Write the receipts that recorded `commits` lack, in one notes batch per mode. From the
    signed rows, so nothing else is trusted; identical lines are kept once (signing is
    deterministic), so a second writer changes nothing."""
    from ..receipts import notes
    from ..store import gate_runs as runstore
    from .signed import key_of, signed_row

    if not commits:
        return 0
    cwd = paths.toplevel or paths.root
    e = env if env is not None else git_env(for_other_worktree=True)
    table = runstore.provenance_many(store, commits)
    if not table:
        return 0
    have = notes.lines_for(cwd, sorted(table), env=e)
    key = key_of(store)
    rows = [row for c, p in table.items() if c not in have and (row := signed_row(store, key, p["audit_sequence"])) is not None]
    by_mode: dict[str, list[Any]] = {}
    for row in rows:
        # Rows name their mode since the spool; an older row gets its worktree's mode now.
        wt = wtmod.get(store, row.worktree) if row.worktree else None
        by_mode.setdefault(wt.enforcement_mode if wt is not None else "observed", []).append(row)
    for mode, group in by_mode.items():
        write_receipts(paths, store, group, mode=mode, env=e)
    return len(rows)


def backfill_all_receipts(paths: RepoPaths, store: Store, limit: int = 100_000) -> int:
    """Every recorded commit's missing receipt, now: before the signing key changes (rotation),
    so each receipt is signed by the key that was active when its commit was recorded."""
    from ..store import gate_runs as runstore

    return backfill_receipts(paths, store, runstore.recent_commits(store, limit))
