#!/usr/bin/env python3
"""Time `git commit` with the switchman hooks installed against the same commit without them.

Builds synthetic repositories under a cache dir (kept between runs; delete it to rebuild):

* small: 10,000 files; agent-a holds 10 claims and commits those 10 files;
* large: 100,000 files; agent-b (another linked worktree) holds 5,000 claims, agent-a holds
  1,000 claims and commits 1,000 staged files.

Both worktrees are in `guarded` mode, the hooks come from `switchman-hook hooks install`, and each
measured run commits freshly rewritten staged files in agent-a. Three variants are interleaved
(the order rotates every round) after a warm-up: `bare` (an empty core.hooksPath), `pre-commit`
(only our pre-commit script) and `all hooks` (pre-commit + post-commit, as installed). The table
gives median / min / max wall time and the hook overhead (median minus bare median).

    .venv/bin/python benchmarks/bench_hooks.py            # both sizes, 9 runs each
    .venv/bin/python benchmarks/bench_hooks.py --quick    # smaller sizes, well under a minute
    .venv/bin/python benchmarks/bench_hooks.py --only small --runs 15

Stdlib only (plus this package). Never a timed assertion: this prints numbers for
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"
CONSOLE = Path(sys.executable).parent / "switchman-hook"
TARGETS_MS = {"small": 60.0, "large": 120.0}  # issue 3: pre-commit overhead at the full sizes


@dataclass(frozen=True)
class Scenario:
    name: str
    files: int
    other_claims: int  # held by agent-b
    own_claims: int  # held by agent-a
    staged: int  # files agent-a rewrites and commits each run

    @property
    def key(self) -> str:
        return f"{self.name}-{self.files}f-{self.other_claims}c-{self.own_claims}o-{self.staged}s"


FULL_SIZES = (Scenario("small", 10_000, 0, 10, 10), Scenario("large", 100_000, 5_000, 1_000, 1_000))


def path_of(i: int) -> str:
    """A plausible tree: 50 files per directory, 20 directories per module."""
    return f"src/m{i // 1000:03d}/d{(i // 50) % 20:02d}/f{i % 50:02d}.py"


# --- environment --------------------------------------------------------------------------------


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SWITCHMAN_", "PRE_COMMIT"))}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_AUTHOR_NAME="Bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="Bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
        PATH=f"{CONSOLE.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def run(args: list[str], cwd: Path, env: dict[str, str], input: bytes | None = None) -> bytes:
    proc = subprocess.run(args, cwd=cwd, env=env, input=input, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}:\n{proc.stderr.decode(errors='replace')}")
    return proc.stdout


# --- building -------------------------------------------------------------------------------------


def _small_content(i: int) -> bytes:
    return f"# file {i}\nVALUE = {i}\n".encode()


def fast_import(
    root: Path,
    files: int,
    env: dict[str, str],
    *,
    path_for: Callable[[int], str] = path_of,
    content_for: Callable[[int], bytes] = _small_content,
    ref: str = "refs/heads/main",
    parent: str | None = None,
    indices: Iterable[int] | None = None,
) -> None:
    """One commit holding `files` files (or just `indices`, on top of `parent`), written straight
    into the object store. benchmarks/run.py reuses it with its own layout and file sizes."""
    head = b"commit %s\ncommitter Bench <bench@example.invalid> 1700000000 +0000\ndata 7\ninitial\n" % ref.encode()
    if parent is not None:
        head += b"from %s\n" % parent.encode()
    chunks: list[bytes] = [head]
    for i in indices if indices is not None else range(files):
        data = content_for(i)
        chunks.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path_for(i).encode(), len(data), data))
    chunks.append(b"\n")
    run(["git", "fast-import", "--quiet"], root, env, input=b"".join(chunks))


def build(sc: Scenario, base: Path, env: dict[str, str]) -> Path:
    """Build (or reuse) the scenario's repo; returns agent-a's worktree."""
    home = base / "home"
    root = base / "repo"
    agent_a = base / "agent-a"
    ready = base / "ready"
    if ready.exists():
        return agent_a
    shutil.rmtree(base, ignore_errors=True)
    home.mkdir(parents=True)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n")
    root.mkdir()
    t0 = time.perf_counter()
    run(["git", "init", "-q", "-b", "main"], root, env)
    fast_import(root, sc.files, env)
    run(["git", "read-tree", "HEAD"], root, env)  # the main worktree needs an index, not the files
    run(["git", "worktree", "add", "-q", "-b", "agent-a", str(agent_a), "main"], root, env)
    run(["git", "worktree", "add", "-q", "--no-checkout", "-b", "agent-b", str(base / "agent-b"), "main"], root, env)
    run([str(CONSOLE), "init", "--mode", "guarded"], root, env)
    own = [path_of(i) for i in range(sc.own_claims)]
    other = [path_of(sc.files - 1 - i) for i in range(sc.other_claims)]
    for worktree, paths in (("agent-a", own), ("agent-b", other)):
        task = run([str(CONSOLE), "task", "add", f"work in {worktree}"], root, env).decode().split()[-1]
        run([str(CONSOLE), "lease", "acquire", task, worktree], root, env)
        for i in range(0, len(paths), 2000):
            run([str(CONSOLE), "claim", task, worktree, *paths[i : i + 2000]], root, env)
    run([str(CONSOLE), "hooks", "install"], root, env)
    hooks = Path(run(["git", "rev-parse", "--path-format=absolute", "--git-path", "hooks"], root, env).decode().strip())
    (base / "nohooks").mkdir()
    (base / "precommit-only").mkdir()
    shutil.copy2(hooks / "pre-commit", base / "precommit-only" / "pre-commit")
    ready.write_text(f"built in {time.perf_counter() - t0:.1f}s\n")
    return agent_a


# --- timing ---------------------------------------------------------------------------------------


def stage(agent_a: Path, sc: Scenario, rev: int, env: dict[str, str]) -> None:
    paths = [path_of(i) for i in range(sc.staged)]
    for p in paths:
        (agent_a / p).write_text(f"# rewritten, revision {rev}\nVALUE = {rev}\n")
    run(["git", "add", "--pathspec-from-file=-", "--pathspec-file-nul"], agent_a, env, input="\0".join(paths).encode())


def timed_commit(agent_a: Path, hooks_path: Path | None, rev: int, env: dict[str, str], *, silent: bool = True) -> float:
    """Wall time (ms) of `git commit` in `agent_a`; `hooks_path` None = the installed hooks."""
    args = ["git"]
    if hooks_path is not None:
        args += ["-c", f"core.hooksPath={hooks_path}"]
    args += ["commit", "-q", "-m", f"bench {rev}"]
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=agent_a, env=env, capture_output=True)
    elapsed = (time.perf_counter() - t0) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"commit failed ({' '.join(args)}):\n{proc.stderr.decode(errors='replace')}")
    if silent and proc.stderr.strip():
        raise SystemExit(f"the hooks were not silent:\n{proc.stderr.decode(errors='replace')}")
    return elapsed


def heartbeat(root: Path, env: dict[str, str]) -> None:
    """A cached repo's leases went stale since it was built: heartbeat them before timing."""
    import json

    leases = json.loads(run([str(CONSOLE), "lease", "list", "--status", "active", "--json"], root, env))["leases"]
    for lease in leases:
        run([str(CONSOLE), "lease", "heartbeat", lease["id"]], root, env)


