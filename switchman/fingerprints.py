"""Changed-set discovery by content, and the per-worktree snapshot diff.

Fingerprints are git blob ids, so "changed" means "different bytes", never "newer mtime": a
`touch` is not a change, an edit that keeps size and mtime is. We ask git for the changed set
(`diff --cached` for what is being committed; `status` for the whole worktree) and hash only
those files in-process. The snapshot holds the changed set only — never the whole tree.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping

from .records import Record
from .repo import run_git

ZERO = "0" * 40
DELETED = "deleted"
STATUS_ARGS = ["--no-optional-locks", "status", "--porcelain=v2", "-z", "-uall", "--no-renames", "--ignore-submodules=none"]
# Plumbing, no rename detection: a rename is judged on both sides anyway (deletion + addition),
# and `-M` costs ~30% more on a 100k-file index. GIT_INDEX_FILE (commit -a, commit -- path) is
# honoured through the environment.
DIFF_INDEX_ARGS = ["diff-index", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev", "--ignore-submodules=none"]
DIFF_UNBORN_ARGS = ["diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev", "--no-ext-diff", "--no-textconv", "--ignore-submodules=none"]


class Change(Record):
    path: str
    fingerprint: str  # blob id of the content, or "deleted"
    kind: str  # staged | unstaged | untracked | deleted | renamed | unmerged
    old_path: str | None = None  # the source side of a rename


def blob_id(data: bytes) -> str:
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def file_fingerprint(root: str, path: str) -> str:
    """Blob id of the file as it is on disk (a symlink's target text; markers for the rest).

    Opened O_NOFOLLOW|O_NONBLOCK and checked with fstat, so a FIFO or device planted in a
    worktree can never hang a hook, and the size in the blob header is the size actually read.
    """
    full = os.path.join(root, path)
    try:
        st = os.lstat(full)
    except (FileNotFoundError, NotADirectoryError):
        return DELETED
    except OSError:
        return "unreadable"
    if stat.S_ISLNK(st.st_mode):
        return blob_id(os.fsencode(os.readlink(full)))
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if not stat.S_ISREG(st.st_mode):
        return f"special:{stat.S_IFMT(st.st_mode):o}"
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except (FileNotFoundError, NotADirectoryError):
        return DELETED
    except OSError:
        return "unreadable"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "special:changed"
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    except OSError:
        return "unreadable"
    finally:
        os.close(fd)
    return blob_id(b"".join(chunks))


def staged_changes(cwd: str, env: Mapping[str, str] | None = None) -> list[Change]:
    """What the index being committed changes against HEAD (GIT_INDEX_FILE honoured via env)."""
    proc = run_git([*DIFF_INDEX_ARGS, "HEAD", "--"], cwd, env=env, check=False)
    if proc.returncode != 0:  # no HEAD yet (the first commit): against the empty tree
        proc = run_git(DIFF_UNBORN_ARGS, cwd, env=env)
    out = proc.stdout
    parts = out.split(b"\0")
    changes: list[Change] = []
    i = 0
    while i < len(parts):
        meta = parts[i]
        if not meta:
            i += 1
            continue
        fields = meta.decode("ascii", "replace").lstrip(":").split()
        status = fields[4] if len(fields) > 4 else "M"
        new_sha = fields[3] if len(fields) > 3 else ZERO
        if status[0] in "RC":
            src, dst = os.fsdecode(parts[i + 1]), os.fsdecode(parts[i + 2])
            i += 3
            changes.append(Change(dst, new_sha, "renamed" if status[0] == "R" else "staged", src))
            if status[0] == "R":
                changes.append(Change(src, DELETED, "deleted"))
            continue
        path = os.fsdecode(parts[i + 1])
        i += 2
        if status[0] == "D":
            changes.append(Change(path, DELETED, "deleted"))
        elif status[0] == "U":
            changes.append(Change(path, new_sha, "unmerged"))
        else:
            changes.append(Change(path, new_sha, "staged"))
    return changes


def worktree_changes(root: str, env: Mapping[str, str] | None = None) -> list[Change]:
    """Every path whose content differs from HEAD: staged, unstaged, untracked (not ignored), deleted."""
    out = run_git(STATUS_ARGS, root, env=env).stdout
    changes: list[Change] = []
    for rec in out.split(b"\0"):
        if not rec:
            continue
        kind = rec[:1]
        if kind == b"?":
            path = os.fsdecode(rec[2:])
            changes.append(Change(path, file_fingerprint(root, path), "untracked"))
        elif kind == b"1":
            fields = rec.split(b" ", 8)
            xy, sub, h_index, path = fields[1].decode(), fields[2], fields[7].decode(), os.fsdecode(fields[8])
            if sub.startswith(b"S"):
                changes.append(Change(path, "submodule:" + h_index, "unstaged"))
                continue
            if xy[1] == ".":
                fp = DELETED if xy[0] == "D" else h_index
                changes.append(Change(path, fp, "deleted" if xy[0] == "D" else "staged"))
            else:
                fp = file_fingerprint(root, path)
                changes.append(Change(path, fp, "deleted" if fp == DELETED else "unstaged"))
        elif kind == b"u":
            fields = rec.split(b" ", 10)
            path = os.fsdecode(fields[10])
            changes.append(Change(path, file_fingerprint(root, path), "unmerged"))
        elif kind == b"2":  # only with rename detection on; kept for robustness
            fields = rec.split(b" ", 9)
            path = os.fsdecode(fields[9])
            changes.append(Change(path, file_fingerprint(root, path), "renamed"))
    return changes
