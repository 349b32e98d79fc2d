"""Quarantine: set an unowned new write aside without ever losing a byte (SPEC §1 strict mode).

An untracked file is moved under the quarantine dir; a modified tracked file is copied there
(fsynced, blob id checked) and then restored from the index; a deleted tracked file is put back.
Nothing is removed or replaced before an identical, fsynced copy exists, nothing is overwritten
(`~N` suffixes), symlinks move as links, and a file that changes meanwhile is left in place with a
warning. `monitor` decides what to quarantine and records it; this module only moves files.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from . import fingerprints
from .cli_quote import shown
from .errors import SwitchmanError
from .fingerprints import DELETED, Change
from .ownership import Decision
from .repo import run_git


@dataclass(frozen=True)
class Outcome:
    change: Change
    decision: Decision
    action: str | None = None  # moved | restored; None when left in place
    quarantine_path: str | None = None
    fingerprint: str | None = None  # blob id of what was preserved
    warning: str | None = None
    failure: str | None = None


def message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, SwitchmanError) else str(exc)


class _Skip(Exception):
    """The path is left in place on purpose (a warning, not a failure)."""


def quarantine_all(
    root: str,
    candidates: list[Change],
    decisions: Mapping[str, Decision],
    *,
    env: Mapping[str, str],
    dest_root: str,
    state_dir: str,
) -> list[Outcome]:
    tracked = [c.path for c in candidates if c.kind in ("unstaged", "deleted")]
    index: dict[str, tuple[str, str, str]] = {}
    index_error: str | None = None
    if tracked:
        try:
            index = _index_entries(root, tracked, env)
        except (SwitchmanError, OSError) as exc:
            index_error = message(exc)
    state_real = os.path.realpath(state_dir)
    outcomes = []
    for ch in candidates:
        d = decisions[ch.path]
        try:
            full = _checked_path(root, ch.path, state_real)
            if ch.kind in ("unstaged", "deleted") and index_error is not None:
                raise OSError(f"cannot read the index: {index_error}")
            outcomes.append(_quarantine_one(root, full, ch, d, index.get(ch.path), env=env, dest_root=dest_root))
        except _Skip as exc:
            outcomes.append(Outcome(ch, d, warning=f"{shown(ch.path)}: {exc}"))
        except (SwitchmanError, OSError) as exc:
            outcomes.append(Outcome(ch, d, failure=f"{shown(ch.path)}: quarantine failed, file left in place: {message(exc)}"))
    return outcomes


def _quarantine_one(
    root: str,
    full: str,
    ch: Change,
    d: Decision,
    entry: tuple[str, str, str] | None,
    *,
    env: Mapping[str, str],
    dest_root: str,
) -> Outcome:
    if ch.kind == "untracked":
        if ch.fingerprint == "directory":
            raise _Skip("a directory (nested repository?) is never quarantined; left in place")
        dst = _destination(dest_root, ch.path)
        fp, warning = _move(root, full, dst, ch.fingerprint)
        return Outcome(ch, d, "moved", dst, fp, warning)
    if ch.kind == "unstaged" and ch.fingerprint.startswith("submodule:"):
        raise _Skip("a submodule is never quarantined; left in place")
    if ch.kind in ("unstaged", "deleted"):
        if entry is None:
            raise _Skip("not in the index (staged deletion?); left for the commit gate")
        mode, sha, stage = entry
        if stage != "0":
            raise _Skip("unmerged; left in place")
        if mode not in ("100644", "100755", "120000"):
            raise _Skip(f"index mode {mode} is not a file or symlink; left in place")
        content = _index_content(root, ch.path, mode, sha, env)
        if ch.kind == "deleted":
            if os.path.lexists(full):
                raise _Skip("exists again; left in place")
            _place(full, mode, content)
            _fsync_dir(os.path.dirname(full))
            return Outcome(ch, d, "restored", None, DELETED)
        dst = _destination(dest_root, ch.path)
        fp, warning = _restore(full, dst, ch.fingerprint, mode, content)
        return Outcome(ch, d, "restored", dst, fp, warning)
    if ch.kind == "staged":
        raise _Skip("staged change (the worktree equals the index); left for the commit gate")
    raise _Skip(f"{ch.kind} change; left in place")


def _move(root: str, full: str, dst: str, expected: str) -> tuple[str, str | None]:
    """Move an untracked file or symlink (never followed) to `dst`; returns its blob id."""
    st = _lstat_file(full)
    os.makedirs(os.path.dirname(dst), mode=0o700, exist_ok=True)
    try:
        os.rename(full, dst)  # same filesystem: atomic, the inode itself moves, nothing is copied
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        return _move_across(root, full, dst, expected, st)
    _fsync_dir(os.path.dirname(dst))
    _fsync_dir(os.path.dirname(full))
    _prune_empty_dirs(root, os.path.dirname(full))
    fp = _fingerprint(dst)
    warning = None if fp == expected else f"changed after it was observed; moved its current content ({fp})"
    return fp, warning


def _move_across(root: str, full: str, dst: str, expected: str, st: os.stat_result) -> tuple[str, str | None]:
    """Another filesystem: copy, verify, then take the source aside and delete it only if unchanged."""
    fp = _copy(full, dst, st)
    if fp != expected:
        os.unlink(dst)  # the source still holds this content
        raise _Skip("changed while being quarantined; left in place (the next pass sees it)")
    aside = _take_aside(full)
    if _fingerprint(aside) != fp:
        _put_back(aside, full)
        raise _Skip(f"changed while being quarantined; left in place (an earlier version is kept at {dst})")
    os.unlink(aside)
    _fsync_dir(os.path.dirname(full))
    _prune_empty_dirs(root, os.path.dirname(full))
    return fp, None


def _restore(full: str, dst: str, expected: str, mode: str, content: bytes) -> tuple[str, str | None]:
    """Copy the worktree version to `dst` (verified), then put the index version in its place."""
    st = _lstat_file(full)
    os.makedirs(os.path.dirname(dst), mode=0o700, exist_ok=True)
    fp = _copy(full, dst, st)
    if fp != expected:
        os.unlink(dst)  # the worktree still holds this content
        raise _Skip("changed while being quarantined; left in place (the next pass sees it)")
    aside = _take_aside(full)
    if _fingerprint(aside) != fp:
        _put_back(aside, full)
        raise _Skip(f"changed while being quarantined; left in place (an earlier version is kept at {dst})")
    warning = None
    try:
        _place(full, mode, content)
    except FileExistsError:
        warning = "recreated while being quarantined; the new file is left in place"
    except OSError:
        _put_back(aside, full)
        raise
    os.unlink(aside)  # identical to the verified copy in the quarantine
    _fsync_dir(os.path.dirname(full))
    return fp, warning


def _copy(src: str, dst: str, st: os.stat_result) -> str:
    """Durable copy of a regular file or a symlink to a new `dst`; returns the copy's blob id as read back."""
    tmp = _temp_name(dst)
    try:
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), tmp)
        else:
            src_fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(src_fd, "rb") as fin:
                if not stat.S_ISREG(os.fstat(fin.fileno()).st_mode):
                    raise _Skip("no longer a regular file; left in place")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
                with os.fdopen(fd, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
                    fout.flush()
                    os.fsync(fout.fileno())
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        fp = _fingerprint(tmp)
        os.rename(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(dst))
    return fp


def _place(full: str, mode: str, content: bytes) -> None:
    """Create `full` with `content` without ever replacing something that exists (FileExistsError)."""
    parent = os.path.dirname(full)
    os.makedirs(parent, exist_ok=True)
    if mode == "120000":
        os.symlink(os.fsdecode(content), full)
        return
    tmp = _temp_name(full)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777 if mode == "100755" else 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, full)  # fails with FileExistsError instead of clobbering
        except FileExistsError:
            raise
        except OSError:  # no hard links on this filesystem
            if os.path.lexists(full):
                raise FileExistsError(errno.EEXIST, "exists", full) from None
            os.rename(tmp, full)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _take_aside(full: str) -> str:
    """Atomically rename `full` to a private name in the same directory."""
    aside = _temp_name(full)
    try:
        os.rename(full, aside)
    except FileNotFoundError:
        raise _Skip("vanished while being quarantined") from None
    return aside


