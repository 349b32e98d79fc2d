"""`monitor`: observe every registered worktree, and quarantine unowned writes (SPEC §1, §5, §7).

One pass, per worktree whose directory exists:

1. one `git status` (env stripped: we run git against *another* worktree) gives the changed set;
   only changed files are hashed;
2. one write transaction diffs it against the worktree's snapshot (the first pass only baselines),
   appends one `write_observed` row per newly changed path with its ownership decision, and stores
   the recomputed compliance state;
3. quarantine (strict mode, or `--quarantine`) of the *newly* changed unowned paths: an untracked
   file is moved to `<state dir>/quarantine/<UTC ts>/<worktree>/<path>`; a modified tracked file is
   copied there (fsynced, copy's blob id checked) and then restored from the index; a deleted
   tracked file is restored from the index. Then a second transaction appends `write_quarantined`
   rows, updates the snapshot for those paths and the compliance state.

Filesystem effects happen between the transactions, never inside one (a transaction may be
retried). The rule throughout is that no byte the user wrote is ever lost: the worktree file is
only removed or replaced after an identical, fsynced copy exists in the quarantine, and anything
unexpected (the file changed meanwhile, a symlinked directory on the path, an I/O error) leaves
the file where it is and reports why.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import signal
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import fingerprints
from . import policy as policymod
from .cli_quote import shown
from .errors import SwitchmanError
from .fingerprints import DELETED, Change
from .gates.common import compliance_for, record_observations, stale_minutes
from .ops.claims import load_context
from .ownership import Decision
from .repo import git_env, run_git
from .store import leases as leasemod
from .store import snapshots
from .store import worktrees as wtmod
from .store.base import Store, Tx
from .timeutil import now_iso

QUARANTINE_DIR = "quarantine"
SOURCE = "monitor"


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    file: str
    reason_code: str
    allowed: bool


@dataclass(frozen=True)
class Quarantined:
    file: str
    quarantine_path: str | None  # None when a deleted tracked file was restored (nothing to keep)
    action: str  # moved | restored


@dataclass(frozen=True)
class WorktreeReport:
    name: str
    path: str
    mode: str
    compliance_state: str
    changed_files: list[str]
    observed: list[Observation]
    quarantined: list[Quarantined]
    warnings: list[str]
    baselined: bool = False
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    name: str
    path: str
    reason: str


@dataclass(frozen=True)
class MonitorResult:
    ok: bool  # False only when a quarantine action failed
    worktrees: list[WorktreeReport]
    skipped: list[Skipped]
    summary: str

    def to_json(self) -> dict[str, Any]:
        from .models import to_dict

        return to_dict(self)  # type: ignore[no-any-return]


# --- one pass ----------------------------------------------------------------------------------


def monitor_once(store: Store, *, quarantine: bool = False, names: Iterable[str] | None = None) -> MonitorResult:
    """Observe every registered worktree whose directory exists (or only `names`)."""
    pol = policymod.load(store.state_dir)
    window = stale_minutes(store.state_dir)
    env = git_env(for_other_worktree=True)
    wanted = set(names) if names is not None else None
    stamp = _stamp()
    reports: list[WorktreeReport] = []
    skipped: list[Skipped] = []
    for wt in wtmod.list_all(store):
        if wanted is not None and wt.name not in wanted:
            continue
        if not os.path.isdir(wt.path):
            skipped.append(Skipped(wt.name, wt.path, "directory missing"))
            continue
        try:
            changes = fingerprints.worktree_changes(wt.path, env)
        except (SwitchmanError, OSError) as exc:
            skipped.append(Skipped(wt.name, wt.path, f"git status failed: {_message(exc)}"))
            continue
        reports.append(
            _one_worktree(
                store,
                wt,
                changes,
                env=env,
                window=window,
                generated=pol.allowed_generated_paths,
                quarantine=quarantine or wt.enforcement_mode == "strict",
                dest_root=os.path.join(store.state_dir, QUARANTINE_DIR, stamp, _safe_name(wt.name)),
            )
        )
    ok = not any(r.failures for r in reports)
    return MonitorResult(ok, reports, skipped, _summary(reports, skipped))


@dataclass(frozen=True)
class _Seen:
    baselined: bool
    newly: list[Change]
    decisions: dict[str, Decision]
    violations: list[str]
    compliance: str


@dataclass(frozen=True)
class _Outcome:
    change: Change
    decision: Decision
    action: str | None = None  # moved | restored; None when left in place
    quarantine_path: str | None = None
    fingerprint: str | None = None  # blob id of what was preserved
    warning: str | None = None
    failure: str | None = None


def _one_worktree(
    store: Store,
    wt: Any,
    changes: list[Change],
    *,
    env: Mapping[str, str],
    window: float,
    generated: Iterable[str],
    quarantine: bool,
    dest_root: str,
) -> WorktreeReport:
    paths = list(dict.fromkeys(c.path for c in changes))

    def observe(tx: Tx) -> _Seen:
        baselined = not snapshots.has_baseline(tx, wt.name)
        ctx = load_context(tx, wt.name, paths, stale_minutes=window, generated_globs=generated)
        decisions = {p: ctx.judge(p) for p in paths}
        newly = snapshots.diff_snapshot(tx, wt.name, changes, complete=True)
        lease = leasemod.active_for_worktree(tx, wt.name, window)
        record_observations(tx, wt.name, lease, newly, decisions.__getitem__, SOURCE)
        violations = [p for p in paths if not decisions[p].allowed]
        state = compliance_for(lease, len(violations))
        wtmod.set_compliance(tx, wt.name, state)
        return _Seen(baselined, newly, decisions, violations, state)

    seen = store.write(observe)
    observed = [Observation(c.path, seen.decisions[c.path].reason_code, seen.decisions[c.path].allowed) for c in seen.newly]
    warnings: list[str] = []
    outcomes: list[_Outcome] = []
    state = seen.compliance
    candidates = [c for c in seen.newly if not seen.decisions[c.path].allowed] if quarantine else []
    if candidates:
        with _sigint_deferred():
            outcomes = _quarantine_all(wt.path, candidates, seen.decisions, env=env, dest_root=dest_root, state_dir=store.state_dir)
            state = _record(store, wt.name, wt.path, outcomes, seen.violations, env=env, window=window)
        warnings += [o.warning for o in outcomes if o.warning]
    return WorktreeReport(
        name=wt.name,
        path=wt.path,
        mode=wt.enforcement_mode,
        compliance_state=state,
        changed_files=paths,
        observed=observed,
        quarantined=[Quarantined(o.change.path, o.quarantine_path, o.action) for o in outcomes if o.action],
        warnings=warnings,
        baselined=seen.baselined,
        failures=[o.failure for o in outcomes if o.failure],
    )


def _record(
    store: Store,
    name: str,
    root: str,
    outcomes: list[_Outcome],
    violations: list[str],
    *,
    env: Mapping[str, str],
    window: float,
) -> str:
    """Second transaction: `write_quarantined` rows, snapshot of the touched paths, compliance."""
    done = [o for o in outcomes if o.action]
    restored = [o.change.path for o in done if o.action == "restored"]
    still_staged: dict[str, str] = {}
    if restored:
        # If git cannot say, the paths are dropped from the snapshot; a staged leftover then shows
        # up once more as a new observation next pass, which is harmless.
        with contextlib.suppress(SwitchmanError, OSError):
            still_staged = _differs_from_head(root, restored, env)

    def fn(tx: Tx) -> str:
        lease = leasemod.active_for_worktree(tx, name, window)
        cleared: set[str] = set()
        for o in done:
            tx.audit(
                "write_quarantined",
                "denied",
                reason_code=o.decision.reason_code,
                worktree=name,
                task_id=lease.task_id if lease else None,
                lease_id=lease.id if lease else None,
                file_path=o.change.path,
                details={"quarantine_path": o.quarantine_path, "fingerprint": o.fingerprint, "action": o.action},
            )
            path = o.change.path
            if o.action == "restored" and path in still_staged:
                # The worktree now equals the index, which still differs from HEAD: exactly what
                # the next `git status` reports as a staged change with the index blob id.
                index_id = still_staged[path]
                snapshots.diff_snapshot(tx, name, [Change(path, index_id, "staged")], complete=False)
            else:
                snapshots.forget(tx, name, [path])
                cleared.add(path)
        remaining = [p for p in violations if p not in cleared]
        state = compliance_for(lease, len(remaining))
        wtmod.set_compliance(tx, name, state)
        return state

    return store.write(fn)


# --- quarantine --------------------------------------------------------------------------------


class _Skip(Exception):
    """The path is left in place on purpose (a warning, not a failure)."""


def _quarantine_all(
    root: str,
    candidates: list[Change],
    decisions: Mapping[str, Decision],
    *,
    env: Mapping[str, str],
    dest_root: str,
    state_dir: str,
) -> list[_Outcome]:
    tracked = [c.path for c in candidates if c.kind in ("unstaged", "deleted")]
    index: dict[str, tuple[str, str, str]] = {}
    index_error: str | None = None
    if tracked:
        try:
            index = _index_entries(root, tracked, env)
        except (SwitchmanError, OSError) as exc:
            index_error = _message(exc)
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
            outcomes.append(_Outcome(ch, d, warning=f"{shown(ch.path)}: {exc}"))
        except (SwitchmanError, OSError) as exc:
            outcomes.append(_Outcome(ch, d, failure=f"{shown(ch.path)}: quarantine failed, file left in place: {_message(exc)}"))
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
) -> _Outcome:
    if ch.kind == "untracked":
        if ch.fingerprint == "directory":
            raise _Skip("a directory (nested repository?) is never quarantined; left in place")
        dst = _destination(dest_root, ch.path)
        fp, warning = _move(root, full, dst, ch.fingerprint)
        return _Outcome(ch, d, "moved", dst, fp, warning)
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
            return _Outcome(ch, d, "restored", None, DELETED)
        dst = _destination(dest_root, ch.path)
        fp, warning = _restore(full, dst, ch.fingerprint, mode, content)
        return _Outcome(ch, d, "restored", dst, fp, warning)
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


def _differs_from_head(root: str, paths: list[str], env: Mapping[str, str]) -> dict[str, str]:
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


def _stamp() -> str:
    """`20261124T183300.123Z`: UTC, filesystem-safe, sorts by time."""
    return now_iso().replace("-", "").replace(":", "")


def _safe_name(name: str) -> str:
    cleaned = name.replace(os.sep, "_").replace("\0", "_")
    return cleaned if cleaned not in ("", ".", "..") else f"_{cleaned}"


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, SwitchmanError) else str(exc)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Ctrl-C waits until the file moves and their audit rows are done (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
        if pending:
            raise KeyboardInterrupt


def _summary(reports: list[WorktreeReport], skipped: list[Skipped]) -> str:
    new = sum(len(r.observed) for r in reports)
    denied = sum(1 for r in reports for o in r.observed if not o.allowed)
    moved = sum(len(r.quarantined) for r in reports)
    failed = sum(len(r.failures) for r in reports)
    text = f"{len(reports)} worktree(s) observed: {new} new change(s), {denied} denied, {moved} quarantined"
    if failed:
        text += f", {failed} quarantine failure(s)"
    if skipped:
        text += f"; {len(skipped)} skipped"
    return text
