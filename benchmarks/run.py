#!/usr/bin/env python3
"""The switchman-hook benchmark suite (issue 6): is the cost of the hooks close to nothing?

One command builds synthetic repositories once (kept under benchmarks/.cache/, gitignored; delete
a directory there to rebuild it) and times, end to end, what agents pay:

* `git commit` of K staged files with the installed hooks against the same commit with no hooks
  (and with only the pre-commit hook), for 10k/100k tracked files x N = 10/5,000 foreign claims
  AND N glob scope reservations (held by another worktree's lease) x K = 10/1,000 staged files, in
  observed, guarded and strict mode (strict also times `git status` on the same tree);
* post-commit (installed hooks vs pre-commit only), post-checkout (switching branches of 100k
  files), pre-push of 100 new commits;
* `monitor once` over 8 worktrees with 50 dirty files each;
* `audit verify` at 100k and 1M events; audit appends/s in-process and from 8 processes;
* `doctor` on a healthy 100k-file repository;
* 8 concurrent committers (latency percentiles, errors).

Every measurement is median / min / max over --runs (>= 7) runs after --warmup runs, with A/B
variants interleaved in rotating order within each round, and the ratio B/A printed per pair.
The result is a markdown table on stdout and JSON in benchmarks/results-<commit>.json.

    .venv/bin/python benchmarks/run.py                 # everything but the --heavy cases
    .venv/bin/python benchmarks/run.py --quick         # a small subset, < 2 minutes
    .venv/bin/python benchmarks/run.py --only commit-10k-n10   # substring or glob, comma-separated
    .venv/bin/python benchmarks/run.py --heavy --only '*w8'    # 100k x 8-worktree cases too
    .venv/bin/python benchmarks/run.py --list

Stdlib only (plus this package); never a timed assertion in the tests.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_hooks import CONSOLE, clean_env, fast_import, run, timed_commit  # noqa: E402

DEFAULT_CACHE = HERE / ".cache"
PY = str(Path(sys.executable))
OWN_CLAIMS = 1_000  # agent-a claims this many files; a commit stages the first K of them
FLEET = 8  # worktrees in the monitor / concurrency repositories
DIRTY = 50  # dirty files per worktree for `monitor once`
PUSH_COMMITS = 100
LAYOUT = 2  # bump when the synthetic repositories change shape: cached ones are rebuilt

TARGET_PRE_10K = 60.0
TARGET_PRE_100K = 120.0
TARGET_STRICT_RATIO = 1.3
TARGET_VERIFY_1M_S = 10.0
TARGET_APPENDS = 5_000.0
TARGET_P99_MS = 1_000.0


# --- synthetic content ------------------------------------------------------------------------


def path_of(i: int) -> str:
    """3 to 5 directory levels: src/mNNN/dNN/[eN/[gN/]]fNN.py, 50 files per dNN directory."""
    depth = 3 + (i // 10) % 3
    parts = ["src", f"m{i // 1000:03d}", f"d{(i // 50) % 20:02d}"]
    if depth >= 4:
        parts.append(f"e{(i // 10) % 5}")
    if depth == 5:
        parts.append(f"g{(i // 20) % 2}")
    parts.append(f"f{i % 50:02d}.py")
    return "/".join(parts)


def size_of(i: int) -> int:
    return 512 + (i * 2654435761) % 3585  # 0.5-4 KB, deterministic


def content_of(i: int, rev: int = 0) -> bytes:
    head = f"# file {i}, revision {rev}\n".encode()
    line = f"VALUE_{i} = {i * 7919 % 100003}  # filler text for a plausible size\n".encode()
    n = size_of(i)
    return (head + line * (n // len(line) + 1))[:n]


def scope_globs(n: int, first_module: int = 1) -> list[str]:
    """N glob scopes of the shapes agents reserve, none covering agent-a's files (module 0)."""
    shapes = (
        "src/m{m:03d}/d{d:02d}/s{k}/**",
        "src/m{m:03d}/d{d:02d}/*.txt",
        "src/m{m:03d}/d{d:02d}/gen_{k}_*.py",
        "docs/m{m:03d}/d{d:02d}/**/*.md",
        "tests/m{m:03d}/test_d{d:02d}_{k}?.py",
    )
    out: list[str] = []
    i = 0
    while len(out) < n:
        if i % 500 == 499:
            out.append(f"*.generated_{i}")  # a few unanchored ones (checked against every path)
        else:
            m, d, k = first_module + (i // 100) % 900, (i // 5) % 20, i // 90000
            out.append(shapes[i % len(shapes)].format(m=m, d=d, k=k))
        i += 1
    return out


# --- processes ----------------------------------------------------------------------------------


def proc(args: list[str], cwd: Path, env: dict[str, str], input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, cwd=cwd, env=env, input=input, capture_output=True)


def timed(args: list[str], cwd: Path, env: dict[str, str], *, quiet: bool = True) -> float:
    t0 = time.perf_counter()
    p = proc(args, cwd, env)
    ms = (time.perf_counter() - t0) * 1000
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}:\n{p.stderr.decode(errors='replace')}")
    if quiet and p.stderr.strip():
        raise SystemExit(f"{' '.join(args)} was not silent in {cwd}:\n{p.stderr.decode(errors='replace')}")
    return ms


