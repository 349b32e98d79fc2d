"""`doctor`: is this repo actually protected? Every check of SPEC §8, each with the fix.

`CHECKS` lists them in report order; each entry names the function that runs it and the ids it
may report. Read-only by design: the store is opened `mode=ro` (no migration, no audit row) and
git is asked only read-only questions. `apply_fixes` (`doctor --fix`) applies only the safe
fixes: reinstall hooks, chmod 600 the key, add the exclude line. Nothing here prints or exits.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import BadInput, SwitchmanError
from ..install import install
from ..repo import RepoPaths, locate
from ..state import ensure_excluded
from ..store import sqlite_audit
from . import (
    hook_checks,
    probe,
    provenance_check,
    receipt_checks,
    runtime_checks,
    server_checks,
    store_checks,
    work_checks,
)
from .context import Check, Ctx, check


@dataclass(frozen=True)
class Report:
    root: str | None
    checks: tuple[Check, ...]
    fixed: tuple[str, ...] = ()
    fix_requested: bool = False

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    @property
    def health(self) -> str:
        if not self.ok:
            return "blocked"
        return "attention" if any(c.status == "warn" for c in self.checks) else "healthy"

    def get(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "health": self.health,
            "checks": [{"id": c.id, "status": c.status, "detail": c.detail, "fix": c.fix} for c in self.checks],
        }
        if self.fix_requested:
            data["fixed"] = list(self.fixed)
        return data


class Entry:
    """One row of CHECKS: the function that runs a check and the ids it may report, in order.

    `needs`: "" (always), "state_dir" (the state dir exists), "store" (the store could be opened).
    """

    __slots__ = ("id", "fn", "yields", "needs")

    def __init__(self, id: str, fn: Callable[[Ctx], Iterator[Check]], yields: tuple[str, ...] = (), needs: str = "") -> None:
        self.id, self.fn, self.yields, self.needs = id, fn, yields or (id,), needs


def _git(c: Ctx) -> Iterator[Check]:
    yield c.git_version or store_checks.git_check()


# Report order is table order (README table: `doctor` checks).
CHECKS: tuple[Entry, ...] = (
    Entry("git", _git),
    Entry("state_dir", store_checks.state_checks, ("state_dir", "server", "schema", "integrity")),
    Entry("key", store_checks.key_checks, ("key", "key_mode", "key_tracked", "key_history", "excluded"), needs="state_dir"),
    Entry("server_key", server_checks.server_key_check, needs="state_dir"),
    Entry("audit_chain", store_checks.audit_chain_check, needs="store"),
    Entry("checkpoint", store_checks.checkpoint_check, needs="store"),
    Entry("provenance", provenance_check.provenance_check, needs="store"),
    Entry("hook_failures", hook_checks.hook_failures_check, needs="store"),
    Entry("policy", store_checks.policy_check, needs="store"),
    Entry("hooks_path", hook_checks.hooks_path_check),
    Entry("hooks_installed", hook_checks.installed_checks, ("hooks_installed", "hooks_executable", "hooks_interpreter", "hooks_chained")),
    Entry("precommit_framework", hook_checks.framework_check),
    Entry("hooks_fire", probe.fire_check, needs="store"),
    Entry("spool", runtime_checks.spool_check, needs="state_dir"),
    Entry("helper", runtime_checks.helper_check),
    Entry("worktrees", work_checks.worktrees_check, needs="store"),
    Entry("stale_leases", work_checks.stale_check, needs="store"),
    Entry("orphaned_leases", work_checks.orphan_check, needs="store"),
    Entry("non_compliant", work_checks.noncompliant_check, needs="store"),
    Entry("validations", work_checks.validation_check, needs="store"),
    Entry("invalidations", work_checks.invalidation_check, needs="store"),
    Entry("receipts", receipt_checks.receipts_check, needs="store"),
    Entry("weakening", work_checks.weakening_check, needs="store"),
)
CHECK_IDS: tuple[str, ...] = tuple(cid for entry in CHECKS for cid in entry.yields)


def _runs(entry: Entry, c: Ctx) -> bool:
    if entry.needs == "state_dir":
        return os.path.isdir(c.state_dir)
    if entry.needs == "store":
        return c.conn is not None
    return True


def _guard(entry: Entry, c: Ctx) -> list[Check]:
    """A check that cannot run reports that, instead of taking the whole doctor down."""
    try:
        checks = list(entry.fn(c))
    except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
        msg = exc.message if isinstance(exc, SwitchmanError) else f"{type(exc).__name__}: {exc}"
        return [check(entry.id, "fail", f"could not check: {msg}", "switchman-hook doctor  # rerun with SWITCHMAN_DEBUG=1")]
    assert all(ch.id in entry.yields for ch in checks), (entry.id, [ch.id for ch in checks])
    return checks


def diagnose(paths: RepoPaths, git: Check | None = None) -> Report:
    """Run every check, read-only, in table order (`git`: the git check already run)."""
    checks: list[Check] = []
    c = Ctx(paths)
    c.git_version = git
    try:
        for entry in CHECKS:
            if _runs(entry, c):
                checks += _guard(entry, c)
    finally:
        c.close()
    order = {cid: i for i, cid in enumerate(CHECK_IDS)}
    checks.sort(key=lambda ch: order[ch.id])
    return Report(paths.root, tuple(checks))


def apply_fixes(paths: RepoPaths, report: Report) -> list[str]:
    """The safe fixes only: reinstall hooks, chmod 600 the key, add the exclude line."""
    done: list[str] = []
    failing = {c.id for c in report.checks if c.status != "ok"}
    kpath = sqlite_audit.key_path(paths.state_dir)
    if "key_mode" in failing and os.path.isfile(kpath):
        os.chmod(kpath, 0o600)
        done.append(f"chmod 600 {kpath}")
    if "excluded" in failing and ensure_excluded(paths):
        done.append(f"added /.switchman/ to {os.path.join(paths.common_dir, 'info', 'exclude')}")
    hook_ids = {"hooks_installed", "hooks_executable", "hooks_interpreter", "hooks_fire"}
    if failing & hook_ids and not hook_checks.framework_only(Ctx(paths)):
        try:
            result = install(paths)
        except SwitchmanError as exc:
            done.append(f"did not reinstall hooks: {exc.message}")
        else:
            changed = [f"{h.name} {h.action}" for h in result.hooks if h.action not in ("unchanged",)]
            done.append(f"reinstalled hooks in {result.hooks_dir} with {result.interpreter}: {', '.join(changed) or 'nothing to change'}")
    return done


def _finish_hook_work(paths: RepoPaths) -> None:
    """Do what the hooks leave for later, so the checks judge today's record: record spooled
    commits (switchman.spool) and write the receipts recent recorded commits lack (from the
    signed rows; the store is only read for that). A store that cannot be opened is what the
    checks below report."""
    from .. import spool
    from ..gates.spooled import backfill_receipts, drain_pending
    from ..state import open_store
    from ..store import gate_runs, postgres_config
    from ..store.sqlite import open_read_only

    if not os.path.isdir(paths.state_dir):
        return
    if spool.pending(paths.common_dir):  # opening for writes migrates an old schema: only then
        try:
            store = open_store(paths)
            try:
                drain_pending(paths, store)
            finally:
                store.close()
        except SwitchmanError:
            return
    try:
        pg = postgres_config.selected(paths.state_dir) is not None
        store = open_store(paths) if pg else open_read_only(paths.state_dir)
    except Exception:  # noqa: BLE001 - the store checks say what is wrong with it
        return
    try:
        backfill_receipts(paths, store, gate_runs.recent_commits(store, receipt_checks.RECENT))
    except Exception:  # noqa: BLE001 - the receipts check reports what is still missing
        pass
    finally:
        store.close()


def run(cwd: str | None = None, *, fix: bool = False) -> Report:
    """`doctor [--fix]` for the repo containing `cwd`. Not a git repo → the locate error (exit 3)."""
    git = store_checks.git_check()
    if git.status == "fail":
        return Report(None, (git,), fix_requested=fix)
    if cwd is not None and not os.path.isdir(cwd):
        raise BadInput(f"-C {cwd}: no such directory", "pass an existing directory")
    paths = locate(cwd)
    _finish_hook_work(paths)
    report = diagnose(paths, git)
    if fix:
        done = apply_fixes(paths, report)
        report = diagnose(locate(cwd), git) if done else report
        report = Report(report.root, report.checks, tuple(done), True)
    return report
