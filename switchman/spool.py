"""The commit spool: post-commit's work, left in the git common dir for the next hook or command.

The installed post-commit is `sh` (hooks/hook.sh): it writes one file per new commit into SPOOL
(`<common dir>/switchman-spool/<commit>-<pid>`) and exits, which saves a Python start-up per
commit. Whoever opens the store next (a hook, a command, `status`, `doctor`, the push and CI gates)
records the spooled commits first (`gates.spooled.drain`). A file holds one line:

    1 TAB commit TAB worktree TAB reflog-old TAB reflog-new TAB action TAB env-action
      TAB cherry-pick-head TAB rebase-done TAB markers LF

`worktree` is `.` for the main worktree or its name under `<common dir>/worktrees/`; the rest are
the traces `gates.traces.Traces` reads back. A file per commit, not one appended file: a drainer
can then remove exactly what it recorded, with no window in which an appender's line is lost
(an appender that opened a shared file before a rename or truncate would write into the void).
A file not yet ending in LF is being written and is left for the next drainer.

Order: within a worktree each commit's reflog entry names the one before (`reflog-old`), so
entries are chained per worktree; otherwise by modification time. Draining holds an exclusive
lock; recording is idempotent (a commit with a signed record is skipped) and a file is removed
only after its transaction committed, so a drainer that dies records nothing twice and loses
nothing. Losing the spool loses no check: an unrecorded commit is still `missing_provenance`
at push and in CI.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

from .records import Record

SPOOL = "switchman-spool"  # a directory in the git common dir
LOCK = "switchman-spool.lock"
VERSION = "1"
STALE_PARTIAL_S = 60.0  # a file still without its LF after this long was never finished
_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_NAME = re.compile(r"[^\t\n/\\]+")


class Entry(Record):
    commit: str
    worktree: str  # "." or a name under <common dir>/worktrees/
    fields: list[str]  # the traces, for gates.traces.parse_spool_fields
    file: str  # the spool file it came from (removed once recorded)


def spool_dir(common_dir: str) -> str:
    return os.path.join(common_dir, SPOOL)


def ensure(common_dir: str) -> None:
    """Create the spool directory (init, hooks install): the sh hook never creates it."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(spool_dir(common_dir), 0o700)


def pending(common_dir: str) -> bool:
    """Anything to drain? One scandir of a usually empty directory: paid by every hook and command."""
    try:
        with os.scandir(spool_dir(common_dir)) as it:
            return any(not e.name.startswith(".") for e in it)
    except OSError:
        return False


def parse(text: str, file: str = "") -> Entry | None:
    """One spool line, or None when it is not one this version wrote (it is then dropped)."""
    fields = text.rstrip("\n").split("\t")
    if len(fields) < 3 or fields[0] != VERSION or not _OID.fullmatch(fields[1]):
        return None
    worktree = fields[2]
    if worktree != "." and not _NAME.fullmatch(worktree):
        return None
    return Entry(commit=fields[1], worktree=worktree, fields=fields[3:], file=file)


def worktree_git_dir(common_dir: str, entry: Entry) -> str:
    return common_dir if entry.worktree == "." else os.path.join(common_dir, "worktrees", entry.worktree)


def append(common_dir: str, fields: list[str]) -> None:
    """Spool a commit from Python, as the sh hook does (tests, and hooks that cannot record now)."""
    import secrets

    name = f"{fields[0]}-py{os.getpid()}-{secrets.token_hex(4)}"
    path = os.path.join(spool_dir(common_dir), name)
    with open(path, "x", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write("\t".join([VERSION, *fields]) + "\n")


@contextlib.contextmanager
def claimed(common_dir: str) -> Iterator[list[Entry]]:
    """Hold the drain lock and yield every finished spooled entry, in recording order.

    The caller calls `done(entries)` after its transaction committed; what it does not mark done
    stays for the next drainer.
    """
    import fcntl

    lock_fd = os.open(os.path.join(common_dir, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        yield _ordered(_read_all(spool_dir(common_dir)))
    finally:
        os.close(lock_fd)


def done(entries: list[Entry]) -> None:
    for e in entries:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(e.file)


def _read_all(directory: str) -> list[tuple[int, Entry]]:
    import time

    found: list[tuple[int, Entry]] = []
    try:
        listing = list(os.scandir(directory))
    except OSError:
        return found
    now = time.time()
    for item in listing:
        if item.name.startswith("."):
            continue
        try:
            st = item.stat()
            with open(item.path, encoding="utf-8", errors="surrogateescape") as fh:
                text = fh.read(8192)
        except OSError:
            continue
        entry = parse(text, item.path) if text.endswith("\n") else None
        if entry is None:
            if text.endswith("\n") or now - st.st_mtime > STALE_PARTIAL_S:
                with contextlib.suppress(OSError):
                    os.unlink(item.path)  # not ours, or never finished: nothing to record
            continue
        found.append((st.st_mtime_ns, entry))
    return found


def _ordered(found: list[tuple[int, Entry]]) -> list[Entry]:
    """By time, then each worktree's entries chained by their reflog (old -> new)."""
    found.sort(key=lambda t: (t[0], t[1].file))
    by_wt: dict[str, list[Entry]] = {}
    for _, e in found:
        by_wt.setdefault(e.worktree, []).append(e)
    order: list[Entry] = []
    for group in by_wt.values():
        commits = {e.commit for e in group}
        nxt: dict[str, list[Entry]] = {}
        starts: list[Entry] = []
        for e in group:
            old = e.fields[0] if e.fields else ""
            (nxt.setdefault(old, []) if old in commits else starts).append(e)
        seen: set[str] = set()
        stack = list(reversed(starts))
        while stack:
            e = stack.pop()
            if e.file in seen:
                continue
            seen.add(e.file)
            order.append(e)
            stack.extend(reversed(nxt.get(e.commit, [])))
        order.extend(e for e in group if e.file not in seen)  # a cycle (forged lines): by time
    return order
