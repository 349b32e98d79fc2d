"""Running and timing processes."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from bench_hooks import run


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


def git(cwd: Path, env: dict[str, str], *args: str, input: bytes | None = None) -> bytes:
    return run(["git", *args], cwd, env, input=input)


def collect_committers(ps: list) -> tuple[list[float], list[str]]:  # type: ignore[type-arg]
    """Wait for the committer workers (workers/committer.py): every commit's latency, every error."""
    import json

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