def sw(repo: Repo, *args: str, cwd: Path | None = None) -> bytes:
    return run([str(CONSOLE), *args], cwd or repo.root, repo.env)


def git(cwd: Path, env: dict[str, str], *args: str, input: bytes | None = None) -> bytes:
    return run(["git", *args], cwd, env, input=input)


# --- repositories -----------------------------------------------------------------------------


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


def _start(base: Path) -> tuple[dict[str, str], Path]:
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


def _finish(repo: Repo, t0: float, what: dict[str, Any]) -> None:
    _install_hooks(repo)
    what["built_in_s"] = round(time.perf_counter() - t0, 1)
    what["layout"] = LAYOUT
    (repo.base / "ready.json").write_text(json.dumps(what, indent=1) + "\n")


def _load(base: Path, files: int) -> Repo | None:
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
        _install_hooks(repo)  # the hook scripts of this checkout (they change between commits)
    return repo


def _install_hooks(repo: Repo) -> None:
    sw(repo, "hooks", "install")
    hooks = Path(git(repo.root, repo.env, "rev-parse", "--path-format=absolute", "--git-path", "hooks").decode().strip())
    repo.nohooks.mkdir(exist_ok=True)
    repo.precommit_only.mkdir(exist_ok=True)
    shutil.copy2(hooks / "pre-commit", repo.precommit_only / "pre-commit")


def _lease(repo: Repo, worktree: str, claims: list[str], spec: dict[str, Any] | None = None) -> str:
    task = sw(repo, "task", "add", f"work in {worktree}").decode().split()[-1]
    if spec is not None:
        spec_file = repo.base / f"spec-{worktree}.json"
        spec_file.write_text(json.dumps(spec))
        sw(repo, "task", "spec", task, "--file", str(spec_file))
    sw(repo, "lease", "acquire", task, worktree)
    for i in range(0, len(claims), 2000):
        sw(repo, "claim", task, worktree, *claims[i : i + 2000])
    return task


def _import(root: Path, files: int, env: dict[str, str]) -> None:
    fast_import(root, files, env, path_for=path_of, content_for=content_of)
    git(root, env, "read-tree", "HEAD")
    git(root, env, "checkout-index", "-a", "-f")  # the main worktree is a real, clean checkout too