def _put_back(aside: str, full: str) -> None:
    if not os.path.lexists(full):
        os.rename(aside, full)
        return
    raise _Skip(f"recreated while being quarantined; the previous version is left at {aside}")


# --- git helpers -------------------------------------------------------------------------------


def _index_entries(root: str, paths: list[str], env: Mapping[str, str]) -> dict[str, tuple[str, str, str]]:
    """path -> (mode, blob id, stage) for the index entries of `paths` (stage 0 preferred)."""
    out: dict[str, tuple[str, str, str]] = {}
    for i in range(0, len(paths), 500):
        chunk = paths[i : i + 500]
        raw = run_git(["--literal-pathspecs", "ls-files", "-s", "-z", "--", *chunk], root, env=env).stdout
        for rec in raw.split(b"\0"):
            if not rec:
                continue
            meta, _, name = rec.partition(b"\t")
            mode, sha, stage = meta.decode("ascii").split()
            path = os.fsdecode(name)
            if path not in out or stage == "0":
                out[path] = (mode, sha, stage)
    return out


def _index_content(root: str, path: str, mode: str, sha: str, env: Mapping[str, str]) -> bytes:
    """The index version as checkout would write it (smudge/eol filters applied; a link's target)."""
    if mode == "120000":
        return run_git(["cat-file", "blob", sha], root, env=env).stdout
    return run_git(["cat-file", "--filters", f"--path={path}", sha], root, env=env).stdout


