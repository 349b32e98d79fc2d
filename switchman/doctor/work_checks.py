"""Checks of the coordination state: registered worktrees, leases, claims, compliance,
boundary validations and dependency invalidations."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from ..specs import loads_stored
from ..store import audit_log, snapshots, tasks, validations
from ..store import claims as claimmod
from ..store import leases as leasemod
from .context import Check, Ctx, check, listed, q


def worktrees_check(c: Ctx) -> Iterator[Check]:
    registered = c.registered()
    git_by_path = {w.path: w for w in c.git_worktrees if not w.bare}
    reg_paths = {r["path"] for r in registered}
    warn: list[str] = []
    fixes: list[str] = []
    retired = 0
    for r in registered:
        if os.path.isdir(r["path"]):
            if r["path"] not in git_by_path:
                warn.append(f"{r['name']} ({r['path']}) is registered but git no longer lists it as a worktree")
            continue
        gwt = git_by_path.get(r["path"])
        if gwt is not None:
            warn.append(f"{r['name']}: {r['path']} is gone but git still lists it{' (prunable)' if gwt.prunable else ''}")
            fixes.append(f"git -C {q(c.root)} worktree prune")
        else:
            retired += 1
    for w in c.git_worktrees:
        if w.bare or w.path in reg_paths:
            continue
        if w.prunable or not os.path.isdir(w.path):
            warn.append(f"git lists {w.path}, which is gone (prunable)")
            fixes.append(f"git -C {q(c.root)} worktree prune")
        else:
            warn.append(f"{w.path} is a git worktree switchman has not registered")
            fixes.append("switchman-hook worktree sync")
    note = f"; {retired} registration(s) of removed worktrees holding nothing" if retired else ""
    if warn:
        yield check("worktrees", "warn", "; ".join(warn) + note, " && ".join(dict.fromkeys(fixes)))
    else:
        yield check("worktrees", "ok", f"{len(registered) - retired} registered worktree(s) match `git worktree list`{note}")


def stale_check(c: Ctx) -> Iterator[Check]:
    assert c.store is not None
    window = c.stale_window()
    stale = [lease for lease in leasemod.list_leases(c.store, "active", window) if lease.stale]
    if stale:
        items = [f"{s.id} (task {s.task_id}, worktree {s.worktree}, heartbeat {s.heartbeat_at})" for s in stale]
        yield check(
            "stale_leases", "warn",
            f"{len(stale)} active lease(s) without a heartbeat for {window:g}+ min: {listed(items)}",
            "switchman-hook lease reap",
        )
    else:
        yield check("stale_leases", "ok", f"no stale leases (window {window:g} min)")


def _gone(c: Ctx) -> dict[str, str]:
    """Registered worktree names whose directory no longer exists (name → path)."""
    return {r["name"]: r["path"] for r in c.registered() if not os.path.isdir(r["path"])}


def orphan_check(c: Ctx) -> Iterator[Check]:
    assert c.store is not None
    known = c.registered_names()
    gone = _gone(c)
    leases = [
        r for r in leasemod.active_rows(c.store)
        if r["worktree"] in gone or r["worktree"] not in known
    ]
    lease_ids = {r["id"] for r in leases}
    claims = [
        r for r in claimmod.active_rows(c.store)
        if (r["worktree"] in gone or r["worktree"] not in known) and r["lease_id"] not in lease_ids
    ]
    if not leases and not claims:
        yield check("orphaned_leases", "ok", "no active lease or claim on a vanished worktree")
        return
    items = [f"lease {r['id']} (task {r['task_id']}) on {r['worktree']}" for r in leases]
    items += [f"claim {r['file_path']} (task {r['task_id']}) on {r['worktree']}" for r in claims]
    fixes = [f"switchman-hook lease fail {q(r['id'])} 'worktree removed' && switchman-hook task retry {q(r['task_id'])}" for r in leases]
    fixes += [f"switchman-hook release {q(t)}" for t in dict.fromkeys(r["task_id"] for r in claims)]
    yield check(
        "orphaned_leases", "fail",
        f"held by worktrees that no longer exist, blocking others: {listed(items)}",
        " && ".join(fixes),
    )


def _noncompliant_files(c: Ctx, name: str, path: str) -> tuple[list[str], str]:
    """The files that made worktree `name` non-compliant, and why (from snapshots and the log)."""
    assert c.store is not None
    files: list[str] = []
    latest: dict[str, str] = {}
    for r in audit_log.recent_writes(c.store, name):
        latest.setdefault(r["file_path"], r["status"])
    snap = snapshots.paths_of(c.store, name)
    files += [p for p, s in latest.items() if s == "denied" and p in snap]
    cause = ""
    row = audit_log.last_refusal(c.store, name)
    if row is not None:
        try:
            details = json.loads(row["details"] or "{}")
        except ValueError:
            details = {}
        if row["event_type"] == "commit_gate_bypassed":
            commit = str(details.get("commit") or "")
            cause = f"commit {commit[:12]} skipped the gate, audit #{row['sequence']}"
            if commit and os.path.isdir(path):
                out = c.git(["diff-tree", "--no-commit-id", "-r", "-z", "--name-only", "--root", "--no-renames", commit], cwd=path).stdout
                files += [os.fsdecode(p) for p in out.split(b"\0") if p]
        else:
            cause = f"{row['event_type']} #{row['sequence']} found violations"
            files += [v.get("file", "") for v in details.get("violations") or [] if isinstance(v, dict)]
    return list(dict.fromkeys(f for f in files if f)), cause


def noncompliant_check(c: Ctx) -> Iterator[Check]:
    gone = _gone(c)
    bad = [r for r in c.registered() if r["compliance_state"] == "non_compliant" and r["name"] not in gone]
    if not bad:
        yield check("non_compliant", "ok", "no worktree is non_compliant")
        return
    items, fixes = [], []
    for r in bad:
        files, cause = _noncompliant_files(c, r["name"], r["path"])
        what = listed(files) if files else "no file recorded"
        items.append(f"{r['name']}: {what}{f' ({cause})' if cause else ''}")
        fixes.append(f"switchman-hook -C {q(r['path'])} gate commit")
    yield check(
        "non_compliant", "warn",
        "; ".join(items) + " — claim or revert those files, then re-run the gate",
        " && ".join(fixes),
    )


def validation_check(c: Ctx) -> Iterator[Check]:
    assert c.store is not None
    rows = validations.state_rows_newest_first(c.store)
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        latest.setdefault(r["task_id"], r)
    live = tasks.statuses(c.store)
    blocked, pending, fixes = [], [], []
    for task_id, r in latest.items():
        if live.get(task_id) in ("done", "failed") or r["status"] == "satisfied":
            continue
        try:
            missing = [str(t) for t in json.loads(r["missing_task_types"] or "[]")]
        except ValueError:
            missing = []
        item = f"{task_id} ({r['status']}, pipeline {r['pipeline_id'] or '-'}, waiting for: {', '.join(missing) or '?'})"
        (blocked if r["status"] == "blocked" else pending).append(item)
        if r["status"] == "blocked":
            fixes.append(_validation_fix(c, r["pipeline_id"], missing))
    if blocked:
        yield check(
            "validations", "fail",
            f"boundary validation blocked (merges refused): {listed(blocked)}"
            + (f"; pending: {listed(pending)}" if pending else ""),
            " && ".join(dict.fromkeys(fixes)),
        )
    elif pending:
        yield check("validations", "warn", f"boundary validation pending: {listed(pending)}", "")
    else:
        yield check("validations", "ok", "no blocked or pending boundary validation")


def _validation_fix(c: Ctx, pipeline: str | None, missing: list[str]) -> str:
    assert c.store is not None
    for r in tasks.unfinished_specs(c.store):
        spec = loads_stored(r["spec_json"]) or {}
        if spec.get("pipeline_id") == pipeline and spec.get("task_type") in missing:
            return f"switchman-hook task done {q(r['id'])}  # once its {spec.get('task_type')} work is finished"
    kinds = " and ".join(missing) or "the required"
    return (
        f"switchman-hook task add '{kinds} for {pipeline}'  # then `task spec ID --pipeline {pipeline} "
        f"--task-type {missing[0] if missing else 'TYPE'}`, do it, `task done ID`"
    )


def invalidation_check(c: Ctx) -> Iterator[Check]:
    assert c.store is not None
    rows = validations.stale_rows(c.store)
    if not rows:
        yield check("invalidations", "ok", "no stale dependency invalidations")
        return
    affected = list(dict.fromkeys(r["affected_task_id"] for r in rows))
    status = tasks.statuses(c.store)
    items = [f"{r['affected_task_id']} by {r['source_task_id']} ({r['reason_type']})" for r in rows]
    fix = " && ".join(f"switchman-hook task retry {q(t)}" for t in affected if status.get(t) in ("done", "failed"))
    later = [t for t in affected if status.get(t) not in ("done", "failed")]
    if later:
        fix += ("  # " if fix else "# ") + f"once {', '.join(later)} is done: switchman-hook task retry re-checks it"
    yield check(
        "invalidations",
        "warn",
        f"{len(rows)} stale dependency invalidation(s), re-check the affected work: {listed(items)}",
        fix,
    )


def weakening_check(c: Ctx) -> Iterator[Check]:
    """issue 12: another worktree's enforcement lowered within the stale window (signed rows)."""
    from ..status import recent_weakening

    assert c.store is not None
    window = c.stale_window()
    rows = recent_weakening(c.store, window)
    if not rows:
        yield check("weakening", "ok", f"no operation lowered another worktree's enforcement in the last {window:g} min")
        return
    items = [
        f"#{r['sequence']} {r['what']} [{r.get('worktree') or 'every worktree'}] by {r.get('by_worktree') or '(outside any worktree)'}"
        for r in rows
    ]
    yield check(
        "weakening",
        "warn",
        f"{len(rows)} operation(s) lowered another worktree's enforcement in the last {window:g} min: {listed(items)}",
        "switchman-hook status  # confirm each was intended; restore modes with `switchman-hook worktree mode NAME MODE`",
    )
