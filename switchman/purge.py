"""`uninstall [--purge]`: take switchman out of a repository, and with `--purge` leave no trace.

Without `--purge` only the hooks go (the hooks they replaced are restored). `--purge` also
removes the state dir, this repository's signing keys (wherever the store recorded them and in
this process's config dir), `refs/switchman/*`, the exclude line `init` added and the
`switchman-*` marker files in the git dirs, and lists every path and ref it removed.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import stat
from contextlib import suppress

from .install import UninstallResult, uninstall
from .records import Record, factory
from .repo import RepoPaths, git_env, run_git
from .state import EXCLUDE_LINE

EXCLUDE_COMMENT = "# switchman-hook state (database, audit key): never commit it"


class PurgeResult(Record):
    hooks: UninstallResult
    purged: bool
    removed: list[str] = factory(list)


def remove(paths: RepoPaths, *, purge: bool = False) -> PurgeResult:
    hooks = uninstall(paths)
    if not purge:
        return PurgeResult(hooks, False)
    removed: list[str] = []
    rid = _repo_id(paths.state_dir)
    if rid is not None:
        from .checkpoint import keys

        for path in keys.candidate_paths(rid, paths.state_dir):
            for p in (path, path + ".new"):
                with suppress(FileNotFoundError):
                    os.unlink(p)
                    removed.append(p)
    removed += _remove_refs(paths)
    if _remove_exclude(paths):
        removed.append(os.path.join(paths.common_dir, "info", "exclude") + f": {EXCLUDE_LINE}")
    from . import helperstate

    sock = os.path.join(paths.common_dir, helperstate.SOCKET)
    had_socket = os.path.exists(sock)
    helperstate.stop(paths.common_dir)  # stopping removes its socket; its lock and log are markers
    if had_socket and not os.path.exists(sock):
        removed.append(sock)
    for marker in _markers(paths):
        with suppress(FileNotFoundError):
            if os.path.isdir(marker) and not os.path.islink(marker):
                shutil.rmtree(marker)  # the commit spool
            else:
                os.unlink(marker)
            removed.append(marker)
    if os.path.isdir(paths.state_dir):
        shutil.rmtree(paths.state_dir)
        removed.append(paths.state_dir)
    return PurgeResult(hooks, True, removed)


def _repo_id(state_dir: str) -> str | None:
    """From the store (read-only), else from the recorded key location's file name."""
    from .checkpoint.keys import KEY_LOCATION, repo_id

    db = os.path.join(state_dir, "switchman.db")
    if os.path.exists(db):
        with suppress(sqlite3.Error):
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                rid = repo_id(conn)
            finally:
                conn.close()
            if rid:
                return rid

    with suppress(OSError, UnicodeDecodeError):
        with open(os.path.join(state_dir, KEY_LOCATION), encoding="utf-8") as fh:
            name = os.path.basename(fh.read().strip())
        if name.endswith(".key") and name[:-4].isalnum():
            return name[:-4]
    return None


def _remove_refs(paths: RepoPaths) -> list[str]:
    env = git_env(for_other_worktree=True)
    out = run_git(["for-each-ref", "--format=%(refname)", "refs/switchman/"], paths.common_dir, env=env).stdout.decode()
    refs = [r for r in out.split("\n") if r.startswith("refs/switchman/")]
    if refs:
        script = "".join(f"delete {r}\n" for r in refs).encode()
        run_git(["update-ref", "--stdin"], paths.common_dir, env=env, input=script)
    return refs


def _remove_exclude(paths: RepoPaths) -> bool:
    exclude = os.path.join(paths.common_dir, "info", "exclude")
    try:
        with open(exclude, encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.read().splitlines(keepends=True)
    except FileNotFoundError:
        return False
    kept = [ln for ln in lines if ln.rstrip("\r\n") not in (EXCLUDE_LINE, EXCLUDE_COMMENT)]
    if len(kept) == len(lines):
        return False
    tmp = exclude + ".switchman-tmp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write("".join(kept))
    os.replace(tmp, exclude)
    return True


def _markers(paths: RepoPaths) -> list[str]:
    """`switchman-*` files git never writes: in the common dir and every worktree's git dir."""
    dirs = [paths.common_dir, paths.git_dir, *glob.glob(os.path.join(glob.escape(paths.common_dir), "worktrees", "*"))]
    found: list[str] = []
    for d in dict.fromkeys(os.path.abspath(x) for x in dirs):
        for p in sorted(glob.glob(os.path.join(glob.escape(d), "switchman-*"))):
            if not os.path.islink(p) and (os.path.isfile(p) or os.path.isdir(p) or stat.S_ISSOCK(os.lstat(p).st_mode)):
                found.append(p)
    return found
