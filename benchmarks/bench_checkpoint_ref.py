"""Does the direct loose-object/ref access of `checkpoint.ref.FilesRepo` still pay against git?

    python benchmarks/bench_checkpoint_ref.py [N]

Times, per call, writing a note blob (`FilesRepo.write_blob` vs `git hash-object -w --stdin`)
and reading the ref and its blob (`FilesRepo` vs `git cat-file --batch`), best of 3 runs of N.
A checkpointing hook does one of each; if the direct path stops saving a git process's worth,
delete `FilesRepo` and let `ref` call git.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchman.checkpoint.ref import REF, FilesRepo, cat_batch  # noqa: E402
from switchman.repo import git_env, run_git  # noqa: E402


def per_call_ms(fn: Callable[[int], object], n: int) -> float:
    best = []
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        best.append((time.perf_counter() - start) / n * 1000)
    return min(best)


def main(n: int = 200) -> None:
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["git", "init", "-q", d], check=True)
        env = git_env(for_other_worktree=True)
        repo = FilesRepo.at(d)
        assert repo is not None
        w_direct = per_call_ms(lambda i: repo.write_blob(b"note direct %d\n" % i + os.urandom(8)), n)
        w_git = per_call_ms(
            lambda i: run_git(["hash-object", "-w", "--stdin"], d, env=env, input=b"note git %d\n" % i + os.urandom(8)), n
        )
        oid = repo.write_blob(b"x\n")
        assert oid is not None
        run_git(["update-ref", REF, oid], d, env=env)
        r_direct = per_call_ms(lambda i: repo.read_object(repo.ref_oid(REF) or ""), n)
        r_git = per_call_ms(lambda i: cat_batch(d, [REF], env), n)
    print(f"write blob:    FilesRepo {w_direct:.3f} ms, git hash-object -w  {w_git:.3f} ms")
    print(f"read ref+blob: FilesRepo {r_direct:.3f} ms, git cat-file --batch {r_git:.3f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
