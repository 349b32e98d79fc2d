"""The notes ref the receipts travel in: `refs/notes/switchman`, one receipt per line per commit.

Why not `git notes add`: it moves the ref without compare-and-swap, and concurrent agents lost
3-14 of 40 notes that way (DESIGN "Receipts"). Here one `git fast-import` builds the new notes
commit (blobs, fan-out trees, commit) without touching any ref, and `git update-ref REF NEW OLD`
moves the ref only if nobody else did in between; a lost race rereads and retries with bounded,
jittered backoff. A note's content is the sorted set of its lines (`cat_sort_uniq`, what
`git notes merge -s cat_sort_uniq` produces too): lines are never dropped, identical lines kept
once, and the same set of receipts is the same blob wherever it was merged.

Reads take a constant number of git processes (`ls-tree` + one `cat-file --batch`): one process
per note costs 0.4-1 s per 100 notes, batched it is milliseconds.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterable, Mapping, Sequence

from ..repo import GitError, git_env, run_git

REF = "refs/notes/switchman"
ATTEMPTS = 20
# fast-import needs a branch name to build a commit on; `reset` at the end leaves it unwritten.
_SCRATCH = "refs/switchman/receipts-import"
_COMMITTER = "switchman-hook <switchman-hook@localhost>"
_HEX = frozenset("0123456789abcdef")


def _is_oid(text: str) -> bool:
    return len(text) in (40, 64) and set(text) <= _HEX


def _env(env: Mapping[str, str] | None) -> dict[str, str]:
    # Not GIT_INDEX_FILE & co. of a hook's worktree: notes live in the common object store.
    return dict(env) if env is not None else git_env(for_other_worktree=True)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def note_lines(content: str) -> list[str]:
    """The lines of one note, blank lines left out."""
    return [line for line in content.split("\n") if line]


def merge_lines(*groups: Iterable[str]) -> list[str]:
    """`cat_sort_uniq`: the union of the lines, sorted by their bytes, each once."""
    return sorted({line for group in groups for line in group if line}, key=_encode)


def _note_text(lines: Sequence[str]) -> bytes:
    return b"".join(_encode(line) + b"\n" for line in lines)


# --- reading -----------------------------------------------------------------------------------


def _cat_batch(cwd: str, names: Sequence[str], env: Mapping[str, str]) -> list[tuple[str, str, bytes] | None]:
    """One `git cat-file --batch` for many names: (oid, type, content), or None when missing."""
    if not names:
        return []
    data = b"".join(_encode(n) + b"\n" for n in names)
    proc = run_git(["cat-file", "--batch", "--buffer"], cwd, env=env, input=data)
    out = proc.stdout
    result: list[tuple[str, str, bytes] | None] = []
    pos = 0
    for _ in names:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split(b" ")
        pos = nl + 1
        if len(header) != 3 or not header[2].isdigit():  # "<name> missing" / "ambiguous"
            result.append(None)
            continue
        size = int(header[2])
        result.append((header[0].decode("ascii"), header[1].decode("ascii"), out[pos : pos + size]))
        pos += size + 1
    return result


def ref_oid(cwd: str, ref: str = REF, *, env: Mapping[str, str] | None = None) -> str | None:
    """The commit a notes ref (or any commit-ish) names, or None when there is none."""
    proc = run_git(["rev-parse", "-q", "--verify", f"{ref}^{{commit}}"], cwd, env=_env(env), check=False)
    oid = proc.stdout.decode("ascii", "replace").strip()
    return oid if proc.returncode == 0 and _is_oid(oid) else None


def read_all(cwd: str, ref: str = REF, *, env: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Every note under `ref` (a ref name or a notes commit id): {commit: [lines]}.

    Two git processes whatever the number of notes: `ls-tree -r` maps fan-out paths to commits,
    one `cat-file --batch` reads the blobs (each distinct blob once).
    """
    e = _env(env)
    proc = run_git(["ls-tree", "-r", "-z", "--full-tree", ref, "--"], cwd, env=e, check=False)
    if proc.returncode != 0:
        if ref_oid(cwd, ref, env=e) is None:
            return {}
        raise GitError(_decode(proc.stderr).strip() or f"cannot read {ref}", f"check {ref} with `git ls-tree {ref}`")
    blobs: dict[str, str] = {}  # commit -> blob
    for record in proc.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        parts = meta.split(b" ")
        commit = path.replace(b"/", b"").decode("ascii", "replace")
        if len(parts) == 3 and parts[1] == b"blob" and _is_oid(commit):
            blobs[commit] = parts[2].decode("ascii")
    unique = sorted(set(blobs.values()))
    contents = {oid: got[2] for oid, got in zip(unique, _cat_batch(cwd, unique, e), strict=True) if got is not None}
    return {commit: note_lines(_decode(contents.get(blob, b""))) for commit, blob in blobs.items()}


