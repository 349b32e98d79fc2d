"""Helpers for the gate tests: real repos with the hooks installed and agents holding leases.

Everything here drives real git (`git commit`, `merge`, `push` to a local bare remote) so the
installed hook scripts run exactly as they do for an agent; assertions read the audit trail
through the CLI (`audit list --json`).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchman.install import install
from switchman.repo import locate

from .cli import Cli
from .git import git, write

# The SPEC §5 gate JSON keys, exactly.
GATE_KEYS = {
    "ok",
    "gate",
    "worktree",
    "mode",
    "lease_id",
    "compliance_state",
    "staged_files",
    "changed_files",
    "violations",
    "warnings",
    "summary",
}


@dataclass
class Git:
    """A finished git command."""

    code: int
    out: str
    err: str


def run_git(cwd: Path | str, *args: str | bytes, env: dict[str, str] | None = None, input: bytes | None = None) -> Git:
    """git with its exit code (hooks may refuse); stderr kept for the hook's message."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input, env={**os.environ, **(env or {})})
    return Git(proc.returncode, proc.stdout.decode(errors="surrogateescape"), proc.stderr.decode(errors="surrogateescape"))


def commit(cwd: Path | str, message: str = "change", *args: str | bytes, env: dict[str, str] | None = None) -> Git:
    res = run_git(cwd, "commit", "-q", "-m", message, *args, env=env)
    assert "Traceback" not in res.err, res.err
    return res


def settle(cwd: Path | str) -> int:
    """Record what the sh post-commit spooled, as the next switchman hook or command would.

    For tests that read the store or the notes directly (not through a command, which drains by
    itself). A helper's child writes receipts just after answering git; the test does not wait
    for that race: missing receipts of recorded commits are written here (identical lines, as
    the push gate would). Returns how many commits were recorded; 0 outside a managed repository.
    """
    from switchman.gates.spooled import backfill_receipts, drain_pending
    from switchman.state import open_store
    from switchman.store import gate_runs

    paths = locate(str(cwd))
    if not os.path.isdir(paths.state_dir):
        return 0
    store = open_store(paths)
    try:
        n = drain_pending(paths, store)
        backfill_receipts(paths, store, gate_runs.recent_commits(store, 10_000))
        return n
    finally:
        store.close()


def head(cwd: Path | str, rev: str = "HEAD") -> str:
    return git(cwd, "rev-parse", rev).strip()


def install_hooks(root: Path) -> None:
    install(locate(str(root)))


@dataclass
class Env:
    """The main worktree, two agents' linked worktrees with hooks installed, and the CLI."""

    root: Path
    a: Path
    b: Path
    cli: Cli

    # -- state ------------------------------------------------------------------------------

    def mode(self, worktree: str, mode: str) -> None:
        self.cli.ok("worktree", "mode", worktree, mode)

    def task(self, title: str = "task", *, spec: dict[str, Any] | None = None, task_id: str | None = None) -> str:
        args = ["task", "add", title]
        if task_id:
            args += ["--id", task_id]
        res = self.cli.ok(*args)
        tid = res.out.strip().splitlines()[-1]
        if spec is not None:
            self.cli.ok("task", "spec", tid, "--json-text", json.dumps(spec))
        return tid

    def lease(self, worktree: str, *claims: str, spec: dict[str, Any] | None = None, title: str = "task") -> tuple[str, str]:
        """A task leased to `worktree`, holding `claims`. Returns (task id, lease id)."""
        tid = self.task(title, spec=spec)
        data = self.cli.json("lease", "acquire", tid, worktree)
        if claims:
            self.cli.ok("claim", tid, worktree, *claims)
        return tid, data["lease"]["id"]

    def events(self, event_type: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        args = ["audit", "list", "--limit", str(limit)]
        if event_type:
            args += ["--event-type", event_type]
        return self.cli.json(*args)["events"]

    def last(self, event_type: str) -> dict[str, Any]:
        rows = self.events(event_type, limit=1)
        assert rows, f"no {event_type} event"
        row = rows[0]
        row["details"] = json.loads(row["details"]) if row["details"] else None
        return row

    def count(self, event_type: str) -> int:
        return len(self.events(event_type, limit=10_000))

    def worktree(self, name: str) -> dict[str, Any]:
        rows = {w["name"]: w for w in self.cli.json("worktree", "list")["worktrees"]}
        return rows[name]

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        """Edit the store directly (setup, or tampering), on whichever backend it is."""
        from .db import execute

        settle(self.root)  # edit what a command would see: spooled commits recorded first
        execute(self.root, statement, params)

    def scalar(self, statement: str, params: tuple[Any, ...] = ()) -> Any:
        """The first column of the first row, read directly from the store."""
        from .db import scalar

        settle(self.root)  # read what a command would read: spooled commits recorded first
        return scalar(self.root, statement, params)

    # -- git --------------------------------------------------------------------------------

    def change(self, wt: Path, rel: str, text: str = "changed\n", *, stage: bool = True) -> None:
        write(wt / rel, text)
        if stage:
            git(wt, "add", "--", rel)

    def remote(self) -> Path:
        """A bare remote `origin` shared by every worktree."""
        bare = self.root.parent / "remote.git"
        if not bare.exists():
            git(self.root.parent, "init", "-q", "--bare", str(bare))
            git(self.root, "remote", "add", "origin", str(bare))
        return bare


def age_lease(env: Env, lease_id: str, minutes: int = 60) -> None:
    """Make a lease stale by moving its heartbeat into the past."""
    import datetime as dt

    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)
    env.sql("UPDATE leases SET heartbeat_at = ? WHERE id = ?", (past.strftime("%Y-%m-%dT%H:%M:%S.000Z"), lease_id))
