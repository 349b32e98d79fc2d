"""Which commits a push sends and a CI range holds, walked as git sends them (SPEC §10).

Every git here runs through `repo.run_git`, which turns replace objects and grafts off (git sends
real objects, so the judgement walks real parents) and runs the git the hook was started by.
Exclusions are only what the remote already has: the remote oids git hands the pre-push hook
(when they exist here), the refs the remote advertises (`git ls-remote`, asked only when a ref is
new or its remote oid is unknown here) and the fixed baseline of history before `init`. Never a
local remote-tracking ref (`--remotes=<name>`): any process can move one.

Notes and switchman refs (`refs/notes/*`, `refs/switchman/*`) hold notes and checkpoint commits,
never code: a range pushed to one is not judged for commit provenance (`skipped` in the range),
and a remote ref in those namespaces never counts as "the remote has it" for another range, so a
code commit parked there first gains nothing when it is later pushed to a branch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..repo import GitError, run_git

UNJUDGED_NAMESPACES = {"refs/notes/": "notes_ref", "refs/switchman/": "switchman_ref"}
ZERO_OIDS = ("0" * 40, "0" * 64)


def unjudged(remote_ref: str) -> str | None:
    """Why a range pushed to `remote_ref` is not judged for provenance, or None (it is)."""
    for prefix, why in UNJUDGED_NAMESPACES.items():
        if remote_ref.startswith(prefix):
            return why
    return None


def _is_zero(oid: str) -> bool:
    return set(oid) == {"0"}


def range_commits(cwd: str, env: Mapping[str, str] | None, tips: Iterable[str], exclude: Iterable[str]) -> list[str]:
    """`rev-list TIPS --not EXCLUDE...` with real parents; exclusions missing here are ignored.

    One `--not` for every exclusion (given on stdin: a remote may advertise thousands of refs).
    """
    tips = list(tips)
    if not tips:
        return []
    negated = "".join(f"^{oid}\n" for oid in dict.fromkeys(exclude) if oid)
    args = ["rev-list", "--ignore-missing", "--stdin", *tips]
    out = run_git(args, cwd, env=env, input=negated.encode("ascii", "replace")).stdout
    return out.decode("ascii", "replace").split()


def advertised(cwd: str, env: Mapping[str, str] | None, remote: str) -> list[str]:
    """The oids the remote advertises, outside the unjudged namespaces (`git ls-remote`)."""
    if not remote or remote.startswith("-"):
        raise GitError(f"cannot ask the remote {remote!r} what it has", "push to a named remote or a URL")
    child = dict(os.environ if env is None else env)
    child.setdefault("GIT_TERMINAL_PROMPT", "0")  # never stall a hook on a password prompt
    proc = run_git(["ls-remote", "--", remote], cwd, env=child, check=False)
    if proc.returncode != 0:
        err = os.fsdecode(proc.stderr).strip().splitlines()
        raise GitError(
            f"could not list what {remote} has: {err[-1] if err else 'ls-remote failed'}",
            "check the remote is reachable, then push again",
        )
    oids: list[str] = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        oid, _, ref = line.partition("\t")
        if oid and unjudged(ref.removesuffix("^{}")) is None:
            oids.append(oid)
    return oids


def _present(cwd: str, env: Mapping[str, str] | None, oids: list[str]) -> set[str]:
    """Which of `oids` exist here (one `cat-file --batch-check`)."""
    if not oids:
        return set()
    proc = run_git(["cat-file", "--batch-check=%(objectname)"], cwd, env=env, input="".join(f"{o}\n" for o in oids).encode(), check=False)
    return {ln for ln in proc.stdout.decode("ascii", "replace").split() if ln in oids}


def pushed_commits(
    cwd: str,
    env: Mapping[str, str] | None,
    remote: str,
    url: str,
    ref_lines: list[str],
    baseline: list[str],
) -> tuple[list[str], list[dict[str, Any]]]:
    """(new commits git sends for `ref_lines`, one range record per pushed ref).

    `ref_lines` are pre-push's `<local ref> <local oid> <remote ref> <remote oid>` lines. A
    deleted ref sends nothing; a ref under `refs/notes/` or `refs/switchman/` is recorded as
    skipped. The remote is asked (`ls-remote` of the remote's name, else the URL) only when a judged
    ref is new there or its remote oid is not known here.
    """
    parsed: list[tuple[str, str, str, str]] = []
    for line in ref_lines:
        fields = line.split()
        if len(fields) >= 4:
            parsed.append((fields[0], fields[1], fields[2], fields[3]))
    judged = [p for p in parsed if not _is_zero(p[1]) and unjudged(p[2]) is None]
    remote_oids = [p[3] for p in judged if not _is_zero(p[3])]
    have = _present(cwd, env, list(dict.fromkeys(remote_oids)))
    exclude = [o for o in remote_oids if o in have]
    if any(_is_zero(p[3]) or p[3] not in have for p in judged):
        exclude += advertised(cwd, env, remote or url)
    exclude += baseline
    commits: list[str] = []
    seen: set[str] = set()
    ranges: list[dict[str, Any]] = []
    for local_ref, local_sha, remote_ref, _remote_sha in parsed:
        if _is_zero(local_sha):
            continue
        skipped = unjudged(remote_ref)
        if skipped is not None:
            ranges.append({"local_ref": local_ref, "remote_ref": remote_ref, "commits": 0, "skipped": skipped})
            continue
        listed = range_commits(cwd, env, [local_sha], exclude)
        ranges.append({"local_ref": local_ref, "remote_ref": remote_ref, "commits": len(listed)})
        for c in listed:
            if c not in seen:
                seen.add(c)
                commits.append(c)
    return commits, ranges
