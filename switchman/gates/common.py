"""What every gate shares: its result records, worktree identity, compliance, observations.

A gate gathers from git, judges (pure, over an OwnershipContext) and records in one write
transaction; these are the pieces more than one gate (and `monitor`) uses for that.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .. import audit, reasons
from .. import policy as policymod
from ..errors import EnvironmentProblem
from ..fingerprints import Change
from ..ops import worktrees as wtops
from ..ownership import Decision, OwnershipContext, fix_for
from ..policy import stale_minutes as stale_minutes  # the gates' one window (policy.stale_minutes)
from ..records import Record, factory
from ..repo import GitResult, RepoPaths, list_worktrees, run_git
from ..store import gate_runs as runstore
from ..store import leases as leasemod
from ..store import worktrees as wtmod
from ..store.sqlite import Store, Tx


class Violation(Record):
    file: str
    reason_code: str
    holder: dict[str, Any] | None = None
    fix: str = ""


class GateResult(Record):
    ok: bool
    gate: str
    worktree: str | None
    mode: str
    lease_id: str | None
    compliance_state: str | None
    staged_files: list[str]
    changed_files: list[str]
    violations: list[Violation]
    warnings: list[str]
    summary: str
    audit_sequence: int | None = None
    commits: list[dict[str, Any]] = factory(list)


def record_observations(
    tx: Tx, worktree: str, lease: Any, newly: list[Change], judge: Any, source: str
) -> list[audit.AuditRow]:
    """One `write_observed` row per newly changed path, with its ownership decision, in one batch.

    Shared by the commit gate and `monitor`; `judge(path)` returns the path's Decision.
    """
    events = []
    for ch in newly:
        d = judge(ch.path)
        events.append(
            {
                "event_type": "write_observed",
                "status": "allowed" if d.allowed else "denied",
                "reason_code": d.reason_code,
                "worktree": worktree,
                "task_id": lease.task_id if lease else None,
                "lease_id": lease.id if lease else None,
                "file_path": ch.path,
                "details": {"fingerprint": ch.fingerprint, "kind": ch.kind, "source": source},
            }
        )
    return tx.audit_many(events)


def resolve_worktree(paths: RepoPaths, store: Store) -> Any:
    """The registered worktree git is committing in; auto-registered when git knows it.

    Identity is the worktree whose git dir git works in (`paths.worktree`, read from the git
    dir's files), not the top level a `--work-tree` flag or GIT_WORK_TREE points at (SPEC §10).
    """
    if paths.toplevel is None:
        raise EnvironmentProblem(
            "gates run inside a worktree, not a bare repository", "run from a checkout", code="worktree_mismatch"
        )
    path = paths.worktree
    if path is None:
        raise EnvironmentProblem(
            f"no worktree of the repository at {paths.root} owns the git dir {paths.git_dir}",
            "run `git worktree repair` in the worktree, then retry",
            code="worktree_mismatch",
        )
    wt = wtmod.by_path(store, path)
    if wt is not None:
        return wt
    known = {w.path: w for w in list_worktrees(path)}
    gwt = known.get(os.path.realpath(path))
    if gwt is None:
        raise EnvironmentProblem(
            f"{path} is not a worktree of the repository at {paths.root}",
            "run the gate from one of `git worktree list`",
            code="worktree_mismatch",
        )
    mode = policymod.load(store.state_dir).default_mode
    row, _ = store.write(
        lambda tx: wtops.register(tx, gwt.path, gwt.branch, is_main=paths.is_main_worktree, mode=mode)
    )
    return row


def held_bypass(db: Any, worktree: str, cwd: str, env: Mapping[str, str] | None) -> bool:
    """A commit this worktree made past the gate is still on a local branch (SPEC §10): the
    worktree stays non_compliant. One indexed read; git only when there are bypass rows."""
    from .signed import any_in_branches

    held = [r["commit_id"] for r in runstore.bypassed(db, worktree)]
    return any_in_branches(cwd, env, held) if held else False


def compliance_for(lease: leasemod.Lease | None, violations: int, open_bypass: bool = False) -> str:
    """`open_bypass`: a commit of this worktree that bypassed the gate is still on a branch."""
    if lease is not None and lease.stale:
        return "stale"
    if violations or open_bypass:
        return "non_compliant"
    if lease is not None:
        return "managed"
    return "observed"


def path_violation(d: Decision, worktree: str, ctx: OwnershipContext) -> Violation:
    return Violation(d.file, d.reason_code, d.holder, fix_for(d, worktree, ctx.lease))


def violation(file: str, code: str, holder: dict[str, Any] | None = None, **values: object) -> Violation:
    """A refusal carrying the reason table's fix for `code`, filled with `values`."""
    return Violation(file, code, holder, reasons.fix(code, **values))


def audit_status(ok: bool, violations: int) -> str:
    if not ok:
        return "denied"
    return "warn" if violations else "allowed"


def summary_line(gate: str, ok: bool, mode: str, count: int, violations: list[Violation], noun: str = "path(s)") -> str:
    if not violations:
        return f"{gate} gate passed ({mode}): {count} {noun} judged"
    verdict = "refused" if not ok else "allowed with warnings"
    return f"{gate} gate {verdict} ({mode}): {len(violations)} violation(s) in {count} {noun} judged"


def write_tree(cwd: str, env: Mapping[str, str] | None) -> str | None:
    return tree_of(run_git(["write-tree"], cwd, env=env, check=False))


def tree_of(proc: GitResult) -> str | None:
    return proc.stdout.decode().strip() or None if proc.returncode == 0 else None


def provenance(db: Any, commit: str) -> dict[str, Any] | None:
    """The commit_provenance row (an index: gates/signed.py checks the signed row it names)."""
    return runstore.provenance(db, commit)


def incoming_commits(root: str, env: Mapping[str, str] | None, heads: list[str]) -> list[str]:
    if not heads:
        return []
    return run_git(["rev-list", *heads, "--not", "HEAD"], root, env=env).stdout.decode().split()
