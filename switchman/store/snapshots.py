"""Table worktree_snapshots: each worktree's changed set as last observed (never the whole tree).

The baseline marker (a meta row per worktree) says a first full observation was recorded, so
the first run stays silent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..timeutil import now_iso
from .base import db_text

if TYPE_CHECKING:  # pragma: no cover
    from ..fingerprints import Change
    from .base import Reader, Tx


def _marker(worktree: str) -> str:
    return f"snapshot_baseline:{worktree}"


def has_baseline(db: Reader, worktree: str) -> bool:
    return db.one("SELECT 1 AS x FROM meta WHERE key = ?", (_marker(worktree),)) is not None


def diff_snapshot(tx: Tx, worktree: str, current: list[Change], *, complete: bool, silent: bool = False) -> list[Change]:
    """Store `current` as the worktree's snapshot and return the paths that newly changed.

    `complete` says `current` is the whole changed set (status), so paths missing from it left
    the changed set and are dropped; a partial view (the staged set) only adds and updates, and
    reads back only its own paths. On the first run there is no baseline: everything is
    recorded silently (as with `silent`, a re-baseline that merges instead of replacing).
    """
    now = now_iso()
    baseline = has_baseline(tx, worktree)
    unique: dict[str, Change] = {}
    for ch in current:
        unique.setdefault(ch.path, ch)
    previous: dict[str, str] = {}
    if complete:
        rows = tx.all("SELECT file_path, fingerprint FROM worktree_snapshots WHERE worktree = ?", (worktree,))
        previous = {r["file_path"]: r["fingerprint"] for r in rows}
    else:
        keys = list(unique)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = tx.all(
                f"SELECT file_path, fingerprint FROM worktree_snapshots WHERE worktree = ? AND file_path IN ({','.join('?' * len(chunk))})",
                [worktree, *(db_text(p) for p in chunk)],
            )
            previous.update((r["file_path"], r["fingerprint"]) for r in rows)
    newly = [ch for path, ch in unique.items() if previous.get(path) != ch.fingerprint]
    tx.executemany(
        "INSERT INTO worktree_snapshots (worktree, file_path, fingerprint, observed_at) VALUES (?,?,?,?) "
        "ON CONFLICT(worktree, file_path) DO UPDATE SET fingerprint = excluded.fingerprint, observed_at = excluded.observed_at",
        [(worktree, db_text(ch.path), ch.fingerprint, now) for ch in newly],
    )
    if complete:
        gone = [p for p in previous if p not in unique]
        tx.executemany(
            "DELETE FROM worktree_snapshots WHERE worktree = ? AND file_path = ?", [(worktree, db_text(p)) for p in gone]
        )
    if not baseline or silent:
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_marker(worktree), now))
        return []
    return newly


def rebaseline(tx: Tx, worktree: str, current: list[Change]) -> None:
    """Replace the snapshot silently (after checkout, merge, rewrite)."""
    now = now_iso()
    tx.execute("DELETE FROM worktree_snapshots WHERE worktree = ?", (worktree,))
    unique = {ch.path: ch for ch in reversed(current)}
    tx.executemany(
        "INSERT INTO worktree_snapshots (worktree, file_path, fingerprint, observed_at) VALUES (?,?,?,?)",
        [(worktree, db_text(ch.path), ch.fingerprint, now) for ch in unique.values()],
    )
    tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_marker(worktree), now))


def forget(tx: Tx, worktree: str, paths: list[str]) -> None:
    """Drop committed paths from the snapshot (they left the changed set)."""
    tx.executemany(
        "DELETE FROM worktree_snapshots WHERE worktree = ? AND file_path = ?", [(worktree, db_text(p)) for p in paths]
    )


def rename_worktree(tx: Tx, old: str, new: str) -> None:
    """The change-detection baseline follows the worktree (it is keyed by the label)."""
    tx.execute("UPDATE worktree_snapshots SET worktree = ? WHERE worktree = ?", (new, old))


def paths_of(db: Reader, worktree: str) -> set[str]:
    """used by doctor (unobserved-writes check): the snapshot's paths for one worktree."""
    return {r["file_path"] for r in db.all("SELECT file_path FROM worktree_snapshots WHERE worktree = ?", (worktree,))}


def rows_of(db: Reader, worktree: str) -> list[dict[str, Any]]:
    return db.all("SELECT file_path, fingerprint FROM worktree_snapshots WHERE worktree = ?", (worktree,))
