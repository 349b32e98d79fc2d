"""`monitor`: observe every registered worktree, and quarantine unowned writes (SPEC §1, §5, §7).

One pass, per worktree whose directory exists:

1. one `git status` (env stripped: we run git against *another* worktree) gives the changed set;
   only changed files are hashed;
2. one write transaction diffs it against the worktree's snapshot (the first pass only baselines),
   appends one `write_observed` row per newly changed path with its ownership decision, and stores
   the recomputed compliance state;
3. quarantine (strict mode, or `--quarantine`) of the *newly* changed unowned paths: an untracked
   file is moved to `<state dir>/quarantine/<UTC ts>/<worktree>/<path>`; a modified tracked file is
   copied there (fsynced, copy's blob id checked) and then restored from the index; a deleted
   tracked file is restored from the index. Then a second transaction appends `write_quarantined`
   rows, updates the snapshot for those paths and the compliance state.

Filesystem effects happen between the transactions, never inside one (a transaction may be
retried). The rule throughout is that no byte the user wrote is ever lost: the worktree file is
only removed or replaced after an identical, fsynced copy exists in the quarantine, and anything
unexpected (the file changed meanwhile, a symlinked directory on the path, an I/O error) leaves
the file where it is and reports why.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import fingerprints
from . import policy as policymod
from .errors import SwitchmanError
from .fingerprints import Change
from .gates.common import compliance_for, held_bypass, record_observations
from .ops.agents import judge_for
from .ops.claims import load_context
from .ownership import Decision, blobs_of
from .policy import stale_minutes
from .quarantine import Outcome, differs_from_head, message, quarantine_all
from .repo import git_env
from .store import leases as leasemod
from .store import snapshots
from .store import worktrees as wtmod
from .store.base import Store, Tx
from .timeutil import now_iso

QUARANTINE_DIR = "quarantine"
SOURCE = "monitor"


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    file: str
    reason_code: str
    allowed: bool


@dataclass(frozen=True)
class Quarantined:
    file: str
    quarantine_path: str | None  # None when a deleted tracked file was restored (nothing to keep)
    action: str  # moved | restored


@dataclass(frozen=True)
class WorktreeReport:
    name: str
    path: str
    mode: str
    compliance_state: str
    changed_files: list[str]
    observed: list[Observation]
    quarantined: list[Quarantined]
    warnings: list[str]
    baselined: bool = False
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    name: str
    path: str
    reason: str


@dataclass(frozen=True)
class MonitorResult:
    ok: bool  # False only when a quarantine action failed
    worktrees: list[WorktreeReport]
    skipped: list[Skipped]
    summary: str

    def to_json(self) -> dict[str, Any]:
        from .models import to_dict

        return to_dict(self)  # type: ignore[no-any-return]


# --- one pass ----------------------------------------------------------------------------------


def monitor_once(store: Store, *, quarantine: bool = False, names: Iterable[str] | None = None) -> MonitorResult:
    """Observe every registered worktree on this machine whose directory exists (or only `names`).

    Another machine's worktrees (a shared store) are not looked at: their paths mean nothing here."""
    pol = policymod.load(store.state_dir)
    window = stale_minutes(store.state_dir)
    env = git_env(for_other_worktree=True)
    wanted = set(names) if names is not None else None
    stamp = _stamp()
    reports: list[WorktreeReport] = []
    skipped: list[Skipped] = []
    for wt in wtmod.local(store):
        if wanted is not None and wt.name not in wanted:
            continue
        if not os.path.isdir(wt.path):
            skipped.append(Skipped(wt.name, wt.path, "directory missing"))
            continue
        try:
            changes = fingerprints.worktree_changes(wt.path, env)
        except (SwitchmanError, OSError) as exc:
            skipped.append(Skipped(wt.name, wt.path, f"git status failed: {message(exc)}"))
            continue
        reports.append(
            _one_worktree(
                store,
                wt,
                changes,
                env=env,
                window=window,
                generated=pol.allowed_generated_paths,
                quarantine=quarantine or wt.enforcement_mode == "strict",
                dest_root=os.path.join(store.state_dir, QUARANTINE_DIR, stamp, _safe_name(wt.name)),
            )
        )
    ok = not any(r.failures for r in reports)
    return MonitorResult(ok, reports, skipped, _summary(reports, skipped))


@dataclass(frozen=True)
class _Seen:
    baselined: bool
    newly: list[Change]
    decisions: dict[str, Decision]
    violations: list[str]
    compliance: str


