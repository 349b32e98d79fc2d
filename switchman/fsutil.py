"""File writes that a concurrent reader or a kill -9 never sees half done.

One place for temp-file-plus-rename and the hard-link moves the installer uses, so every writer
of a hook script, policy file or marker gets the same guarantees (and the crash harness's fault
points sit in one spot).
"""

from __future__ import annotations

import contextlib
import os

from . import faults
from .errors import EnvironmentProblem


def read_bytes(path: str) -> bytes | None:
    """The file's bytes, or None when there is no such file."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def read_text(path: str, *, fix: str, code: str, encoding: str = "ascii") -> str | None:
    """A small file's text (a key), or None when there is no such file.

    Unreadable, or not `encoding`: EnvironmentProblem `code` with `fix`, never a traceback.
    """
    try:
        with open(path, encoding=encoding) as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvironmentProblem(f"cannot read {path}: {exc}", fix, code=code) from exc


def atomic_write(path: str, data: bytes, mode: int = 0o644, *, fault: str | None = None) -> None:
    """Temp file in the same dir + os.replace: a reader sees the old bytes or the new, never half.

    `fault` names the crash-harness fault points (`<fault>.tmp_written`, `<fault>.replaced`).
    """
    import tempfile  # lazy: the hook path imports this module but rarely writes a file

    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        if faults.ACTIVE and fault:  # temp file complete, not renamed
            faults.hit(f"{fault}.tmp_written")
        os.replace(tmp, path)
        if faults.ACTIVE and fault:  # renamed; whatever comes next not done yet
            faults.hit(f"{fault}.replaced")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def create_exclusive(path: str, data: bytes, mode: int = 0o600) -> None:
    """Create `path` holding `data`; FileExistsError when something is already there.

    For secrets (the audit HMAC key, checkpoint signing keys): the bytes go to a private temp
    file beside `path`, are fsynced, and the file is hard-linked into place, so a reader sees no
    file or the whole file, a crash never leaves half a key under the real name, and a file
    already at `path` (or a symlink planted there) always wins. Needs hard links where `path` lives.
    """
    import tempfile  # lazy: the hook path imports this module but rarely writes a file

    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path) or ".")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def link_replace(src: str, dst: str) -> None:
    """Make `dst` another name of `src`'s inode, atomically replacing whatever `dst` was."""
    tmp = f"{dst}.new"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.link(src, tmp, follow_symlinks=False)
    os.replace(tmp, dst)


def next_free(path: str) -> str:
    """`path~N` for the smallest N not taken: where a file set aside keeps its bytes."""
    n = 1
    while os.path.lexists(f"{path}~{n}"):
        n += 1
    return f"{path}~{n}"