def build_pair(cache: Path, files: int, n: int) -> Repo:
    """agent-a (checked out) commits its claimed files; agent-b holds N claims + N glob scopes."""
    base = cache / f"pair-{files}-n{n}"
    loaded = _load(base, files)
    if loaded is not None:
        return loaded
    print(f"  building {base.name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    env, root = _start(base)
    _import(root, files, env)
    # A second branch for post-checkout: 1,000 files (module 1) differ from main.
    fast_import(root, files, env, path_for=path_of, content_for=lambda i: content_of(i, 1), ref="refs/heads/bench-alt",
                parent="refs/heads/main", indices=range(1000, min(2000, files)))
    a, b = base / "agent-a", base / "agent-b"
    git(root, env, "worktree", "add", "-q", "-b", "agent-a", str(a), "main")
    git(root, env, "worktree", "add", "-q", "--no-checkout", "-b", "agent-b", str(b), "main")
    repo = Repo(base, files, env, {"agent-a": a, "agent-b": b})
    sw(repo, "init", "--mode", "guarded")
    _lease(repo, "agent-a", [path_of(i) for i in range(OWN_CLAIMS)])
    _lease(repo, "agent-b", [path_of(files - 1 - i) for i in range(n)], {"allowed_paths": scope_globs(n)})
    _finish(repo, t0, {"files": files, "n": n, "worktrees": {k: str(v) for k, v in repo.worktrees.items()}})
    return repo


def build_fleet(cache: Path, files: int) -> Repo:
    """8 checked-out linked worktrees agent-1..8, each leasing and claiming its own 50 files."""
    base = cache / f"fleet-{files}-w{FLEET}"
    loaded = _load(base, files)
    if loaded is not None:
        return loaded
    print(f"  building {base.name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    env, root = _start(base)
    _import(root, files, env)
    repo = Repo(base, files, env)
    for j in range(1, FLEET + 1):
        wt = base / f"agent-{j}"
        git(root, env, "worktree", "add", "-q", "-b", f"agent-{j}", str(wt), "main")
        repo.worktrees[f"agent-{j}"] = wt
    sw(repo, "init", "--mode", "guarded")
    for j in range(1, FLEET + 1):
        _lease(repo, f"agent-{j}", fleet_files(files, j))
    _finish(repo, t0, {"files": files, "worktrees": {k: str(v) for k, v in repo.worktrees.items()}})
    return repo


def fleet_files(files: int, j: int) -> list[str]:
    start = ((j - 1) * 1000) % files
    return [path_of(start + t) for t in range(DIRTY)]


def build_push(cache: Path) -> Repo:
    """10k files; agent-a has 100 commits (made through the hooks) that the remote lacks."""
    base = cache / f"push-10000-c{PUSH_COMMITS}"
    loaded = _load(base, 10_000)
    if loaded is not None:
        return loaded
    print(f"  building {base.name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    env, root = _start(base)
    _import(root, 10_000, env)
    remote = base / "remote.git"
    git(base, env, "clone", "-q", "--bare", str(root), str(remote))
    git(root, env, "remote", "add", "origin", str(remote))
    git(root, env, "fetch", "-q", "origin")
    a = base / "agent-a"
    git(root, env, "worktree", "add", "-q", "-b", "agent-a", str(a), "main")
    repo = Repo(base, 10_000, env, {"agent-a": a})
    sw(repo, "init", "--mode", "guarded")
    own = [path_of(i) for i in range(PUSH_COMMITS)]
    _lease(repo, "agent-a", own)
    sw(repo, "hooks", "install")
    for i, p in enumerate(own):
        (a / p).write_bytes(content_of(i, 1))
        git(a, env, "add", "--", p)
        git(a, env, "commit", "-q", "-m", f"change {i}")
    _finish(repo, t0, {"files": 10_000, "commits": PUSH_COMMITS, "worktrees": {"agent-a": str(a)}})
    return repo


def build_verify(cache: Path, events: int) -> Repo:
    """A repository whose audit log holds `events` correctly chained, signed rows + a checkpoint."""
    base = cache / f"verify-{events}"
    loaded = _load(base, 0)
    if loaded is not None:
        return loaded
    print(f"  building {base.name} ({events:,} events) ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    env, root = _start(base)
    git(root, env, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "--allow-empty", "-m", "init")
    repo = Repo(base, 0, env, {})
    sw(repo, "init")
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[3])\n"
        "from bench_audit_verify import bulk_rows\n"
        "from switchman import checkpoints\n"
        "from switchman.store.sqlite import Store\n"
        "os.environ['XDG_CONFIG_HOME'] = sys.argv[2]\n"
        "s = Store.open(sys.argv[1])\n"
        "bulk_rows(s, int(sys.argv[4]))\n"
        "assert checkpoints.write_checkpoint(s).written\n"
    )
    run([PY, "-c", code, str(root / ".switchman"), env["XDG_CONFIG_HOME"], str(HERE), str(events)], root, env)
    _finish(repo, t0, {"events": events, "worktrees": {}})
    return repo


# --- measuring ------------------------------------------------------------------------------------


def interleave(variants: dict[str, Callable[[int], float]], runs: int, warmup: int) -> dict[str, list[float]]:
    """Each round runs every variant once, the order rotating; warm-up rounds are discarded."""
    names = list(variants)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + runs):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            ms = variants[name](r)
            if r >= warmup:
                times[name].append(ms)
    return times


def stats(samples: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


@dataclass
class Result:
    name: str
    params: dict[str, Any]
    samples: dict[str, list[float]]
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (A, B): ratio B/A
    unit: str = "ms"
    target: str = ""
    figure: str = ""
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)

    def med(self, variant: str) -> float:
        return statistics.median(self.samples[variant])

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params,
            "unit": self.unit,
            "variants": {k: {**stats(v), "samples": [round(x, 3) for x in v]} for k, v in self.samples.items()},
            "pairs": [
                {"a": a, "b": b, "ratio": self.med(b) / self.med(a), "delta": self.med(b) - self.med(a)} for a, b in self.pairs
            ],
            "target": self.target,
            "figure": self.figure,
            "met": self.met,
            "extra": self.extra,
            "load": {"before": self.load[0], "after": self.load[1]},
        }


# --- cases ------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    cache: Path
    runs: int
    warmup: int
    results: dict[str, Result] = field(default_factory=dict)
    baseline: Path | None = None  # --baseline-src: a hooks dir whose pre-commit runs that tree


def baseline_hooks(cache: Path, src: Path) -> Path:
    """A hooks dir whose pre-commit runs the switchman package found in `src` (another checkout)."""
    hooks = cache / "baseline-hooks"
    hooks.mkdir(parents=True, exist_ok=True)
    script = hooks / "pre-commit"
    script.write_text(
        "#!/bin/sh\n"
        f"exec \"{PY}\" -E -c 'import sys; sys.path[:1] = [\"{src}\"]; "
        "from switchman.hookrun import main; sys.exit(main())' pre-commit \"$@\"\n"
    )
    script.chmod(0o755)
    return hooks


def label(files: int) -> str:
    return f"{files // 1000}k" if files < 1_000_000 else f"{files // 1_000_000}m"


