"""Exclusive file claims (all-or-nothing), and what one ownership judgement reads (SPEC §4)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import Conflict, Denied
from ..globs.matcher import FocusedMatcher, Matcher, cached_matcher
from ..models import Claim
from ..ownership import LeaseInfo, OwnershipContext
from ..store import claims as claimstore
from ..store import leases as leasestore
from ..store import worktrees as wtstore
from ..store.base import Reader, Store, Tx
from ..timeutil import now_iso


def claim(store: Store, task_id: str, worktree_ref: str, paths: list[str], agent: str | None = None) -> list[Claim]:
    """Claim every path for the task's active lease in the worktree, or none of them.

    A pending task without a lease is leased to the worktree first (as switchman-dev did).
    Paths inside another active lease's reserved scope are refused like claimed ones.
    """
    # Imported here, as in release*: `check` loads this module for `load_context` alone.
    from ..store import tasks as taskstore
    from . import leases as leaseops

    def fn(tx: Tx) -> list[Claim]:
        wt = wtstore.require(tx, worktree_ref)
        task = taskstore.require(tx, task_id)
        lease = leasestore.active_for_task(tx, task_id)
        if lease is None:
            if task.status != "pending":
                raise Denied(
                    f"task {task_id} is {task.status} and has no active lease",
                    f"`switchman-hook task retry {task_id}` then lease it",
                    code="no_active_lease",
                )
            lease = leaseops.start(tx, task_id, wt.name, agent)
        elif lease.worktree != wt.name:
            raise Conflict(
                f"task {task_id} is leased to worktree {lease.worktree}, not {wt.name}",
                f"claim from {lease.worktree}, or end lease {lease.id} first",
                code="lease_in_other_worktree",
            )
        conflicts: list[dict[str, Any]] = []
        fresh: list[str] = []
        others = [r for r in leasestore.reservations(tx) if r.lease_id != lease.id and r.ownership_level == "path_scope"]
        scope_matchers = {}
        for r in others:
            scope_matchers.setdefault(r.lease_id, ([], r))[0].append(r.scope_pattern)
        compiled = [(Matcher(pats), r) for pats, r in scope_matchers.values()]
        for path in dict.fromkeys(paths):
            row = claimstore.holder_of(tx, path)
            if row is not None:
                if row["lease_id"] == lease.id:
                    continue
                conflicts.append(
                    {"file": path, "holder": {"task_id": row["task_id"], "lease_id": row["lease_id"], "worktree": row["worktree"]}}
                )
                continue
            for matcher, r in compiled:
                pattern = matcher.first_match(path)
                if pattern is not None:
                    conflicts.append(
                        {
                            "file": path,
                            "holder": {"task_id": r.task_id, "lease_id": r.lease_id, "worktree": r.worktree, "scope": pattern},
                        }
                    )
                    break
            else:
                fresh.append(path)
        if conflicts:
            listing = ", ".join(
                f"{c['file']} → {c['holder']['task_id']} ({c['holder']['lease_id']} in {c['holder']['worktree']})"
                for c in conflicts
            )
            raise Conflict(
                f"claim refused: {listing}",
                "coordinate with the holder or wait for its lease to end; nothing was claimed",
                # SPEC §4's reason codes: a held claim beats a reserved scope.
                code="path_claimed_by_other_lease"
                if any("scope" not in c["holder"] for c in conflicts)
                else "path_scoped_by_other_lease",
                data={"conflicts": conflicts},
            )
        now = now_iso()
        for path in fresh:
            claimstore.insert(tx, task_id, lease.id, path, wt.name, agent, now)
            tx.audit("file_claimed", "allowed", worktree=wt.name, task_id=task_id, lease_id=lease.id, file_path=path)
        return [c for c in claimstore.active(tx, task_id=task_id) if c.file_path in set(paths)]

    return store.write(fn)


def release_for_task(tx: Tx, task_id: str) -> list[Claim]:
    from . import leases as leaseops

    return leaseops.audit_released(tx, claimstore.release_for_task(tx, task_id, now_iso()))


def release(store: Store, task_id: str) -> list[Claim]:
    from ..store import tasks as taskstore

    def fn(tx: Tx) -> list[Claim]:
        taskstore.require(tx, task_id)
        return release_for_task(tx, task_id)

    return store.write(fn)


# --- what one ownership judgement reads --------------------------------------------------------


def load_context(
    db: Reader,
    worktree: str,
    paths: Iterable[str],
    *,
    stale_minutes: float,
    generated_globs: Iterable[str] = (),
    focused: bool = False,
) -> OwnershipContext:
    """Exactly what one judgement pass needs (the worktree's lease, the claims on the judged
    paths, active scope reservations, the policy globs) in a few indexed queries; then
    `OwnershipContext.judge` answers per path without touching the database.

    `focused`: the scope matchers are `FocusedMatcher`s for `paths` (the same answers for any
    path; for these, without indexing every scope glob): for a few paths judged once (`check`:
    5,000 scopes cost ~7 ms to index). The gates and the monitor keep `cached_matcher`, whose
    work the dependency check and the next worktree's judgement reuse.
    """
    paths = list(dict.fromkeys(paths))
    lease_row = leasestore.active_for_worktree(db, worktree, stale_minutes)
    lease = LeaseInfo(lease_row.id, lease_row.task_id, lease_row.worktree, lease_row.stale) if lease_row else None
    claims = claimstore.held_on(db, paths)
    leftovers, leftover_blobs = claimstore.leftovers_on(db, worktree, paths)
    own_scope, other_scopes = _scopes(db, lease.id if lease is not None else None, paths if focused else None)
    generated = list(generated_globs)
    return OwnershipContext(
        worktree=worktree,
        lease=lease,
        claims=claims,
        leftovers=leftovers,
        leftover_blobs=leftover_blobs,
        own_scope=own_scope,
        other_scopes=other_scopes,
        generated=cached_matcher(generated) if generated else None,
    )


def uncommitted_blobs(root: str, paths: Iterable[str]) -> dict[str, set[str]]:
    """path -> every blob id its uncommitted change in worktree `root` has right now, for the
    paths among `paths` that differ from HEAD: the index blob, the file's bytes as the monitor
    fingerprints them, and the file as `git add` would hash it (clean filters, eol), so the
    commit gate (staged blob) and the monitor (worktree fingerprint) both recognise it later.
    Nothing when git cannot say (the worktree is gone): then no leftover is covered.
    """
    import os

    from .. import fingerprints
    from ..errors import SwitchmanError
    from ..repo import git_env, run_git

    wanted = set(paths)
    if not wanted or not os.path.isdir(root):
        return {}
    env = git_env(for_other_worktree=True)
    found: dict[str, set[str]] = {}
    try:
        changes = fingerprints.worktree_changes(root, env) + fingerprints.staged_changes(root, env)
    except (SwitchmanError, OSError):
        return {}
    files: list[str] = []
    for ch in changes:
        if ch.path not in wanted:
            continue
        found.setdefault(ch.path, set()).add(ch.fingerprint)
        if ch.kind in ("unstaged", "untracked") and ch.path not in files and "\n" not in ch.path and _regular(root, ch.path):
            files.append(ch.path)
    if files:
        listing = b"".join(os.fsencode(f) + b"\n" for f in files)
        proc = run_git(["hash-object", "--stdin-paths"], root, env=env, input=listing, check=False)
        hashed = os.fsdecode(proc.stdout).split()
        if proc.returncode == 0 and len(hashed) == len(files):
            for f, h in zip(files, hashed, strict=True):
                found[f].add(h)
    return found


def _regular(root: str, path: str) -> bool:
    import os
    import stat

    try:
        return stat.S_ISREG(os.lstat(os.path.join(root, path)).st_mode)
    except OSError:
        return False


def record_leftovers(tx: Tx, released: Iterable[Claim], blobs: dict[str, set[str]]) -> int:
    """task done: what each released claim's path held, uncommitted, when the task completed."""
    return claimstore.record_leftover_blobs(
        tx, [(c.id, sorted(blobs[c.file_path])) for c in released if blobs.get(c.file_path)], now_iso()
    )


