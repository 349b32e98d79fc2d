"""What every doctor check shares: the `Check` record, its constructor, and `Ctx`, the facts
several checks need, gathered read-only once (the store opened `mode=ro`, git status, hooks)."""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

from .. import policy as policymod
from ..errors import EnvironmentProblem, SwitchmanError
from ..install import HooksStatus, hook_status
from ..repo import GitWorktree, RepoPaths, git_env, list_worktrees, run_git
from ..store import postgres_config, worktrees
from ..store.sqlite import DB_FILE, has_table, open_read_only
from ..trail import Trail

PROBE_TIMEOUT = 60
FRAMEWORK_CONFIG = ".pre-commit-config.yaml"
# pre-commit framework hook ids (SPEC §7, .pre-commit-hooks.yaml) and the git hooks each serves;
# the first is the one it cannot work without (gate: pre-commit, record: post-commit).
FRAMEWORK_IDS = {
    "switchman-gate": ("pre-commit", "pre-merge-commit"),
    "switchman-record": ("post-commit", "post-checkout", "post-merge", "post-rewrite"),
    "switchman-push-gate": ("pre-push",),
}
STATUSES = ("ok", "warn", "fail")
MAX_LISTED = 5


@dataclass(frozen=True)
class Check:
    id: str
    status: str  # ok | warn | fail
    detail: str  # one line
    fix: str = ""  # the exact command that fixes it, or ""


def one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def listed(items: list[str], limit: int = MAX_LISTED) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", … {len(items) - limit} more" if len(items) > limit else "")


def check(check_id: str, status: str, detail: str, fix: str = "") -> Check:
    assert status in STATUSES, (check_id, status)
    return Check(check_id, status, one_line(detail), one_line(fix, 600) if fix else "")


q = shlex.quote


