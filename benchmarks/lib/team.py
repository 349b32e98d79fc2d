"""The team backend's fixtures (SPEC §12): one PostgreSQL cluster started for the run, and clones of
one origin repository, each on its own machine (SWITCHMAN_MACHINE_ID, HOME), on SQLite or on the
server over its unix socket or over TCP loopback.

The cluster is `testing.pg.start_cluster` (the test suite's throwaway server) with PostgreSQL's
durable defaults put back (fsync, synchronous_commit, full_page_writes on): a team server runs
that way. SQLite runs as switchman-hook opens it (WAL, synchronous=NORMAL). Agents log in as a
role that is only a member of switchman_agent, as the README says they should.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_hooks import CONSOLE, clean_env, run

from .config import ROOT
from .content import fleet_files, path_of
from .procs import git
from .repos import import_files, start

sys.path.insert(0, str(ROOT))
from testing.machines import agent_url  # noqa: E402
from testing.pg import Cluster, start_cluster  # noqa: E402

DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
AGENT_LOGIN = "bench_agent"
STORES = ("sqlite", "pg-unix", "pg-tcp")


@dataclass
class Clone:
    """One clone on one machine: its main worktree and its agents' linked worktrees."""

    path: Path
    env: dict[str, str]
    store: str
    worktrees: dict[str, Path] = field(default_factory=dict)

    def sw(self, *args: str, cwd: Path | None = None) -> bytes:
        return run([str(CONSOLE), *args], cwd or self.path, self.env)

    def lease(self, worktree: str, claims: list[str]) -> None:
        task = self.sw("task", "add", f"work in {worktree}").decode().split()[-1]
        self.sw("lease", "acquire", task, worktree)
        self.sw("claim", task, worktree, *claims)


def origin(cache: Path, files: int) -> Path:
    """A repository of `files` files (cached): what every clone clones."""
    base = cache / f"team-origin-{files}"
    root = base / "repo"
    if (base / "ready").exists():
        return root
    env, root = start(base)
    import_files(root, files, env)
    (base / "ready").write_text("ok\n")
    return root


class Team:
    """The cluster (started on entry, stopped on exit) and the clones made in `work`."""

    def __init__(self, cache: Path, files: int) -> None:
        self.files = files
        self.origin = origin(cache, files)
        self.work = cache / "team-run"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.cluster: Cluster | None = None
        self.owner_urls: dict[str, str] = {}  # database -> its owner's (superuser) unix URL

    def __enter__(self) -> Team:
        self.cluster = start_cluster(tcp=True, settings=DURABLE)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cluster is not None:
            self.cluster.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def database(self) -> str:
        """A fresh database with the switchman schema; returns its name."""
        assert self.cluster is not None
        name = self.cluster.create_database()
        owner = self.cluster.url(name)
        run([str(CONSOLE), "store", "setup", owner], self.work, clean_env(self.work))
        self.owner_urls[name] = owner
        return name

    def url(self, database: str, transport: str) -> str:
        """The agent's URL of `database` over "unix" or "tcp"."""
        assert self.cluster is not None
        return agent_url(self.cluster.url(database, tcp=transport == "tcp"), self.cluster, AGENT_LOGIN)

    def clone(self, name: str, store: str, machine: str, *, database: str | None = None, agents: list[int] = ()) -> Clone:  # type: ignore[assignment]
        """Clone the origin as `machine`, initialise it on `store` (guarded), install the hooks,
        and give each agent j a linked worktree agent-j leasing its own 50 files."""
        home = self.work / f"home-{name}"
        home.mkdir(parents=True)
        (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n")
        env = clean_env(home)
        # The warm helper (one per clone) leaves a minute after the run's last hook, not ten.
        env.update(XDG_CONFIG_HOME=str(home / ".config"), SWITCHMAN_MACHINE_ID=machine, SWITCHMAN_HELPER_IDLE="60")
        dest = self.work / name
        git(self.work, env, "clone", "-q", str(self.origin), str(dest))
        c = Clone(dest, env, store)
        if store == "sqlite":
            c.sw("init", "--mode", "guarded")
        else:
            db = database or self.database()
            c.sw("init", "--mode", "guarded", "--store", self.url(db, "tcp" if store == "pg-tcp" else "unix"))
        c.sw("hooks", "install")
        for j in agents:
            wt = self.work / f"{name}-agent-{j}"
            git(dest, env, "worktree", "add", "-q", "-b", f"{name}-agent-{j}", str(wt), "main")
            c.worktrees[f"agent-{j}"] = wt
        if agents:
            c.sw("worktree", "sync")
            names = {w["path"]: w["name"] for w in json.loads(c.sw("worktree", "list", "--json"))["worktrees"]}
            for j in agents:
                c.lease(names[str(c.worktrees[f"agent-{j}"])], fleet_files(self.files, j))
        return c

    def sequences(self, database: str) -> list[int]:
        """Every audit sequence in `database`, in order (read as the owner)."""
        import psycopg

        with psycopg.connect(self.owner_urls[database], autocommit=True) as conn:
            return [int(r[0]) for r in conn.execute("SELECT sequence FROM audit_log ORDER BY sequence")]


def sqlite_sequences(clone: Clone) -> list[int]:
    import sqlite3

    conn = sqlite3.connect(clone.path / ".switchman" / "switchman.db")
    try:
        return [int(r[0]) for r in conn.execute("SELECT sequence FROM audit_log ORDER BY sequence")]
    finally:
        conn.close()


def gapless(seqs: list[int]) -> bool:
    return seqs == list(range(1, len(seqs) + 1))


def main_claims(clone: Clone, k: int) -> list[str]:
    """The main worktree leases a task and claims the K files its commits rewrite."""
    paths = [path_of(i) for i in range(k)]
    wt = json.loads(clone.sw("whoami", "--json"))["worktree"]
    clone.lease(wt, paths)
    return paths


def verify_ok(clone: Clone) -> Any:
    """`audit verify --json` from this clone (exit 1 is an answer here, not a failure)."""
    import subprocess

    p = subprocess.run([str(CONSOLE), "audit", "verify", "--json"], cwd=clone.path, env=clone.env, capture_output=True)
    return json.loads(p.stdout)["ok"] if p.stdout.strip() else False