def consume_leftovers(tx: Tx, worktree: str, paths: Iterable[str], when: str) -> int:
    """post-commit: a completed task's claim governs its leftovers only until they are committed."""
    return claimstore.consume_leftovers(tx, worktree, paths, when)


def warm_scopes(db: Reader) -> int:
    """Compile every active lease's scope matcher into this process's cache (the warm helper
    does it before forking, so its children find them built); returns how many leases."""
    _, others = _scopes(db, None)
    return len(others)


def _scopes(
    db: Reader, own_id: str | None, focus: list[str] | None = None
) -> tuple[Matcher | FocusedMatcher | None, list[tuple[Matcher | FocusedMatcher, dict[str, Any]]]]:
    """The active path-scope reservations: this lease's matcher and every other lease's
    (focused on the judged paths `focus`, when given)."""
    own: list[str] = []
    others: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for lease_id, task_id, wt, pattern in leasestore.path_scopes(db):
        if lease_id == own_id and own_id is not None:
            own.append(pattern)
            continue
        entry = others.get(lease_id)
        if entry is None:
            entry = others[lease_id] = ([], {"lease_id": lease_id, "task_id": task_id, "worktree": wt})
        entry[0].append(pattern)

    def build(patterns: list[str]) -> Matcher | FocusedMatcher:
        return cached_matcher(patterns) if focus is None else FocusedMatcher(patterns, focus)

    return (build(own) if own else None, [(build(pats), holder) for pats, holder in others.values()])
