"""The agents' own surface (SPEC §13): `whoami`, `check`, and the integrator judgement.

`whoami` and `check` only read: no transaction, no audit row, no auto-registration (a worktree
git knows but the store does not is an error naming `worktree sync`). `check` judges exactly as
the commit gate does: the same `load_context` over the same policy globs and stale window, the
same `OwnershipContext.judge` (or `judge_integrator` in an integrator worktree), paths through
`paths.normalize`; only its scope matchers are built for the judged paths (`FocusedMatcher`,
the same answers).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import reasons
from ..errors import BadInput, NotFound
from ..ownership import Decision, OwnershipContext, fix_for, judge_integrator
from ..paths import normalize
from ..repo import run_git
from ..store import claims as claimstore
from ..store import leases as leasestore
from ..store import worktrees as wtstore
from ..store.base import Reader
from .claims import load_context


def worktree_at(db: Reader, toplevel: str | None, ref: str | None = None) -> Any:
    """The registered worktree named `ref`, else the one containing the cwd (`toplevel`)."""
    if ref is not None:
        return wtstore.require(db, ref)
    wt = wtstore.by_path(db, toplevel) if toplevel else None
    if wt is None:
        raise NotFound(
            f"{toplevel or 'this directory'} is not a registered worktree",
            "run it inside a worktree registered with `switchman-hook worktree sync`, or pass --worktree NAME",
            code="unknown_worktree",
        )
    return wt


def whoami(db: Reader, toplevel: str | None, stale_minutes: float) -> dict[str, Any]:
    """`{worktree, mode, compliance_state, lease, task, scope: {allowed_paths, subsystem_tags}, claims}`."""
    from ..store import tasks as taskstore  # here: `check` needs no task rows (nor specs)

    wt = worktree_at(db, toplevel)
    lease = leasestore.active_for_worktree(db, wt.name, stale_minutes)
    task = taskstore.get(db, lease.task_id) if lease is not None else None
    spec = (taskstore.get_spec(db, lease.task_id) if lease is not None else None) or {}
    claims = [c.file_path for c in claimstore.active(db, worktree=wt.name)] if lease is not None else []
    return {
        "worktree": wt.name,
        "mode": wt.enforcement_mode,
        "compliance_state": wt.compliance_state,
        "lease": lease,
        "task": task,
        "scope": {
            "allowed_paths": list(spec.get("allowed_paths") or []),
            "subsystem_tags": list(spec.get("subsystem_tags") or []),
        },
        "claims": claims,
    }


def check(
    db: Reader,
    raw_paths: Iterable[str],
    *,
    toplevel: str | None,
    cwd: str,
    worktree: str | None,
    stale_minutes: float,
    generated_globs: Iterable[str],
) -> dict[str, Any]:
    """`{ok, worktree, mode, lease_id, paths: [{path, allowed, reason_code, holder, fix}]}` (the
    CLI's JSON leaves `fix` out: SPEC §13's keys; the human output and the agent hook show it).

    A path is taken relative to the cwd when the cwd is inside the judged worktree, else relative
    to that worktree's root. A path outside it (or otherwise unclaimable) is not allowed, with
    the normaliser's code (`path_outside_repo`, `invalid_path`).
    """
    wt = worktree_at(db, toplevel, worktree)
    root = wt.path
    inside = os.path.realpath(cwd) == root or os.path.realpath(cwd).startswith(root.rstrip("/") + "/")
    normalised: list[tuple[str, str | None, str | None]] = []  # (given, normalised, error code)
    for raw in raw_paths:
        try:
            normalised.append((raw, normalize(raw, worktree_root=root, cwd=cwd if inside else root), None))
        except BadInput as exc:
            normalised.append((raw, None, exc.code))
    judged = [n for _, n, _ in normalised if n is not None]
    # Focused: these few paths are judged once, so no scope glob is indexed for other paths.
    ctx = load_context(db, wt.name, judged, stale_minutes=stale_minutes, generated_globs=generated_globs, focused=True)
    judge = judge_for(wt.enforcement_mode, ctx)
    rows = []
    for raw, path, code in normalised:
        if path is None:
            rows.append({"path": raw, "allowed": False, "reason_code": code, "holder": None, "fix": reasons.fix(code or "")})
            continue
        d = judge(path)
        rows.append(
            {
                "path": path,
                "allowed": d.allowed,
                "reason_code": d.reason_code,
                "holder": d.holder,
                "fix": "" if d.allowed else fix_for(d, wt.name, ctx.lease),
            }
        )
    return {
        "ok": all(r["allowed"] for r in rows),
        "worktree": wt.name,
        "mode": wt.enforcement_mode,
        "lease_id": ctx.lease.id if ctx.lease is not None else None,
        "paths": rows,
    }


def judge_for(mode: str, ctx: OwnershipContext, merged: frozenset[str] = frozenset()) -> Callable[..., Decision]:
    """The judgement a worktree's mode selects: SPEC §4's, or the integrator's (SPEC §13).

    Called as `judge(path, blob=None)`: the blob lets a completed task's leftover cover the
    content it had when the task finished (the integrator ignores leftovers: it needs no lease).
    """
    if mode == "integrator":
        return lambda path, blob=None: judge_integrator(ctx, path, merged)
    return ctx.judge


def gate_judge(
    db: Reader, mode: str, ctx: OwnershipContext, root: str, env: Mapping[str, str] | None, heads: list[str]
) -> Callable[..., Decision]:
    """The commit gate's judgement: in an integrator worktree concluding a merge, the worktrees
    whose branch is being merged may have their held paths resolved here."""
    if mode != "integrator" or not heads:
        return judge_for(mode, ctx)
    return judge_for(mode, ctx, merged_worktrees(db, root, env, heads, ctx.worktree))


def merged_worktrees(db: Reader, root: str, env: Mapping[str, str] | None, heads: list[str], own: str) -> frozenset[str]:
    """Registered worktrees whose branch contains a merge head (MERGE_HEAD is its tip, or was)."""
    found = set()
    for wt in wtstore.list_all(db):
        if wt.name == own or not wt.branch:
            continue
        for head in heads:
            res = run_git(["merge-base", "--is-ancestor", head, f"refs/heads/{wt.branch}"], root, env=env, check=False)
            if res.returncode == 0:
                found.add(wt.name)
                break
    return frozenset(found)
