"""Where things are, the shape of the synthetic repositories and the targets the cases judge."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]  # benchmarks/
ROOT = HERE.parent
WORKERS = HERE / "workers"
DEFAULT_CACHE = HERE / ".cache"
PY = str(Path(sys.executable))
OWN_CLAIMS = 1_000  # agent-a claims this many files; a commit stages the first K of them
FLEET = 8  # worktrees in the monitor / concurrency repositories
DIRTY = 50  # dirty files per worktree for `monitor once`
PUSH_COMMITS = 100
LAYOUT = 2  # bump when the synthetic repositories change shape: cached ones are rebuilt

# Whole `git commit` minus a bare one (issue 15): (with the helper, without it or None), by
# (tracked files, foreign claims and globs, staged files).
TARGET_COMMIT = {(10_000, 10, 10): (40.0, 60.0), (100_000, 5_000, 1_000): (100.0, None)}
TARGET_STRICT_RATIO = 1.3
TARGET_VERIFY_1M_S = 10.0
TARGET_APPENDS = 5_000.0
TARGET_P99_MS = 500.0  # issue 15: 8 committers through the helper (issue 6 asked 1,000)