def commit_case(ctx: Ctx, files: int, n: int, k: int, mode: str) -> Result:
    repo = build_pair(ctx.cache, files, n)
    repo.heartbeat()
    repo.mode("agent-a", mode)
    a = repo.worktrees["agent-a"]
    paths = [path_of(i) for i in range(k)]
    state = {"rev": int(time.time() * 1000)}

    def stage() -> int:
        state["rev"] += 1
        rev = state["rev"]
        for i, p in enumerate(paths):
            (a / p).write_bytes(content_of(i, rev))
        git(a, repo.env, "add", "--pathspec-from-file=-", "--pathspec-file-nul", input="\0".join(paths).encode())
        return rev

    def commit_with(hooks: Path | None) -> Callable[[int], float]:
        def go(_r: int) -> float:
            return timed_commit(a, hooks, stage(), repo.env)

        return go

    variants: dict[str, Callable[[int], float]] = {
        "bare": commit_with(repo.nohooks),
        "pre-commit": commit_with(repo.precommit_only),
        "hooks": commit_with(None),
    }
    if ctx.baseline is not None:
        variants["pre-commit (baseline)"] = commit_with(ctx.baseline)
    if mode == "strict":

        def status(_r: int) -> float:
            stage()
            return timed(["git", "status", "--porcelain=v2", "-z", "-uall"], a, repo.env)

        variants["git status"] = status
    samples = interleave(variants, ctx.runs, ctx.warmup)
    git(a, repo.env, "reset", "-q")  # the status variant leaves its last staging behind
    git(a, repo.env, "checkout", "-q", "--", "src")
    res = Result(
        f"commit-{label(files)}-n{n}-k{k}-{mode}",
        {"files": files, "foreign_claims": n, "foreign_glob_scopes": n, "staged": k, "mode": mode},
        samples,
        [("bare", "pre-commit"), ("bare", "hooks"), ("pre-commit", "hooks")]
        + ([("pre-commit (baseline)", "pre-commit")] if ctx.baseline is not None else []),
    )
    pre = res.med("pre-commit") - res.med("bare")
    res.extra["pre_commit_overhead_ms"] = pre
    res.extra["post_commit_overhead_ms"] = res.med("hooks") - res.med("pre-commit")
    if mode in ("observed", "guarded") and (files, n, k) in ((10_000, 10, 10), (100_000, 5_000, 1_000)):
        limit = TARGET_PRE_10K if files == 10_000 else TARGET_PRE_100K
        res.target = f"pre-commit overhead ≤ {limit:.0f} ms"
        res.figure = f"{pre:+.0f} ms"
        res.met = pre <= limit
    if mode == "strict":
        status_ms = res.med("git status")
        guarded = ctx.results.get(f"commit-{label(files)}-n{n}-k{k}-guarded")
        res.extra["git_status_ms"] = status_ms
        res.extra["strict_overhead_over_status"] = pre / status_ms
        if guarded is not None:
            extra = pre - guarded.extra["pre_commit_overhead_ms"]
            res.extra["strict_extra_over_guarded_ms"] = extra
            res.target = f"strict − guarded ≤ {TARGET_STRICT_RATIO}× git status"
            res.figure = f"{extra:+.0f} ms = {extra / status_ms:.2f}× ({pre / status_ms:.2f}× incl. base)"
            res.met = extra <= TARGET_STRICT_RATIO * status_ms
        else:
            res.target = f"overhead ≤ {TARGET_STRICT_RATIO}× git status (run the guarded case for the increment)"
            res.figure = f"{pre / status_ms:.2f}×"
            res.met = pre <= TARGET_STRICT_RATIO * status_ms
    return res


def post_checkout_case(ctx: Ctx, files: int = 100_000) -> Result:
    repo = build_pair(ctx.cache, files, 10)
    repo.heartbeat()
    repo.mode("agent-a", "guarded")
    a = repo.worktrees["agent-a"]

    def switch(hooks: Path | None) -> Callable[[int], float]:
        def go(_r: int) -> float:
            pre = ["git"] + (["-c", f"core.hooksPath={hooks}"] if hooks else [])
            ms = timed([*pre, "checkout", "-q", "bench-alt"], a, repo.env)
            proc([*pre, "checkout", "-q", "agent-a"], a, repo.env)
            return ms

        return go

    samples = interleave({"bare": switch(repo.nohooks), "hooks": switch(None)}, ctx.runs, ctx.warmup)
    return Result(
        f"post-checkout-{label(files)}",
        {"files": files, "differing_files": 1000 + OWN_CLAIMS},
        samples,
        [("bare", "hooks")],
        extra={"note": "git checkout between two branches; the hook re-baselines (one `git status`)"},
    )


def pre_push_case(ctx: Ctx) -> Result:
    repo = build_push(ctx.cache)
    repo.heartbeat()
    a = repo.worktrees["agent-a"]
    remote = repo.base / "remote.git"

    def reset() -> None:
        proc(["git", "update-ref", "-d", "refs/heads/agent-a"], remote, repo.env)
        proc(["git", "update-ref", "-d", "refs/remotes/origin/agent-a"], repo.root, repo.env)

    def push(hooks: Path | None) -> Callable[[int], float]:
        def go(_r: int) -> float:
            reset()
            pre = ["git"] + (["-c", f"core.hooksPath={hooks}"] if hooks else [])
            return timed([*pre, "push", "-q", "origin", "agent-a"], a, repo.env)

        return go

    rows = repo.audit_rows()
    samples = interleave({"bare": push(repo.nohooks), "hooks": push(None)}, ctx.runs, ctx.warmup)
    reset()
    return Result(
        f"pre-push-{PUSH_COMMITS}",
        {"new_commits": PUSH_COMMITS, "audit_events_at_start": rows},
        samples,
        [("bare", "hooks")],
        extra={"note": "the push gate checks provenance of each new commit and verifies the whole audit trail + checkpoint"},
    )


def _dirty(repo: Repo, rev: int) -> None:
    for j in range(1, FLEET + 1):
        wt = repo.worktrees[f"agent-{j}"]
        start = ((j - 1) * 1000) % repo.files
        for t, p in enumerate(fleet_files(repo.files, j)):
            (wt / p).write_bytes(content_of(start + t, rev))


def _clean(repo: Repo) -> None:
    for wt in repo.worktrees.values():
        git(wt, repo.env, "reset", "-q", "--hard")


