#!/usr/bin/env python3
"""Do we still need two glob engines? Time the hook's glob question with each.

The hook asks, for every judged path, whether another lease's scope globs cover it (at 100k
files, N = 5,000 scopes, K = 1,000 staged paths: benchmarks/run.py's commit-100k-n5000-k1000).
Three ways to answer, on the same globs and paths:

* `nfa`: the reference automaton alone (`globs.nfa.tokens_match` over every glob, parsed once);
* `matcher`: the fast `globs.matcher.Matcher` (literal dicts, prefix buckets, pathspec regexes);
* `pathspec`: a plain `pathspec.GitIgnoreSpec` (what SPEC §4 names), for scale.

Each is timed from scratch (build included: a hook process builds its matcher once) and the
answers are compared path by path. Prints one markdown table; median of --runs.

    .venv/bin/python benchmarks/bench_globs.py                  # 5,000 globs x 1,000 paths
    .venv/bin/python benchmarks/bench_globs.py --globs 500 --paths 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pathspec  # noqa: E402
from lib.content import path_of, scope_globs  # noqa: E402

from switchman.globs import syntax  # noqa: E402
from switchman.globs.matcher import Matcher  # noqa: E402
from switchman.globs.nfa import tokens_match  # noqa: E402
from switchman.globs.syntax import parse  # noqa: E402


def judged_paths(count: int) -> list[str]:
    """Mostly paths no scope covers (agent-a's own files), a third that some scope does."""
    out: list[str] = []
    for i in range(count):
        m, d = 1 + (i // 100) % 900, (i // 5) % 20
        kind = i % 6
        if kind == 0:
            out.append(f"src/m{m:03d}/d{d:02d}/s0/f{i}.py")  # under src/mNNN/dNN/s0/**
        elif kind == 1:
            out.append(f"docs/m{m:03d}/d{d:02d}/a/b/readme_{i}.md")  # docs/.../**/*.md
        else:
            out.append(path_of(i * 97 % 100_000))
    return out


def nfa_engine(globs: list[str]) -> Callable[[str], bool]:
    tokens = [parse(g).tokens for g in globs]
    return lambda path: any(tokens_match(t, path.split("/")) for t in tokens)


def matcher_engine(globs: list[str]) -> Callable[[str], bool]:
    return Matcher(globs).match


def pathspec_engine(globs: list[str]) -> Callable[[str], bool]:
    return pathspec.GitIgnoreSpec.from_lines(globs).match_file


ENGINES = {"nfa": nfa_engine, "matcher": matcher_engine, "pathspec": pathspec_engine}


def timed(engine: Callable[[list[str]], Callable[[str], bool]], globs: list[str], paths: list[str]) -> tuple[float, float, list[bool]]:
    syntax._parse_str.cache_clear()  # parsing is cached: every engine parses afresh
    syntax.pathspec_regex.cache_clear()
    t0 = time.perf_counter()
    match = engine(globs)
    t1 = time.perf_counter()
    answers = [match(p) for p in paths]
    t2 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t1) * 1000, answers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--globs", type=int, default=5_000)
    ap.add_argument("--paths", type=int, default=1_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    globs = scope_globs(args.globs)
    paths = judged_paths(args.paths)
    rows = []
    reference: list[bool] | None = None
    for name, engine in ENGINES.items():
        builds, matches = [], []
        for _ in range(args.runs):
            build_ms, match_ms, answers = timed(engine, globs, paths)
            builds.append(build_ms)
            matches.append(match_ms)
        if reference is None:
            reference = answers
        agree = sum(a == b for a, b in zip(answers, reference, strict=True))
        rows.append((name, statistics.median(builds), statistics.median(matches), sum(answers), agree))
    print(f"{args.globs:,} globs x {args.paths:,} paths, median of {args.runs} runs (ms)\n")
    print("| engine | build | match all paths | per path | paths covered | agrees with nfa |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, build, match, hits, agree in rows:
        print(f"| {name} | {build:.1f} | {match:.1f} | {match / len(paths) * 1000:.1f} µs | {hits} | {agree}/{len(paths)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
