"""doctor's `receipts` check: are receipts being written, and do they reach the remote? (SPEC §11)

Read-only and offline: the local notes ref against the recorded commits on local branches, and
against the side ref the last receipts push left for the remote (`receipts.push.side_ref`).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..receipts import notes
from ..receipts.push import side_ref
from ..repo import run_git
from ..store import gate_runs
from .context import Check, Ctx, check, listed

RECENT = 2000  # recorded commits looked at: the newest, enough to see the hooks stopped signing


def _remote(c: Ctx) -> str | None:
    proc = run_git(["remote"], c.root, env=c.env, check=False)
    names = proc.stdout.decode("utf-8", "replace").split()
    return "origin" if "origin" in names else (names[0] if names else None)


def receipts_check(c: Ctx) -> Iterator[Check]:
    assert c.conn is not None
    recorded = set(gate_runs.recent_commits(c.conn, RECENT))
    on_branches: set[str] = set()
    if recorded:
        proc = run_git(["--no-replace-objects", "rev-list", "--branches", "-n", str(RECENT * 2)], c.root, env=c.env, check=False)
        on_branches = set(proc.stdout.decode("ascii", "replace").split()) & recorded
    have = notes.read_all(c.root, env=c.env)
    missing = sorted(x for x in on_branches if x not in have)
    if missing:
        yield check(
            "receipts", "warn",
            f"{len(missing)} recorded commit(s) on local branches have no receipt: {listed([m[:12] for m in missing])} "
            "(the hooks could not sign: no checkpoint key, or commits made before receipts existed)",
            "switchman-hook doctor  # fix the key/checkpoint checks first; new commits get receipts, "
            "and `gate ci` here falls back on the local rows for these",
        )
        return
    tip = notes.ref_oid(c.root, env=c.env)
    remote = _remote(c)
    if tip is not None and remote is not None:
        pushed = notes.ref_oid(c.root, side_ref(remote), env=c.env)
        ok = pushed is not None and run_git(["merge-base", "--is-ancestor", tip, pushed], c.root, env=c.env, check=False).returncode == 0
        if not ok:
            yield check(
                "receipts", "warn",
                f"local receipts ({notes.REF}) are not on {remote}'s notes ref: CI there cannot verify these commits",
                f"switchman-hook push {remote}  # or: git push {remote} {notes.REF}",
            )
            return
    count = len(on_branches)
    where = f", pushed to {remote}" if tip is not None and remote is not None else ""
    yield check("receipts", "ok", f"{count} recorded commit(s) on local branches carry receipts{where}")