def _fanout_paths(commit: str) -> list[str]:
    # git notes spreads notes over 0..n levels of 2-hex-digit directories as the tree grows.
    return [commit] + ["/".join([*(commit[i : i + 2] for i in range(0, 2 * n, 2)), commit[2 * n :]]) for n in (1, 2, 3)]


def _current(cwd: str, ref: str, commits: Sequence[str], env: Mapping[str, str]) -> tuple[str | None, dict[str, list[str]]]:
    """(old tip, {commit: existing lines}) in one `cat-file --batch`.

    The paths are read through the ref name, so a writer that moves the ref between the first
    line and the rest can hand us newer notes than the tip we saw: harmless, because we then
    lose the compare-and-swap against that tip and read again.
    """
    names = [ref]
    for commit in commits:
        names += [f"{ref}:{p}" for p in _fanout_paths(commit)]
    got = _cat_batch(cwd, names, env)
    tip = got[0][0] if got[0] is not None and got[0][1] == "commit" else None
    existing: dict[str, list[str]] = {}
    if tip is None:
        return None, existing
    for i, commit in enumerate(commits):
        lines: list[str] = []
        for hit in got[1 + 4 * i : 5 + 4 * i]:
            if hit is not None and hit[1] == "blob":
                lines += note_lines(_decode(hit[2]))
        if lines:
            existing[commit] = lines
    return tip, existing


def lines_for(cwd: str | os.PathLike[str], commits: Sequence[str], *, ref: str = REF, env: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """{commit: receipt lines} for just these commits (one `cat-file --batch`, not the whole ref)."""
    if not commits:
        return {}
    return _current(os.fspath(cwd), ref, list(commits), _env(env))[1]


# --- writing -----------------------------------------------------------------------------------


def _fast_import(
    cwd: str, tip: str | None, notes: Mapping[str, Sequence[str]], merge: str | None, message: str, env: Mapping[str, str]
) -> str:
    """Build a notes commit on `tip` (+ `merge` as second parent) and return its id; no ref moves."""
    msg = _encode(message)
    out = [b"commit %s\nmark :1\ncommitter %s %d +0000\ndata %d\n%s\n" % (
        _SCRATCH.encode(), _COMMITTER.encode(), int(time.time()), len(msg), msg)]
    if tip is not None:
        out.append(b"from %s\n" % tip.encode())
    if merge is not None:
        out.append(b"merge %s\n" % merge.encode())
    for commit in sorted(notes):
        body = _note_text(notes[commit])
        out.append(b"N inline %s\ndata %d\n%s\n" % (commit.encode(), len(body), body))
    out.append(b"\nget-mark :1\nreset %s\n\n" % _SCRATCH.encode())
    proc = run_git(["fast-import", "--quiet", "--date-format=raw"], cwd, env=env, input=b"".join(out))
    oid = proc.stdout.decode("ascii", "replace").strip().splitlines()[-1:]
    if not oid or not _is_oid(oid[0]):
        raise GitError("git fast-import did not report the notes commit", "check `git fast-import` works here")
    return oid[0]


def _cas(cwd: str, ref: str, new: str, old: str | None, env: Mapping[str, str]) -> bool:
    """`git update-ref REF NEW OLD`: True if the ref moved from exactly `old` (None: absent)."""
    want = old if old is not None else "0" * len(new)
    proc = run_git(["update-ref", "-m", "switchman-hook: receipts", ref, new, want], cwd, env=env, check=False)
    return proc.returncode == 0


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.25, 0.004 * (2**attempt))))