def monitor_case(ctx: Ctx, files: int) -> Result:
    repo = build_fleet(ctx.cache, files)
    repo.heartbeat()
    state = {"rev": int(time.time() * 1000)}

    def monitor(_r: int) -> float:
        state["rev"] += 1
        _dirty(repo, state["rev"])  # 50 newly changed files per worktree every time
        return timed([str(CONSOLE), "monitor", "once", "--json"], repo.root, repo.env, quiet=False)

    def statuses(_r: int) -> float:
        state["rev"] += 1
        _dirty(repo, state["rev"])
        t0 = time.perf_counter()
        for wt in [repo.root, *repo.worktrees.values()]:
            proc(["git", "status", "--porcelain=v2", "-z", "-uall"], wt, repo.env)
        return (time.perf_counter() - t0) * 1000

    ref = f"git status x{FLEET + 1}"
    samples = interleave({ref: statuses, "monitor once": monitor}, ctx.runs, ctx.warmup)
    _clean(repo)
    return Result(
        f"monitor-{label(files)}-w{FLEET}",
        {"files": files, "worktrees": FLEET, "dirty_per_worktree": DIRTY},
        samples,
        [(ref, "monitor once")],
        extra={"note": "each run re-dirties the 400 files, so every run records 400 new observations; the "
                       "main worktree (clean) is observed too, so the reference is 9 `git status` runs; "
                       "`monitor once` is the click CLI (its start-up included)"},
    )


def verify_case(ctx: Ctx, events: int) -> Result:
    repo = build_verify(ctx.cache, events)
    runs = ctx.runs if events <= 200_000 else max(7, min(ctx.runs, 7))

    def cli(_r: int) -> float:
        return timed([str(CONSOLE), "audit", "verify", "--json"], repo.root, repo.env)

    samples = interleave({"audit verify": cli}, runs, 1)
    res = Result(f"verify-{label(events)}", {"events": events}, samples, unit="ms")
    secs = res.med("audit verify") / 1000
    res.extra["events_per_s"] = events / secs
    if events >= 1_000_000:
        res.target = f"≤ {TARGET_VERIFY_1M_S:.0f} s"
        res.figure = f"{secs:.1f} s"
        res.met = secs <= TARGET_VERIFY_1M_S
    else:
        res.figure = f"{secs:.2f} s ({events / secs:,.0f} events/s)"
    return res


APPEND_WORKER = r"""
import os, sys, time
os.environ["XDG_CONFIG_HOME"] = sys.argv[3]
from switchman import checkpoints
from switchman.store import sqlite_audit
from switchman.store.sqlite import Store
store = Store.open(sys.argv[1])
mode, count, tag = sys.argv[2], int(sys.argv[4]), sys.argv[5]
errors = 0
t0 = time.perf_counter()
with checkpoints.suspended():
    if mode == "batch":
        def fn(tx):
            rows = sqlite_audit.append_many(tx.conn, tx.store.key(), [
                {"event_type": "write_observed", "status": "allowed", "reason_code": "path_claimed",
                 "worktree": "agent-a", "task_id": "task-1", "lease_id": "lease-1",
                 "file_path": f"src/m000/d00/f{i:05d}.py",
                 "details": {"fingerprint": f"{i:040x}", "kind": "staged", "source": "bench"}} for i in range(count)])
            tx.appended.extend(rows)
        store.write(fn)
    else:
        for i in range(count):
            try:
                store.write(lambda tx, i=i: tx.audit("write_observed", "allowed", reason_code="path_claimed",
                    worktree=tag, task_id="task-1", lease_id="lease-1", file_path=f"src/{tag}/f{i:05d}.py",
                    details={"fingerprint": f"{i:040x}", "kind": "staged", "source": "bench"}))
            except Exception as exc:  # counted, reported
                errors += 1
                print(f"error: {exc}", file=sys.stderr)
print(f"{time.perf_counter() - t0} {errors}")
"""

CHECKPOINT_WORKER = r"""
import os, sys, time
os.environ["XDG_CONFIG_HOME"] = sys.argv[2]
from switchman.state import open_state_dir
store = open_state_dir(sys.argv[1])  # with the checkpoint writer, as commands open it
count = int(sys.argv[3])
t0 = time.perf_counter()
for i in range(count):
    store.write(lambda tx, i=i: tx.audit("task_created", "info", task_id=f"bench-{i}"))
print(f"{time.perf_counter() - t0} 0")
"""


def _fresh_store(ctx: Ctx) -> tuple[Repo, Path]:
    base = Path(tempfile.mkdtemp(prefix="appends-", dir=ctx.cache))
    env, root = _start(base)
    git(root, env, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "--allow-empty", "-m", "init")
    repo = Repo(base, 0, env, {})
    sw(repo, "init")
    return repo, root / ".switchman"