class Ctx:
    """Everything several checks share, gathered read-only once and lazily."""

    def __init__(self, paths: RepoPaths) -> None:
        self.paths = paths
        self.root = paths.root
        self.state_dir = paths.state_dir
        self.db_path = os.path.join(self.state_dir, DB_FILE)
        self.conn: Any = None  # the store's DB-API connection (PostgreSQL: translated), once open
        self.store: Any = None
        self.db_error: str | None = None
        # The team backend (SPEC §12): which server, when this clone uses one.
        self.pg: postgres_config.Selected | None = None
        self.pg_error: SwitchmanError | None = None  # store.json unreadable, or the server's answer
        self.server_facts: Any = None  # postgres_health.ServerFacts, once the server answered
        try:
            self.pg = postgres_config.selected(self.state_dir)
        except SwitchmanError as exc:
            self.pg_error = exc
        self.env = git_env(for_other_worktree=True)
        self._hooks: HooksStatus | None = None
        self._git_wts: list[GitWorktree] | None = None
        self._interp_info: dict[str, dict[str, Any]] = {}
        self._framework: tuple[list[str], str | None] | None = None
        self.git_version: Check | None = None  # the git check, when the caller ran it already
        self.trail: Trail | None = None  # the audit trail's verdict, for audit_chain and checkpoint

    # store --------------------------------------------------------------------------------
    @property
    def server(self) -> str:
        """The PostgreSQL server as we print it (no password)."""
        return postgres_config.redact(self.pg.url) if self.pg is not None else ""

    def open_store(self) -> None:
        if self.pg is not None:
            self._open_server()
            return
        if not os.path.isfile(self.db_path):
            return
        try:
            store = open_read_only(self.state_dir)
        except sqlite3.DatabaseError as exc:
            self.db_error = str(exc)
            return
        self.conn = store.conn
        self.store = store

    def _open_server(self) -> None:
        """Open the server store as a command would, without the schema check (reported instead)."""
        assert self.pg is not None
        if self.pg.repo_id is None:
            self.pg_error = EnvironmentProblem(
                f"{self.server} is selected but this repository has not joined it",
                f"switchman-hook init --store {q(self.server)}",
                code="not_initialised",
            )
            return
        from ..store import postgres

        try:
            store = postgres.Store.open(self.state_dir, self.pg.url, self.pg.repo_id, check_schema=False)
        except SwitchmanError as exc:
            self.pg_error = exc
            return
        self.store, self.conn = store, store.conn

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        elif self.conn is not None:
            self.conn.close()
        self.conn = None
        self.store = None

    def has_table(self, name: str) -> bool:
        assert self.conn is not None
        if self.pg is not None:
            from ..store import postgres_health

            return postgres_health.has_table(self.store, name)
        return has_table(self.conn, name)

    # git ----------------------------------------------------------------------------------
    def git(self, args: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return run_git(args, cwd or self.root, env=env or self.env, check=False)

    @property
    def hooks(self) -> HooksStatus:
        if self._hooks is None:
            self._hooks = hook_status(self.paths)
        return self._hooks

    @property
    def git_worktrees(self) -> list[GitWorktree]:
        if self._git_wts is None:
            cwd = self.paths.common_dir if self.paths.is_bare else self.root
            self._git_wts = list_worktrees(cwd)
        return self._git_wts

    def live_worktrees(self) -> list[GitWorktree]:
        return [w for w in self.git_worktrees if not w.bare and w.path and os.path.isdir(w.path)]

    def registered(self) -> list[dict[str, Any]]:
        """This machine's registered worktrees (on a shared store the others' paths mean nothing here)."""
        if self.store is None or not self.has_table("worktrees"):
            return []
        return worktrees.local_rows(self.store)

    def registered_names(self) -> set[str]:
        """Every registered worktree name, on every machine."""
        if self.store is None or not self.has_table("worktrees"):
            return set()
        return {r["name"] for r in worktrees.rows(self.store)}

    def stale_window(self) -> float:
        """policy.stale_minutes; a broken policy is the policy check's to report, so the default here."""
        try:
            return policymod.stale_minutes(self.state_dir)
        except SwitchmanError:
            return policymod.DEFAULT_STALE_MINUTES

    # the pre-commit framework -----------------------------------------------------------
    @property
    def framework_ids(self) -> list[str]:
        """Which switchman hook ids `.pre-commit-config.yaml` (main worktree) uses."""
        return self._load_framework()[0]

    @property
    def framework_config(self) -> str | None:
        return self._load_framework()[1]

    def _load_framework(self) -> tuple[list[str], str | None]:
        if self._framework is None:
            self._framework = ([], None)
            if not self.paths.is_bare:
                path = os.path.join(self.root, FRAMEWORK_CONFIG)
                try:
                    with open(path, encoding="utf-8", errors="replace") as fh:
                        text = fh.read()
                except OSError:
                    return self._framework
                found = re.findall(r"""^\s*-?\s*id\s*:\s*['"]?(switchman-[A-Za-z-]+)""", text, re.M)
                self._framework = (sorted({i for i in found if i in FRAMEWORK_IDS}), path)
        return self._framework

    # interpreters -------------------------------------------------------------------------
    def interpreter(self, interp: str) -> dict[str, Any]:
        """Can `interp` import switchman.hookrun the way the hook script does (-E, no cwd)?"""
        if interp not in self._interp_info:
            self._interp_info[interp] = inspect_interpreter(interp)
        return self._interp_info[interp]


_INTERP_CODE = (
    "import sys, json; sys.path[:1] = [] if sys.path[:1] == [''] else sys.path[:1]\n"
    "import switchman, switchman.hookrun as h\n"
    "print(json.dumps({'version': getattr(switchman, '__version__', None), 'file': switchman.__file__,"
    " 'probe': getattr(h, 'PROBE_ENV', None)}))"
)


def inspect_interpreter(interp: str) -> dict[str, Any]:
    if not interp or not (os.path.isfile(interp) and os.access(interp, os.X_OK)):
        return {"ok": False, "error": "does not exist or is not executable"}
    with tempfile.TemporaryDirectory(prefix="switchman-doctor-") as tmp:
        try:
            proc = subprocess.run(
                [interp, "-E", "-c", _INTERP_CODE],
                cwd=tmp,
                capture_output=True,
                timeout=PROBE_TIMEOUT,
                stdin=subprocess.DEVNULL,
                env=git_env(for_other_worktree=True),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return {"ok": False, "error": f"cannot run: {exc}"}
    if proc.returncode != 0:
        err = os.fsdecode(proc.stderr).strip().splitlines()
        return {"ok": False, "error": f"cannot import switchman.hookrun ({err[-1] if err else f'exit {proc.returncode}'})"}
    try:
        info = json.loads(os.fsdecode(proc.stdout).strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": "imported switchman.hookrun but answered nonsense"}
    return {"ok": True, **info}
