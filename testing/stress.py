"""Shared by the stress harnesses: sizes, snapshots of user work, store inspection, agent swarms."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cli import CONSOLE, Cli, Result
from .git import add_worktree, git, write

FULL = os.environ.get("SWITCHMAN_STRESS_FULL") == "1"


def size(default: int, full: int) -> int:
    """The bounded CI size, or the full size when SWITCHMAN_STRESS_FULL=1."""
    return full if FULL else default


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1)))))
    return ordered[k]


# --- user work ---------------------------------------------------------------------------------


def worktree_files(root: Path) -> dict[str, tuple[int, str]]:
    """Every file (and symlink) of a worktree except .git and .switchman: path -> (mode, sha256)."""
    out: dict[str, tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in (".git", ".switchman")]
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                digest = "link:" + os.readlink(full)
            else:
                with open(full, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            out[os.path.normpath(os.path.join(rel_dir, name))] = (stat.S_IMODE(st.st_mode) | stat.S_IFMT(st.st_mode), digest)
    return out


@dataclass(frozen=True)
class UserWork:
    """What the user has: worktree bytes, the index (`ls-files -s`), HEAD."""

    files: dict[str, tuple[int, str]]
    index: str
    head: str

    @classmethod
    def of(cls, root: Path) -> UserWork:
        return cls(
            worktree_files(root),
            git(root, "ls-files", "-s", "-z"),
            git(root, "rev-parse", "HEAD", check=False).strip(),
        )

    def diff(self, other: UserWork) -> list[str]:
        problems = []
        for path in sorted(set(self.files) | set(other.files)):
            if self.files.get(path) != other.files.get(path):
                problems.append(f"file {path}: {self.files.get(path)} -> {other.files.get(path)}")
        if self.index != other.index:
            problems.append("index (git ls-files -s) changed")
        return problems


# --- store -------------------------------------------------------------------------------------


def db_file(root: Path) -> Path:
    return root / ".switchman" / "switchman.db"


def ro_connect(root: Path, timeout: float = 30.0) -> sqlite3.Connection:
    uri = "file:" + urllib.parse.quote(str(db_file(root))) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def rows(root: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    conn = ro_connect(root)
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def table_counts(root: Path) -> dict[str, int]:
    conn = ro_connect(root)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in sorted(names)}
    finally:
        conn.close()


def integrity(root: Path) -> list[str]:
    conn = ro_connect(root)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def contiguous(root: Path) -> list[str]:
    """Problems with the audit sequence/chain as stored (verify checks more; this names gaps)."""
    got = rows(root, "SELECT sequence, prev_hash, entry_hash FROM audit_log ORDER BY id")
    problems = []
    for i, r in enumerate(got):
        if r["sequence"] != i + 1:
            problems.append(f"row {i + 1} has sequence {r['sequence']}")
        if i and r["prev_hash"] != got[i - 1]["entry_hash"]:
            problems.append(f"row {i + 1} prev_hash does not chain")
    return problems[:10]


def verify(root: Path) -> dict[str, Any]:
    """`audit verify --json` in a fresh process (the chain, HMACs and the signed checkpoint)."""
    res = console("-C", str(root), "audit", "verify", "--json")
    assert res.code in (0, 1), f"audit verify exited {res.code}: {res.err}"
    assert "Traceback" not in res.err, res.err
    return json.loads(res.out)


def console(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 300) -> Result:
    proc = subprocess.run(
        [CONSOLE, *args], cwd=cwd, capture_output=True, text=True, input=input, env={**os.environ, **(env or {})}, timeout=timeout
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def one_error_line(res: Result) -> str | None:
    """None when stderr is exactly one `error: ...` line and no traceback; else what is wrong."""
    if "Traceback" in res.err:
        return f"traceback: {res.err[-800:]}"
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    if len(errors) != 1:
        return f"expected one `error:` line, got {res.err!r}"
    if "internal error" in errors[0]:
        return f"internal error: {errors[0]}"
    return None


# --- agents ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agent:
    index: int
    name: str
    path: Path
    task: str
    lease: str
    area: str


def swarm(root: Path, cli: Cli, count: int, *, mode: str = "guarded", install_hooks: bool = True) -> list[Agent]:
    """`count` linked worktrees, each leasing its own task scoped to `area<i>/**`, hooks installed."""
    cli.ok("policy", "mode", mode)
    agents = []
    paths = [add_worktree(root, f"agent-{i}") for i in range(count)]
    cli.ok("worktree", "sync")
    for i, path in enumerate(paths):
        task = f"T{i}"
        cli.ok("task", "add", f"work {i}", "--id", task)
        cli.ok("task", "spec", task, "--allowed-path", f"area{i}/**")
        lease = cli.json("lease", "acquire", task, f"agent-{i}")["lease"]["id"]
        agents.append(Agent(i, f"agent-{i}", path, task, lease, f"area{i}"))
    for a in agents:
        cli.ok("worktree", "mode", a.name, mode)
    if install_hooks:
        res = console("-C", str(root), "hooks", "install")
        assert res.code == 0, res.err
    return agents


def seed_file(path: Path, rel: str, text: str | bytes) -> Path:
    return write(path / rel, text)


def python_env() -> dict[str, str]:
    """Environment for a helper Python child: the venv's interpreter sees the checkout's packages."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