def appends_inprocess_case(ctx: Ctx) -> Result:
    repo, state = _fresh_store(ctx)
    xdg = repo.env["XDG_CONFIG_HOME"]
    per = {"batch of 1,000 (append_many)": ("batch", 1000), "1 event per transaction": ("single", 1000)}

    def one(name: str) -> Callable[[int], float]:
        mode, count = per[name]

        def go(_r: int) -> float:
            out = run([PY, "-c", APPEND_WORKER, str(state), mode, xdg, str(count), "agent-a"], repo.root, repo.env).decode().split()
            return count / float(out[0])  # events/s

        return go

    def checkpointed(_r: int) -> float:
        out = run([PY, "-c", CHECKPOINT_WORKER, str(state), xdg, "50"], repo.root, repo.env).decode().split()
        return 50 / float(out[0])

    variants = {name: one(name) for name in per}
    variants["1 event per transaction + signed checkpoint"] = checkpointed
    samples = interleave(variants, ctx.runs, ctx.warmup)
    rows = repo.audit_rows()
    ok = sw(repo, "audit", "verify", "--json")
    shutil.rmtree(repo.base, ignore_errors=True)
    res = Result("appends-inprocess", {"events_per_run": 1000}, samples, unit="events/s")
    worst = min(statistics.median(samples[k]) for k in per)
    res.target = f"≥ {TARGET_APPENDS:,.0f} events/s"
    res.figure = ", ".join(f"{statistics.median(samples[k]):,.0f}/s" for k in per)
    res.met = worst >= TARGET_APPENDS
    res.extra["verify_after"] = json.loads(ok)["ok"]
    res.extra["rows"] = rows
    return res


