"""The checkpoint ref `refs/switchman/audit-checkpoint`: the only git I/O of checkpoints.

Reads the ref, its reflog and blobs; writes a note blob and moves the ref by compare-and-swap
(`git update-ref` with the old value, reflog on). `FilesRepo` reads (and writes loose objects)
straight from the files of a plain repository: a checkpointing hook saves two git processes
(benchmarks/bench_checkpoint_ref.py measures it), and tests/test_checkpoint_ref.py checks it against
`git cat-file`/`git rev-parse`.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Sequence
from contextlib import suppress

from ..repo import RepoPaths, git_env, run_git

REF = "refs/switchman/audit-checkpoint"


def git_cwd(state_dir: str) -> str:
    """Where to run git for the shared ref: the main worktree root, or the common dir when bare."""
    return os.path.dirname(os.path.abspath(state_dir))


def cat_batch(cwd: str, names: Sequence[str], env: dict[str, str], *, check: bool = True) -> list[tuple[str, str] | None]:
    """`git cat-file --batch` for several names at once: (oid, text) or None when missing.

    With check=False a git failure (e.g. no repository there) reads as "all missing".
    """
    if not names:
        return []
    proc = run_git(["cat-file", "--batch", "--buffer"], cwd, env=env, input=("\n".join(names) + "\n").encode(), check=check)
    if proc.returncode != 0:
        return [None] * len(names)
    out = proc.stdout
    result: list[tuple[str, str] | None] = []
    pos = 0
    for _ in names:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].decode("utf-8", "replace").split(" ")
        pos = nl + 1
        if len(header) < 3 or header[-1] == "missing" or not header[2].isdigit():
            result.append(None)
            continue
        size = int(header[2])
        result.append((header[0], out[pos : pos + size].decode("utf-8", "replace")))
        pos += size + 1
    return result


def read_ref(cwd: str, env: dict[str, str] | None = None, *, check: bool = True) -> tuple[str, str] | None:
    """(blob id, note text) of the checkpoint ref, or None when there is none.

    Read straight from the files when the repository is the plain kind (`FilesRepo`: a loose
    or packed ref, a loose object); anything else (a packed object, another ref backend) asks
    `git cat-file`. A hook writing a checkpoint saves a git process this way.
    """
    repo = FilesRepo.at(cwd)
    if repo is not None:
        oid = repo.ref_oid(REF)
        if oid is None:
            return None
        if oid:
            text = repo.read_object(oid)
            if text is not None:
                return oid, text
    return cat_batch(cwd, [REF], env or git_env(for_other_worktree=True), check=check)[0]


class _Lost(Exception):
    """Another writer moved the ref first."""


class _AskGit(Exception):
    """The ref is something only git should touch (a symref, a damaged file)."""


class FilesRepo:
    """Direct access to a plain repository's refs and loose objects, for the checkpoint ref only.

    Used only when the layout is unambiguous: a `.git` directory (or a bare repository) with the
    files ref backend, SHA-1 object names, no `core.sharedRepository` (object permissions) and no
    config includes; otherwise `at` returns None and callers use git. Objects are content-
    addressed, so writing one the way git does (zlib, temp file, link into place, read-only) is
    safe against concurrent writers; the ref is moved under git's own `<ref>.lock` protocol
    (`move_ref`: compare-and-swap, reflog), so git and we exclude each other.
    """

    __slots__ = ("common",)
    _cache: dict[str, FilesRepo | None] = {}  # per-process memo

    def __init__(self, common: str) -> None:
        self.common = common

    @classmethod
    def at(cls, cwd: str) -> FilesRepo | None:
        if cwd in cls._cache:
            return cls._cache[cwd]
        repo: FilesRepo | None = None
        for common in (os.path.join(cwd, ".git"), cwd):
            if os.path.isdir(os.path.join(common, "objects")) and os.path.isdir(os.path.join(common, "refs", "heads")):
                repo = cls(common) if cls._plain_config(common) else None
                break
        cls._cache[cwd] = repo
        return repo

    @staticmethod
    def _plain_config(common: str) -> bool:
        if os.path.exists(os.path.join(common, "commondir")) or os.path.exists(os.path.join(common, "reftable")):
            return False  # a linked worktree's git dir, or the reftable backend
        try:
            with open(os.path.join(common, "config"), "rb") as fh:
                config = fh.read().lower()
        except OSError:
            return False
        return not any(word in config for word in (b"objectformat", b"refstorage", b"sharedrepository", b"include"))

    def ref_oid(self, ref: str) -> str | None:
        """The ref's object id; None when it does not exist; "" when git must answer."""
        try:
            with open(os.path.join(self.common, *ref.split("/")), "rb") as fh:
                text = fh.read().decode("ascii", "replace").strip()
        except FileNotFoundError:
            text = None
        except OSError:
            return ""
        if text is not None:
            return text if is_oid(text) else ""  # a symref or a damaged file: let git decide
        try:
            with open(os.path.join(self.common, "packed-refs"), "rb") as fh:
                packed = fh.read()
        except FileNotFoundError:
            return None
        except OSError:
            return ""
        needle = b" " + ref.encode("ascii") + b"\n"
        at = packed.find(needle)
        if at < 0:
            return None
        start = packed.rfind(b"\n", 0, at) + 1
        oid = packed[start:at].decode("ascii", "replace")
        return oid if is_oid(oid) else ""

    def move_ref(self, ref: str, new: str, old: str | None, message: str) -> bool | None:
        """Compare-and-swap `ref` as git does: `<ref>.lock` (O_EXCL) is the lock git itself
        honours, the value is checked under it, the reflog appended, the lock renamed into place.
        False when another writer holds the lock or moved the ref; None when git must decide."""
        path = os.path.join(self.common, *ref.split("/"))
        lock = path + ".lock"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        except OSError:
            return None
        try:
            with os.fdopen(fd, "wb") as fh:
                current = self.ref_oid(ref)
                if current == "":
                    raise _AskGit
                if current != old:
                    raise _Lost
                fh.write(new.encode("ascii") + b"\n")
            log = os.path.join(self.common, "logs", *ref.split("/"))
            os.makedirs(os.path.dirname(log), exist_ok=True)
            entry = f"{old or '0' * len(new)} {new} switchman-hook <switchman-hook@localhost> {int(time.time())} +0000\t{message}\n"
            with open(log, "ab") as fh:
                fh.write(entry.encode("utf-8"))
            os.replace(lock, path)
            return True
        except _Lost:
            os.unlink(lock)
            return False
        except (_AskGit, OSError):
            with suppress(OSError):
                os.unlink(lock)
            return None

    def _object_path(self, oid: str) -> str:
        return os.path.join(self.common, "objects", oid[:2], oid[2:])

    def read_object(self, oid: str) -> str | None:
        """A loose object's content as text (any type, like `cat-file --batch`); None if not loose."""
        import zlib

        try:
            with open(self._object_path(oid), "rb") as fh:
                raw = zlib.decompress(fh.read())
        except (OSError, zlib.error):
            return None
        header, sep, body = raw.partition(b"\0")
        fields = header.split(b" ")
        if not sep or len(fields) != 2 or not fields[1].isdigit() or int(fields[1]) != len(body):
            return None
        return body.decode("utf-8", "replace")

    def write_blob(self, data: bytes) -> str | None:
        """Store `data` as a loose blob, as `git hash-object -w` would; its id, or None on failure."""
        import zlib

        raw = b"blob %d\0" % len(data) + data
        oid = hashlib.sha1(raw).hexdigest()
        path = self._object_path(oid)
        if os.path.exists(path):
            return oid
        folder = os.path.dirname(path)
        tmp = os.path.join(folder, f"tmp_obj_{os.getpid()}_{random.getrandbits(32):08x}")
        try:
            os.makedirs(folder, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                os.write(fd, zlib.compress(raw, 1))  # core.loosecompression's default
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another writer stored the same object
            finally:
                os.unlink(tmp)
        except OSError:
            with suppress(OSError):
                os.unlink(tmp)
            return None
        return oid


def is_oid(text: str) -> bool:
    return len(text) == 40 and all(c in "0123456789abcdef" for c in text)


def reflog_oids(common_dir: str) -> tuple[list[str], bool]:
    """Every object id the ref's reflog mentions, oldest first, and whether a reflog exists.

    Read from the file: `git reflog` only walks commits and our ref points at blobs.
    """
    path = os.path.join(common_dir, "logs", *REF.split("/"))
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return [], False
    seen: dict[str, None] = {}
    for line in lines:
        parts = line.split(" ", 2)
        for oid in parts[:2]:
            if len(oid) >= 40 and oid.strip("0"):
                seen.setdefault(oid, None)
    return list(seen), True


class RefSnapshot:
    """The checkpoint ref and its reflog, read BEFORE the rows.

    A checkpoint is written only after the rows it covers commit, so rows read after this
    snapshot always include everything it signs; reading the ref after the rows would let a
    concurrent writer's checkpoint look like deleted rows.
    """

    __slots__ = ("current", "reflog", "has_reflog")

    def __init__(self, paths: RepoPaths) -> None:
        env = git_env(for_other_worktree=True)
        # Reflog first: git writes the reflog entry before it moves the ref.
        self.reflog, self.has_reflog = reflog_oids(paths.common_dir)
        self.current = read_ref(paths.common_dir, env)


def write_blob(cwd: str, data: bytes, env: dict[str, str]) -> str:
    """Store `data` as a blob (directly when the repository allows it) and return its id."""
    repo = FilesRepo.at(cwd)
    oid = repo.write_blob(data) if repo is not None else None
    if oid is None:
        oid = os.fsdecode(run_git(["hash-object", "-w", "--stdin"], cwd, env=env, input=data).stdout).strip()
    return oid


def compare_and_swap(cwd: str, oid: str, old: str | None, message: str, env: dict[str, str]) -> bool:
    """Move the ref to `oid` only if it still points at `old` (None: only if it does not exist).

    In a plain repository the files are written the way git's files backend does (FilesRepo.
    move_ref), which saves the hook a process; anything else goes through `git update-ref`.
    """
    repo = FilesRepo.at(cwd)
    if repo is not None:
        moved = repo.move_ref(REF, oid, old, message)
        if moved is not None:
            return moved
    proc = run_git(["update-ref", "--create-reflog", "-m", message, REF, oid, old or ""], cwd, env=env, check=False)
    return proc.returncode == 0


def read_blob(cwd: str, rev: str) -> bytes | None:
    """The content of blob `rev` (any git rev naming a blob), or None when there is none."""
    proc = run_git(["cat-file", "blob", rev], cwd, env=git_env(for_other_worktree=True), check=False)
    return proc.stdout if proc.returncode == 0 else None


def quiet_gc(cwd: str) -> None:
    """`git gc` (reflog expire) looks for a *commit* at each reflog's tip and prints errors for
    our blob. With unreachable-expiry off for this one ref it skips that lookup; entries still
    age out after gc.reflogExpire (90 days by default; set it to `never` to keep them all)."""
    run_git(
        ["config", f"gc.{REF}.reflogExpireUnreachable", "never"],
        cwd,
        env=git_env(for_other_worktree=True),
        check=False,
    )
