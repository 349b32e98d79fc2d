"""Clones "on other machines" for the team-backend tests (SPEC §12): each clone runs every command
and hook with its own SWITCHMAN_MACHINE_ID and its own HOME / XDG config (so its own checkpoint
signing key), exactly as two machines sharing one PostgreSQL server would.

    a = Machine.clone(origin, tmp / "clone-a", url, "machine-a")
    a.cli.ok("task", "add", "x")      # in-process CLI, with machine-a's environment
    a.commit("msg")                   # real `git commit` through the installed hooks
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .cli import Cli, Result
from .gates import Git, commit, install_hooks
from .git import git, write

AGENT_ROLE = "switchman_agent"


class _MachineCli:
    """`Cli` for one clone, run with that machine's environment."""

    def __init__(self, machine: Machine) -> None:
        self._m = machine
        self._cli = Cli(machine.path)

    def __call__(self, *args: str, **kw: Any) -> Result:
        with self._m.active():
            return self._cli(*args, **kw)

    def ok(self, *args: str, **kw: Any) -> Result:
        with self._m.active():
            return self._cli.ok(*args, **kw)

    def json(self, *args: str, **kw: Any) -> Any:
        with self._m.active():
            return self._cli.json(*args, **kw)


class Machine:
    """One clone on one (simulated) machine."""

    def __init__(self, path: Path, machine: str) -> None:
        self.path = path
        self.machine = machine
        self.home = path.parent / f"home-{machine}"
        (self.home / ".config").mkdir(parents=True, exist_ok=True)
        self.cli = _MachineCli(self)

    @classmethod
    def clone(cls, origin: Path, dest: Path, url: str, machine: str, *, hooks: bool = True, mode: str | None = None) -> Machine:
        """`git clone` origin to dest, `init --store url` there as `machine`, install the hooks."""
        git(origin.parent, "clone", "-q", str(origin), str(dest))
        m = cls(dest.resolve(), machine)
        args = ["init", "--store", url] + (["--mode", mode] if mode else [])
        m.cli.ok(*args)
        if hooks:
            with m.active():
                install_hooks(m.path)
        return m

    def env(self) -> dict[str, str]:
        return {
            "SWITCHMAN_MACHINE_ID": self.machine,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
        }

    @contextmanager
    def active(self) -> Iterator[None]:
        """os.environ as this machine's processes see it (the in-process CLI reads it)."""
        saved = {k: os.environ.get(k) for k in self.env()}
        os.environ.update(self.env())
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def commit(self, message: str = "change", *args: str) -> Git:
        return commit(self.path, message, *args, env=self.env())

    def change(self, rel: str, text: str = "changed\n") -> None:
        write(self.path / rel, text)
        git(self.path, "add", "--", rel, env=self.env())

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD").strip()

    def worktree(self) -> str:
        """This clone's registered worktree name (its main worktree, on this machine)."""
        return str(self.cli.json("whoami")["worktree"])

    def task(self, title: str, *, spec: dict[str, Any] | None = None) -> str:
        tid = self.cli.ok("task", "add", title).out.strip().splitlines()[-1]
        if spec is not None:
            import json

            self.cli.ok("task", "spec", tid, "--json-text", json.dumps(spec))
        return tid


def agent_url(owner_url: str, cluster: Any, role: str) -> str:
    """`owner_url` with a login role that is only a member of switchman_agent (created if new):
    what an agent machine connects as (README, "Team backend")."""
    cluster.execute(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
        f"CREATE ROLE {role} LOGIN IN ROLE {AGENT_ROLE}; END IF; END $$"
    )
    prefix = f"postgresql://{cluster.user}@"
    assert owner_url.startswith(prefix), owner_url
    return f"postgresql://{role}@" + owner_url[len(prefix) :]