def measure(sc: Scenario, cache: Path, runs: int, warmup: int) -> dict[str, list[float]]:
    base = cache / sc.key
    env = clean_env(base / "home")
    agent_a = build(sc, base, env)
    heartbeat(base / "repo", env)
    variants: list[tuple[str, Path | None]] = [
        ("bare", base / "nohooks"),
        ("pre-commit", base / "precommit-only"),
        ("all hooks", None),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    rev = int(time.time())
    for round_no in range(warmup + runs):
        shift = round_no % len(variants)
        for name, hooks_path in variants[shift:] + variants[:shift]:
            rev += 1
            stage(agent_a, sc, rev, env)
            ms = timed_commit(agent_a, hooks_path, rev, env)
            if round_no >= warmup:
                times[name].append(ms)
    return times


# --- report ---------------------------------------------------------------------------------------


def fmt(samples: list[float]) -> str:
    return f"{statistics.median(samples):.0f} / {min(samples):.0f} / {max(samples):.0f}"


def table(results: list[tuple[Scenario, dict[str, list[float]]]], runs: int) -> str:
    lines = [
        f"git commit wall time in ms, median / min / max of {runs} interleaved runs after warm-up",
        "",
        "| scenario | files | claims (agent-b) | claims (agent-a) | staged | bare | + pre-commit | + all hooks | pre-commit overhead | all-hooks overhead | target (pre-commit) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sc, t in results:
        bare = statistics.median(t["bare"])
        pre = statistics.median(t["pre-commit"]) - bare
        full = statistics.median(t["all hooks"]) - bare
        target = TARGETS_MS.get(sc.name) if sc in FULL_SIZES else None
        verdict = f"≤ {target:.0f} ms {'ok' if pre <= target else 'MISSED'}" if target else "-"
        lines.append(
            f"| {sc.name} | {sc.files:,} | {sc.other_claims:,} | {sc.own_claims:,} | {sc.staged:,} | {fmt(t['bare'])} "
            f"| {fmt(t['pre-commit'])} | {fmt(t['all hooks'])} | {pre:+.0f} ms | {full:+.0f} ms | {verdict} |"
        )
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    lines += [
        "",
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}, {git_version}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the synthetic repos live")
    parser.add_argument("--runs", type=int, default=9, help="measured runs per variant (≥ 7 recommended)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--only", choices=["small", "large"], help="run one scenario")
    parser.add_argument("--quick", action="store_true", help="small sizes and 7 runs: well under a minute")
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--small-claims", type=int, default=10)
    parser.add_argument("--large-files", type=int, default=100_000)
    parser.add_argument("--large-claims", type=int, default=5_000)
    parser.add_argument("--large-staged", type=int, default=1_000)
    args = parser.parse_args(argv)
    if args.quick:
        args.small_files, args.small_claims = 2_000, 10
        args.large_files, args.large_claims, args.large_staged = 10_000, 500, 100
        args.runs, args.warmup = 7, 1
    if not CONSOLE.exists():
        raise SystemExit(f"{CONSOLE} not found: run with the interpreter of the environment switchman-hook is installed in")
    scenarios = [
        Scenario("small", args.small_files, 0, args.small_claims, args.small_claims),
        Scenario("large", args.large_files, args.large_claims, args.large_staged, args.large_staged),
    ]
    if args.only:
        scenarios = [s for s in scenarios if s.name == args.only]
    results = []
    for sc in scenarios:
        print(f"… {sc.key}", file=sys.stderr, flush=True)
        results.append((sc, measure(sc, args.cache, args.runs, args.warmup)))
    print(table(results, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