def _check_input(receipts: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    clean: dict[str, list[str]] = {}
    for commit, lines in receipts.items():
        if not _is_oid(commit):
            raise ValueError(f"not a full lowercase commit id: {commit!r}")
        lines = list(lines)
        if any("\n" in line or "\r" in line for line in lines):
            raise ValueError("a receipt line must not contain a line break")
        clean[commit] = [line for line in lines if line]
    return clean


def _write(
    cwd: str,
    ref: str,
    receipts: Mapping[str, Sequence[str]],
    *,
    merge: str | None,
    env: Mapping[str, str] | None,
    attempts: int,
) -> str | None:
    e = _env(env)
    commits = sorted(receipts)
    last = ""
    for attempt in range(attempts):
        tip, existing = _current(cwd, ref, commits, e)
        if merge is not None and tip is not None and _is_ancestor(cwd, merge, tip, e):
            return tip  # already merged
        if merge is not None and (tip is None or _is_ancestor(cwd, tip, merge, e)):
            new: str | None = merge  # fast-forward: adopt theirs, no new commit
        else:
            changed = {}
            for commit in commits:
                merged = merge_lines(existing.get(commit, ()), receipts[commit])
                if merged != existing.get(commit, []):
                    changed[commit] = merged
            if not changed and merge is None:
                return tip  # every line already there
            what = f"Merge receipts from {merge}" if merge else f"Receipts for {len(changed)} commit(s)"
            new = _fast_import(cwd, tip, changed, merge, what, e)
        if _cas(cwd, ref, new, tip, e):
            return new
        last = f"{ref} moved while writing (attempt {attempt + 1})"
        _backoff(attempt)
    raise GitError(
        f"could not update {ref} after {attempts} attempts: {last}",
        "retry; if it persists, check who else writes the notes ref",
        code="receipts_notes_busy",
    )


def _is_ancestor(cwd: str, a: str, b: str, env: Mapping[str, str]) -> bool:
    if a == b:
        return True
    return run_git(["merge-base", "--is-ancestor", a, b], cwd, env=env, check=False).returncode == 0


def append(
    cwd: str | os.PathLike[str],
    receipts: Mapping[str, Iterable[str]],
    *,
    ref: str = REF,
    env: Mapping[str, str] | None = None,
    attempts: int = ATTEMPTS,
) -> str | None:
    """Add receipt lines to commits' notes, safe against concurrent writers.

    `receipts` is {commit id: [line, ...]}; existing lines stay, identical lines are kept once.
    Returns the notes commit now at `ref` (None only if nothing was written and there is none).
    Three git processes per attempt: `cat-file --batch`, `fast-import`, `update-ref`.
    """
    clean = _check_input(receipts)
    if not any(clean.values()):
        return ref_oid(os.fspath(cwd), ref, env=env)
    return _write(os.fspath(cwd), ref, {c: v for c, v in clean.items() if v}, merge=None, env=env, attempts=attempts)


def merge_into(
    cwd: str | os.PathLike[str],
    other: str,
    *,
    ref: str = REF,
    env: Mapping[str, str] | None = None,
    attempts: int = ATTEMPTS,
) -> str:
    """Union a fetched notes commit `other` into `ref` (cat_sort_uniq), for the push path.

    The result has `other` as an ancestor (a fast-forward when `ref` has nothing new, a merge
    commit with parents [local, other] otherwise), so pushing it to where `other` came from is a
    fast-forward: the remote never loses a receipt and never needs a force push.
    """
    where = os.fspath(cwd)
    e = _env(env)
    theirs = ref_oid(where, other, env=e)
    if theirs is None:
        raise GitError(f"{other} is not a notes commit", "fetch the remote notes ref first")
    result = _write(where, ref, read_all(where, theirs, env=e), merge=theirs, env=e, attempts=attempts)
    assert result is not None
    return result
