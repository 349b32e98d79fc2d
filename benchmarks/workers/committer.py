"""One agent committing K files C times through the hooks; prints JSON latencies and errors.

argv: worktree, env JSON, K, commits, first file index, tag, hooks dir ("" = installed), benchmarks dir."""

import json
import os
import subprocess
import sys
import time

wt, env_json, k, commits, start, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
hooks = sys.argv[7] if len(sys.argv) > 7 else ""
env = json.loads(env_json)
sys.path.insert(0, sys.argv[8])
from lib.content import content_of, path_of  # noqa: E402

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