def appends_8proc_case(ctx: Ctx) -> Result:
    repo, state = _fresh_store(ctx)
    xdg = repo.env["XDG_CONFIG_HOME"]
    per_proc = 250
    errors_total = 0

    def go(_r: int) -> float:
        nonlocal errors_total
        t0 = time.perf_counter()
        ps = [
            subprocess.Popen([PY, "-c", APPEND_WORKER, str(state), "single", xdg, str(per_proc), f"w{j}"], cwd=repo.root,
                             env=repo.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for j in range(8)
        ]
        for p in ps:
            out, err = p.communicate()
            errors_total += int(out.split()[1]) if p.returncode == 0 else per_proc
        return 8 * per_proc / (time.perf_counter() - t0)

    samples = interleave({"8 processes, 1 event per transaction": go}, ctx.runs, ctx.warmup)
    ok = json.loads(sw(repo, "audit", "verify", "--json"))["ok"]
    shutil.rmtree(repo.base, ignore_errors=True)
    res = Result("appends-8proc", {"processes": 8, "events_per_process": per_proc}, samples, unit="events/s")
    res.extra.update(errors=errors_total, verify_after=ok)
    res.figure = f"{res.med('8 processes, 1 event per transaction'):,.0f}/s, {errors_total} errors, verify {'ok' if ok else 'FAILED'}"
    return res


def doctor_case(ctx: Ctx, files: int = 100_000) -> Result:
    repo = build_pair(ctx.cache, files, 10)
    repo.heartbeat()
    a = repo.worktrees["agent-a"]
    state = {"healthy": None}

    def doctor(_r: int) -> float:
        t0 = time.perf_counter()
        p = proc([str(CONSOLE), "doctor", "--json"], repo.root, repo.env)
        ms = (time.perf_counter() - t0) * 1000
        report = json.loads(p.stdout)
        state["healthy"] = report["health"]
        return ms

    def status(_r: int) -> float:
        return timed(["git", "status", "--porcelain=v2", "-z", "-uall"], a, repo.env)

    samples = interleave({"git status (agent-a)": status, "doctor": doctor}, ctx.runs, ctx.warmup)
    res = Result(f"doctor-{label(files)}", {"files": files, "audit_events": repo.audit_rows()}, samples,
                 [("git status (agent-a)", "doctor")])
    res.extra["health"] = state["healthy"]
    res.figure = f"health: {state['healthy']}"
    return res


COMMITTER = r"""
import json, os, subprocess, sys, time
wt, env_json, k, commits, start, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
hooks = sys.argv[7] if len(sys.argv) > 7 else ""
env = json.loads(env_json)
sys.path.insert(0, sys.argv[8])
from run import path_of, content_of
paths = [path_of(start + t) for t in range(k)]
lat, errors = [], []
for c in range(commits):
    rev = int(time.time() * 1000) * 100 + c
    for t, p in enumerate(paths):
        with open(os.path.join(wt, p), "wb") as fh:
            fh.write(content_of(start + t, rev))
    subprocess.run(["git", "add", "--", *paths], cwd=wt, env=env, check=True, capture_output=True)
    args = ["git"] + (["-c", f"core.hooksPath={hooks}"] if hooks else []) + ["commit", "-q", "-m", f"{tag} {c}"]
    t0 = time.perf_counter()
    p = subprocess.run(args, cwd=wt, env=env, capture_output=True)
    lat.append((time.perf_counter() - t0) * 1000)
    if p.returncode != 0 or p.stderr.strip():
        errors.append(p.stderr.decode(errors="replace").strip()[:300] or f"exit {p.returncode}")
print(json.dumps({"lat": lat, "errors": errors}))
"""


def concurrent_case(ctx: Ctx, files: int, commits: int = 15, k: int = 10) -> Result:
    repo = build_fleet(ctx.cache, files)
    repo.heartbeat()
    _clean(repo)

    def swarm(hooks: Path | None) -> tuple[list[float], list[str]]:
        ps = []
        for j in range(1, FLEET + 1):
            wt = repo.worktrees[f"agent-{j}"]
            start = ((j - 1) * 1000) % files
            args = [PY, "-c", COMMITTER, str(wt), json.dumps(repo.env), str(k), str(commits), str(start), f"agent-{j}",
                    str(hooks) if hooks else "", str(HERE)]
            ps.append(subprocess.Popen(args, cwd=wt, env=repo.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        lat: list[float] = []
        errors: list[str] = []
        for p in ps:
            out, err = p.communicate()
            if p.returncode != 0:
                errors.append(err.decode(errors="replace")[-300:])
                continue
            data = json.loads(out)
            lat += data["lat"]
            errors += data["errors"]
        return lat, errors

    bare_lat, bare_err = swarm(repo.nohooks)
    hook_lat, hook_err = swarm(None)
    _clean(repo)

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, max(0, int(round(q * len(xs) + 0.5)) - 1))]

    res = Result(
        f"concurrent-{label(files)}-w{FLEET}",
        {"files": files, "committers": FLEET, "commits_each": commits, "staged": k},
        {"bare": bare_lat, "hooks": hook_lat},
        [("bare", "hooks")],
    )
    p99 = pct(hook_lat, 0.99)
    res.extra.update(
        p50=pct(hook_lat, 0.50), p95=pct(hook_lat, 0.95), p99=p99, max=max(hook_lat), bare_p99=pct(bare_lat, 0.99),
        errors=hook_err[:10], error_count=len(hook_err), bare_errors=len(bare_err),
        verify_ok=json.loads(sw(repo, "audit", "verify", "--json"))["ok"],
    )
    res.target = f"p99 commit latency ≤ {TARGET_P99_MS:.0f} ms, no errors"
    res.figure = f"p50 {res.extra['p50']:.0f} / p95 {res.extra['p95']:.0f} / p99 {p99:.0f} ms, {len(hook_err)} errors"
    res.met = p99 <= TARGET_P99_MS and not hook_err and res.extra["verify_ok"]
    return res


# --- the catalogue ---------------------------------------------------------------------------------


def catalogue(heavy: bool) -> list[tuple[str, Callable[[Ctx], Result]]]:
    cases: list[tuple[str, Callable[[Ctx], Result]]] = []
    for files in (10_000, 100_000):
        for n in (10, 5_000):
            for k in (10, 1_000):
                for mode in ("observed", "guarded", "strict"):
                    name = f"commit-{label(files)}-n{n}-k{k}-{mode}"
                    cases.append((name, lambda c, f=files, n=n, k=k, m=mode: commit_case(c, f, n, k, m)))
    cases += [
        ("post-checkout-100k", lambda c: post_checkout_case(c)),
        (f"pre-push-{PUSH_COMMITS}", pre_push_case),
        ("monitor-10k-w8", lambda c: monitor_case(c, 10_000)),
        ("verify-100k", lambda c: verify_case(c, 100_000)),
        ("verify-1m", lambda c: verify_case(c, 1_000_000)),
        ("appends-inprocess", appends_inprocess_case),
        ("appends-8proc", appends_8proc_case),
        ("doctor-100k", lambda c: doctor_case(c)),
        ("concurrent-10k-w8", lambda c: concurrent_case(c, 10_000)),
    ]
    if heavy:
        cases += [
            ("monitor-100k-w8", lambda c: monitor_case(c, 100_000)),
            ("concurrent-100k-w8", lambda c: concurrent_case(c, 100_000)),
        ]
    return cases


def repos_for(name: str, cache: Path) -> list[Callable[[], Repo]]:
    """The cached repositories a case uses (for --build-only)."""
    parts = name.split("-")
    files = {"10k": 10_000, "100k": 100_000}
    size = next((files[p] for p in parts if p in files), 10_000)
    if name.startswith("commit-"):
        return [lambda: build_pair(cache, size, int(parts[2][1:]))]
    if name.startswith(("post-checkout-", "doctor-")):
        return [lambda: build_pair(cache, size, 10)]
    if name.startswith(("monitor-", "concurrent-")):
        return [lambda: build_fleet(cache, size)]
    if name.startswith("pre-push-"):
        return [lambda: build_push(cache)]
    if name.startswith("verify-"):
        return [lambda: build_verify(cache, 100_000 if parts[1] == "100k" else 1_000_000)]
    return []


QUICK = ("commit-10k-n10-k10-observed", "commit-10k-n10-k10-guarded", "commit-10k-n10-k10-strict", "appends-inprocess", "verify-100k")


def selected(names: list[str], only: str | None, quick: bool) -> list[str]:
    if quick and not only:
        return [n for n in names if n in QUICK]
    if not only:
        return names
    keep = []
    for n in names:
        for pat in only.split(","):
            pat = pat.strip()
            if (any(ch in pat for ch in "*?[") and fnmatch.fnmatch(n, pat)) or (pat and pat in n):
                keep.append(n)
                break
    return keep


# --- reporting ------------------------------------------------------------------------------------


def fmt3(samples: list[float], unit: str) -> str:
    s = stats(samples)
    if unit == "events/s":
        return f"{s['median']:,.0f} / {s['min']:,.0f} / {s['max']:,.0f}"
    return f"{s['median']:.0f} / {s['min']:.0f} / {s['max']:.0f}"


def table(results: list[Result]) -> str:
    lines = [
        "| case | A | A median / min / max | B | B median / min / max | B/A | B−A | target | figure | met |",
        "|---|---|---:|---|---:|---:|---:|---|---|:-:|",
    ]
    for r in results:
        verdict = "—" if r.met is None else ("✅ met" if r.met else "❌ not met")
        rows = r.pairs or [(next(iter(r.samples)), "")]
        for i, (a, b) in enumerate(rows):
            name = r.name if i == 0 else ""
            unit = "" if r.unit == "ms" else f" {r.unit}"
            if b:
                ratio = f"{r.med(b) / r.med(a):.2f}×"
                delta = f"{r.med(b) - r.med(a):+.0f}" + ("" if r.unit == "ms" else unit)
                cells = [a, fmt3(r.samples[a], r.unit) + unit, b, fmt3(r.samples[b], r.unit) + unit, ratio, delta]
            else:
                cells = [a, fmt3(r.samples[a], r.unit) + unit, "", "", "", ""]
            tail = [r.target, r.figure, verdict] if i == 0 else ["", "", ""]
            lines.append("| " + " | ".join([name, *cells, *tail]) + " |")
        extra_variants = [v for v in r.samples if all(v not in p for p in rows)]
        for v in extra_variants:
            lines.append(f"| | {v} | {fmt3(r.samples[v], r.unit)}{'' if r.unit == 'ms' else ' ' + r.unit} | | | | | | | |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git": git_version,
        "loadavg_start": os.getloadavg(),
    }


def commit_id() -> tuple[str, bool]:
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip())
    return sha, dirty


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the synthetic repos live")
    parser.add_argument("--runs", type=int, default=7, help="measured runs per variant (>= 7)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--only", help="comma-separated case names: substrings or globs")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)} (< 2 minutes)")
    parser.add_argument("--heavy", action="store_true", help="add the 100k x 8-worktree cases")
    parser.add_argument("--list", action="store_true", help="list the case names and exit")
    parser.add_argument("--build-only", action="store_true", help="build the selected cases' repositories, measure nothing")
    parser.add_argument("--baseline-src", type=Path, metavar="DIR",
                        help="also time the pre-commit hook of the switchman package in DIR (e.g. an older checkout)")
    parser.add_argument("--json", type=Path, help="where to write the JSON (default benchmarks/results-<commit>.json)")
    args = parser.parse_args(argv)
    cases = dict(catalogue(args.heavy))
    names = selected(list(cases), args.only, args.quick)
    if args.list:
        print("\n".join(names))
        return 0
    if not names:
        raise SystemExit("no case matches --only; see --list")
    if not CONSOLE.exists():
        raise SystemExit(f"{CONSOLE} not found: run with the interpreter of the environment switchman-hook is installed in")
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.build_only:
        built: set[str] = set()
        for name in names:
            for build in repos_for(name, args.cache):
                repo = build()
                if repo.base.name not in built:
                    built.add(repo.base.name)
                    print(f"{repo.base.name}: {json.loads((repo.base / 'ready.json').read_text()).get('built_in_s')} s", file=sys.stderr)
        return 0
    ctx = Ctx(args.cache, args.runs, args.warmup)
    if args.baseline_src is not None:
        ctx.baseline = baseline_hooks(args.cache, args.baseline_src.resolve())
    sha, dirty = commit_id()
    info = machine()
    results: list[Result] = []
    t_start = time.perf_counter()
    for name in names:
        print(f"… {name}  (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
        before = os.getloadavg()[0]
        t0 = time.perf_counter()
        res = cases[name](ctx)
        res.load = (before, os.getloadavg()[0])
        res.extra["case_seconds"] = round(time.perf_counter() - t0, 1)
        ctx.results[name] = res
        results.append(res)
        print(f"  {res.figure or 'done'}  ({res.extra['case_seconds']} s)", file=sys.stderr, flush=True)
    info["loadavg_end"] = os.getloadavg()
    header = [
        f"commit {sha}{' plus uncommitted changes' if dirty else ''}",
        f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['platform']}, Python {info['python']}, {info['git']}",
        f"load average (1/5/15 min) at start {'/'.join(f'{x:.2f}' for x in info['loadavg_start'])}, "
        f"at end {'/'.join(f'{x:.2f}' for x in info['loadavg_end'])}; {args.runs} runs after {args.warmup} warm-up, interleaved",
        "",
    ]
    print("\n".join(header) + table(results))
    growth = [
        (ctx.results.get(f"commit-10k-n5000-k1000-{m}"), ctx.results.get(f"commit-100k-n5000-k1000-{m}")) for m in ("observed", "guarded")
    ]
    for small, large in growth:
        if small and large:
            a, b = small.extra["pre_commit_overhead_ms"], large.extra["pre_commit_overhead_ms"]
            print(f"\ngrowth with tracked files ({large.params['mode']}, N=5,000, K=1,000): 10k {a:+.0f} ms -> 100k {b:+.0f} ms")
    out = args.json or HERE / f"results-{sha[:12]}{'-dirty' if dirty else ''}.json"
    out.write_text(json.dumps({
        "commit": sha, "dirty": dirty, "machine": info, "runs": args.runs, "warmup": args.warmup,
        "seconds": round(time.perf_counter() - t_start, 1), "cases": [r.to_json() for r in results],
    }, indent=1) + "\n")
    print(f"\n(JSON: {out})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
