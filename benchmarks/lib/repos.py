"""The cached synthetic repositories (built once under benchmarks/.cache/)."""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_hooks import CONSOLE, clean_env, fast_import, run

from .config import FLEET, HERE, LAYOUT, OWN_CLAIMS, PUSH_COMMITS, PY, WORKERS
from .content import content_of, fleet_files, path_of, scope_globs
from .procs import git


def sw(repo: Repo, *args: str, cwd: Path | None = None) -> bytes:
    return run([str(CONSOLE), *args], cwd or repo.root, repo.env)


@dataclass
class Repo:
    base: Path
    files: int
    env: dict[str, str]
    worktrees: dict[str, Path] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.base / "repo"

    @property
    def nohooks(self) -> Path:
        return self.base / "nohooks"

    @property
    def precommit_only(self) -> Path:
        return self.base / "precommit-only"

    def heartbeat(self) -> None:
        leases = json.loads(sw(self, "lease", "list", "--status", "active", "--json"))["leases"]
        for lease in leases:
            sw(self, "lease", "heartbeat", lease["id"])

    def mode(self, worktree: str, mode: str) -> None:
        sw(self, "worktree", "mode", worktree, mode)

    def audit_rows(self) -> int:
        import sqlite3

        conn = sqlite3.connect(self.root / ".switchman" / "switchman.db")
        try:
            return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
        finally:
            conn.close()


