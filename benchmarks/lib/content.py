"""Synthetic file names and contents, and the glob scopes another agent reserves."""

from __future__ import annotations

from .config import DIRTY


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


def fleet_files(files: int, j: int) -> list[str]:
    start = ((j - 1) * 1000) % files
    return [path_of(start + t) for t in range(DIRTY)]