def _one_worktree(
    store: Store,
    wt: Any,
    changes: list[Change],
    *,
    env: Mapping[str, str],
    window: float,
    generated: Iterable[str],
    quarantine: bool,
    dest_root: str,
) -> WorktreeReport:
    paths = list(dict.fromkeys(c.path for c in changes))
    open_bypass = held_bypass(store, wt.name, wt.path, env)  # SPEC §10: stays non_compliant

    def observe(tx: Tx) -> _Seen:
        baselined = not snapshots.has_baseline(tx, wt.name)
        ctx = load_context(tx, wt.name, paths, stale_minutes=window, generated_globs=generated)
        blobs = blobs_of(changes)  # a leftover covers only the content it had at `task done`
        judge = judge_for(wt.enforcement_mode, ctx)  # an integrator worktree needs no lease (SPEC §13)
        decisions = {p: judge(p, blobs.get(p)) for p in paths}
        newly = snapshots.diff_snapshot(tx, wt.name, changes, complete=True)
        lease = leasemod.active_for_worktree(tx, wt.name, window)
        record_observations(tx, wt.name, lease, newly, decisions.__getitem__, SOURCE)
        violations = [p for p in paths if not decisions[p].allowed]
        state = compliance_for(lease, len(violations), open_bypass)
        wtmod.set_compliance(tx, wt.name, state)
        return _Seen(baselined, newly, decisions, violations, state)

    seen = store.write(observe)
    observed = [Observation(c.path, seen.decisions[c.path].reason_code, seen.decisions[c.path].allowed) for c in seen.newly]
    warnings: list[str] = []
    outcomes: list[Outcome] = []
    state = seen.compliance
    candidates = [c for c in seen.newly if not seen.decisions[c.path].allowed] if quarantine else []
    if candidates:
        with _sigint_deferred():
            outcomes = quarantine_all(wt.path, candidates, seen.decisions, env=env, dest_root=dest_root, state_dir=store.state_dir)
            state = _record(store, wt.name, wt.path, outcomes, seen.violations, env=env, window=window)
        warnings += [o.warning for o in outcomes if o.warning]
    return WorktreeReport(
        name=wt.name,
        path=wt.path,
        mode=wt.enforcement_mode,
        compliance_state=state,
        changed_files=paths,
        observed=observed,
        quarantined=[Quarantined(o.change.path, o.quarantine_path, o.action) for o in outcomes if o.action],
        warnings=warnings,
        baselined=seen.baselined,
        failures=[o.failure for o in outcomes if o.failure],
    )


def _record(
    store: Store,
    name: str,
    root: str,
    outcomes: list[Outcome],
    violations: list[str],
    *,
    env: Mapping[str, str],
    window: float,
) -> str:
    """Second transaction: `write_quarantined` rows, snapshot of the touched paths, compliance."""
    done = [o for o in outcomes if o.action]
    restored = [o.change.path for o in done if o.action == "restored"]
    still_staged: dict[str, str] = {}
    if restored:
        # If git cannot say, the paths are dropped from the snapshot; a staged leftover then shows
        # up once more as a new observation next pass, which is harmless.
        with contextlib.suppress(SwitchmanError, OSError):
            still_staged = differs_from_head(root, restored, env)

    open_bypass = held_bypass(store, name, root, env)

    def fn(tx: Tx) -> str:
        lease = leasemod.active_for_worktree(tx, name, window)
        cleared: set[str] = set()
        for o in done:
            tx.audit(
                "write_quarantined",
                "denied",
                reason_code=o.decision.reason_code,
                worktree=name,
                task_id=lease.task_id if lease else None,
                lease_id=lease.id if lease else None,
                file_path=o.change.path,
                details={"quarantine_path": o.quarantine_path, "fingerprint": o.fingerprint, "action": o.action},
            )
            path = o.change.path
            if o.action == "restored" and path in still_staged:
                # The worktree now equals the index, which still differs from HEAD: exactly what
                # the next `git status` reports as a staged change with the index blob id.
                index_id = still_staged[path]
                snapshots.diff_snapshot(tx, name, [Change(path, index_id, "staged")], complete=False)
            else:
                snapshots.forget(tx, name, [path])
                cleared.add(path)
        remaining = [p for p in violations if p not in cleared]
        state = compliance_for(lease, len(remaining), open_bypass)
        wtmod.set_compliance(tx, name, state)
        return state

    return store.write(fn)


def _stamp() -> str:
    """`20261124T183300.123Z`: UTC, filesystem-safe, sorts by time."""
    return now_iso().replace("-", "").replace(":", "")


def _safe_name(name: str) -> str:
    cleaned = name.replace(os.sep, "_").replace("\0", "_")
    return cleaned if cleaned not in ("", ".", "..") else f"_{cleaned}"


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Ctrl-C waits until the file moves and their audit rows are done (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
        if pending:
            raise KeyboardInterrupt


def _summary(reports: list[WorktreeReport], skipped: list[Skipped]) -> str:
    new = sum(len(r.observed) for r in reports)
    denied = sum(1 for r in reports for o in r.observed if not o.allowed)
    moved = sum(len(r.quarantined) for r in reports)
    failed = sum(len(r.failures) for r in reports)
    text = f"{len(reports)} worktree(s) observed: {new} new change(s), {denied} denied, {moved} quarantined"
    if failed:
        text += f", {failed} quarantine failure(s)"
    if skipped:
        text += f"; {len(skipped)} skipped"
    return text