def start(base: Path) -> tuple[dict[str, str], Path]:
    shutil.rmtree(base, ignore_errors=True)
    home = base / "home"
    home.mkdir(parents=True)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n")
    env = clean_env(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")  # the checkpoint signing key lives here
    root = base / "repo"
    root.mkdir()
    git(root, env, "init", "-q", "-b", "main")
    return env, root


def begin(base: Path, files: int, note: str = "") -> tuple[dict[str, str], Path, float]:
    """Announce a build, start a fresh repository in `base` and import `files` files into it.

    Returns its env, its root and when the build started (for `finish`)."""
    print(f"  building {base.name}{note} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    env, root = start(base)
    if files:
        import_files(root, files, env)
    return env, root, t0


def finish(repo: Repo, t0: float, what: dict[str, Any]) -> None:
    install_hooks(repo)
    what["built_in_s"] = round(time.perf_counter() - t0, 1)
    what["layout"] = LAYOUT
    (repo.base / "ready.json").write_text(json.dumps(what, indent=1) + "\n")


def load(base: Path, files: int) -> Repo | None:
    ready = base / "ready.json"
    if not ready.exists():
        return None
    info = json.loads(ready.read_text())
    if info.get("layout") != LAYOUT:
        return None  # built by an older version of this script: rebuild
    env = clean_env(base / "home")
    env["XDG_CONFIG_HOME"] = str(base / "home" / ".config")
    repo = Repo(base, files, env, {k: Path(v) for k, v in info["worktrees"].items()})
    if (base / "precommit-only").exists():
        install_hooks(repo)  # the hook scripts of this checkout (they change between commits)
    return repo


def install_hooks(repo: Repo) -> None:
    sw(repo, "hooks", "install")
    hooks = Path(git(repo.root, repo.env, "rev-parse", "--path-format=absolute", "--git-path", "hooks").decode().strip())
    repo.nohooks.mkdir(exist_ok=True)
    repo.precommit_only.mkdir(exist_ok=True)
    shutil.copy2(hooks / "pre-commit", repo.precommit_only / "pre-commit")


def lease(repo: Repo, worktree: str, claims: list[str], spec: dict[str, Any] | None = None) -> str:
    task = sw(repo, "task", "add", f"work in {worktree}").decode().split()[-1]
    if spec is not None:
        spec_file = repo.base / f"spec-{worktree}.json"
        spec_file.write_text(json.dumps(spec))
        sw(repo, "task", "spec", task, "--file", str(spec_file))
    sw(repo, "lease", "acquire", task, worktree)
    for i in range(0, len(claims), 2000):
        sw(repo, "claim", task, worktree, *claims[i : i + 2000])
    return task


def import_files(root: Path, files: int, env: dict[str, str]) -> None:
    fast_import(root, files, env, path_for=path_of, content_for=content_of)
    git(root, env, "read-tree", "HEAD")
    git(root, env, "checkout-index", "-a", "-f")  # the main worktree is a real, clean checkout too


def build_pair(cache: Path, files: int, n: int) -> Repo:
    """agent-a (checked out) commits its claimed files; agent-b holds N claims + N glob scopes."""
    base = cache / f"pair-{files}-n{n}"
    loaded = load(base, files)
    if loaded is not None:
        return loaded
    env, root, t0 = begin(base, files)
    # A second branch for post-checkout: 1,000 files (module 1) differ from main.
    fast_import(root, files, env, path_for=path_of, content_for=lambda i: content_of(i, 1), ref="refs/heads/bench-alt",
                parent="refs/heads/main", indices=range(1000, min(2000, files)))
    a, b = base / "agent-a", base / "agent-b"
    git(root, env, "worktree", "add", "-q", "-b", "agent-a", str(a), "main")
    git(root, env, "worktree", "add", "-q", "--no-checkout", "-b", "agent-b", str(b), "main")
    repo = Repo(base, files, env, {"agent-a": a, "agent-b": b})
    sw(repo, "init", "--mode", "guarded")
    lease(repo, "agent-a", [path_of(i) for i in range(OWN_CLAIMS)])
    lease(repo, "agent-b", [path_of(files - 1 - i) for i in range(n)], {"allowed_paths": scope_globs(n)})
    finish(repo, t0, {"files": files, "n": n, "worktrees": {k: str(v) for k, v in repo.worktrees.items()}})
    return repo


def build_fleet(cache: Path, files: int) -> Repo:
    """8 checked-out linked worktrees agent-1..8, each leasing and claiming its own 50 files."""
    base = cache / f"fleet-{files}-w{FLEET}"
    loaded = load(base, files)
    if loaded is not None:
        return loaded
    env, root, t0 = begin(base, files)
    repo = Repo(base, files, env)
    for j in range(1, FLEET + 1):
        wt = base / f"agent-{j}"
        git(root, env, "worktree", "add", "-q", "-b", f"agent-{j}", str(wt), "main")
        repo.worktrees[f"agent-{j}"] = wt
    sw(repo, "init", "--mode", "guarded")
    for j in range(1, FLEET + 1):
        lease(repo, f"agent-{j}", fleet_files(files, j))
    finish(repo, t0, {"files": files, "worktrees": {k: str(v) for k, v in repo.worktrees.items()}})
    return repo


def build_push(cache: Path) -> Repo:
    """10k files; agent-a has 100 commits (made through the hooks) that the remote lacks."""
    base = cache / f"push-10000-c{PUSH_COMMITS}"
    loaded = load(base, 10_000)
    if loaded is not None:
        return loaded
    env, root, t0 = begin(base, 10_000)
    remote = base / "remote.git"
    git(base, env, "clone", "-q", "--bare", str(root), str(remote))
    git(root, env, "remote", "add", "origin", str(remote))
    git(root, env, "fetch", "-q", "origin")
    a = base / "agent-a"
    git(root, env, "worktree", "add", "-q", "-b", "agent-a", str(a), "main")
    repo = Repo(base, 10_000, env, {"agent-a": a})
    sw(repo, "init", "--mode", "guarded")
    own = [path_of(i) for i in range(PUSH_COMMITS)]
    lease(repo, "agent-a", own)
    sw(repo, "hooks", "install")
    for i, p in enumerate(own):
        (a / p).write_bytes(content_of(i, 1))
        git(a, env, "add", "--", p)
        git(a, env, "commit", "-q", "-m", f"change {i}")
    finish(repo, t0, {"files": 10_000, "commits": PUSH_COMMITS, "worktrees": {"agent-a": str(a)}})
    return repo


def build_verify(cache: Path, events: int) -> Repo:
    """A repository whose audit log holds `events` correctly chained, signed rows + a checkpoint."""
    base = cache / f"verify-{events}"
    loaded = load(base, 0)
    if loaded is not None:
        return loaded
    env, root, t0 = begin(base, 0, f" ({events:,} events)")
    git(root, env, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "--allow-empty", "-m", "init")
    repo = Repo(base, 0, env, {})
    sw(repo, "init")
    run([PY, str(WORKERS / "bulk_log.py"), str(root / ".switchman"), env["XDG_CONFIG_HOME"], str(HERE), str(events)], root, env)
    finish(repo, t0, {"events": events, "worktrees": {}})
    return repo


def dirty(repo: Repo, rev: int) -> None:
    for j in range(1, FLEET + 1):
        wt = repo.worktrees[f"agent-{j}"]
        start = ((j - 1) * 1000) % repo.files
        for t, p in enumerate(fleet_files(repo.files, j)):
            (wt / p).write_bytes(content_of(start + t, rev))


def clean(repo: Repo) -> None:
    for wt in repo.worktrees.values():
        git(wt, repo.env, "reset", "-q", "--hard")