def differs_from_head(root: str, paths: list[str], env: Mapping[str, str]) -> dict[str, str]:
    """Of `paths`, those whose index entry differs from HEAD, with the index blob id."""
    proc = run_git(
        ["--literal-pathspecs", "diff-index", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev", "HEAD", "--", *paths],
        root,
        env=env,
        check=False,
    )
    if proc.returncode != 0:  # unborn HEAD: everything in the index is a staged change
        return {p: e[1] for p, e in _index_entries(root, paths, env).items()}
    out: dict[str, str] = {}
    parts = proc.stdout.split(b"\0")
    for meta, name in zip(parts[0::2], parts[1::2], strict=False):
        fields = meta.decode("ascii", "replace").split()
        if len(fields) >= 4:
            out[os.fsdecode(name)] = fields[3]
    return out


# --- small helpers -----------------------------------------------------------------------------


def _checked_path(root: str, path: str, state_real: str) -> str:
    """The absolute path, refusing one that leaves the worktree or enters the state dir."""
    full = os.path.join(root, path)
    parent = os.path.dirname(full)
    expected = os.path.normpath(os.path.join(root, os.path.dirname(path)))
    if os.path.isabs(path) or ".." in path.split("/") or not (expected == root or expected.startswith(root + os.sep)):
        raise _Skip("path leaves the worktree; left in place")
    real = os.path.realpath(parent)  # resolves the existing part even if the rest is gone
    if real != expected:
        raise _Skip("path goes through a symlinked directory; left in place")
    if real == state_real or real.startswith(state_real + os.sep):
        raise _Skip("inside the switchman state directory; left in place")
    return full


def _lstat_file(full: str) -> os.stat_result:
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        raise _Skip("vanished before it could be quarantined") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise _Skip("not a regular file or symlink; left in place")
    return st


def _destination(dest_root: str, path: str) -> str:
    """`<dest_root>/<path>`, never an existing name (a numeric suffix is added instead)."""
    dst = os.path.join(dest_root, path)
    candidate, n = dst, 1
    while os.path.lexists(candidate):
        candidate = f"{dst}~{n}"
        n += 1
    return candidate


def _temp_name(near: str) -> str:
    head, tail = os.path.split(near)
    return os.path.join(head, f".{tail}.switchman-{os.getpid()}-{os.urandom(4).hex()}")


def _fingerprint(full: str) -> str:
    """Blob id as `fingerprints.file_fingerprint` computes it, but never blocking on a FIFO or
    following a symlink swapped in meanwhile: anything else than a file or link is `special`."""
    try:
        st = os.lstat(full)
    except (FileNotFoundError, NotADirectoryError):
        return DELETED
    if stat.S_ISLNK(st.st_mode):
        return fingerprints.blob_id(os.fsencode(os.readlink(full)))
    if not stat.S_ISREG(st.st_mode):
        return f"special:{stat.S_IFMT(st.st_mode):o}"
    fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        fst = os.fstat(fh.fileno())
        if not stat.S_ISREG(fst.st_mode):
            return f"special:{stat.S_IFMT(fst.st_mode):o}"
        h = hashlib.sha1(b"blob %d\0" % fst.st_size)
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _prune_empty_dirs(root: str, path: str) -> None:
    """Remove directories below `root` the move left empty (rmdir refuses non-empty ones)."""
    while path.startswith(root + os.sep):
        try:
            os.rmdir(path)
        except OSError:
            return
        path = os.path.dirname(path)
