"""Table meta (repo-level facts: repo id, baseline commits, markers) and checkpoint_keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import no_such_column, no_such_table, tuples

if TYPE_CHECKING:  # pragma: no cover
    from .base import Reader, Tx


def get(db: Reader, key: str) -> str | None:
    row = db.one("SELECT value FROM meta WHERE key = ?", (key,))
    return row["value"] if row else None


def has(db: Reader, key: str) -> bool:
    return db.one("SELECT 1 AS x FROM meta WHERE key = ?", (key,)) is not None


def insert(tx: Tx, key: str, value: str | None) -> None:
    """A fact fixed once (repo id, baseline): refused by the primary key if already there."""
    tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))


def put(tx: Tx, key: str, value: str | None) -> None:
    tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def put_if_absent(tx: Tx, key: str, value: str | None) -> None:
    tx.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))


def repo_id(db: Any) -> str | None:
    """used by checkpoints.repo_id: the repository id, None before init or without a meta table."""
    try:
        for (value,) in tuples(db, "SELECT value FROM meta WHERE key = 'repo_id'"):
            return str(value) if value else None
    except Exception as exc:
        if not no_such_table(exc):
            raise
    return None


def baseline_commits_text(db: Reader) -> str | None:
    """used by gates history/push: the JSON list of ref tips that existed at the first init."""
    return get(db, "baseline_commits")


# --- checkpoint_keys (the Ed25519 keyring) ----------------------------------------------------


def keyring_rows(db: Any) -> list[tuple[str, int | None, str | None]]:
    """used by checkpoints.keyring: (verifier_key, retired_size, machine) in the order keys were
    added ([] when the table is missing: a database older than checkpoints; machine None when
    the column is: older than version 5, opened read-only)."""
    order = " FROM checkpoint_keys ORDER BY added_at, rowid"
    try:
        return [(k, s, m) for k, s, m in tuples(db, "SELECT verifier_key, retired_size, machine" + order)]
    except Exception as exc:
        if no_such_table(exc):
            return []
        if not no_such_column(exc):
            raise
    return [(k, s, None) for k, s in tuples(db, "SELECT verifier_key, retired_size" + order)]


def add_key_if_absent(tx: Tx, verifier_key: str, key_hash: str, added_at: str) -> None:
    """used by checkpoints key creation (init_signing): trust a new key of this machine, once."""
    tx.execute(
        "INSERT OR IGNORE INTO checkpoint_keys (verifier_key, key_hash, added_at, machine) VALUES (?, ?, ?, ?)",
        (verifier_key, key_hash, added_at, tx.machine),
    )


def active_keys(db: Reader, machine: str | None = None) -> list[str]:
    """used by checkpoints.rotate_key: verifier keys not yet retired (only `machine`'s, if given)."""
    if machine is None:
        return [r["verifier_key"] for r in db.all("SELECT verifier_key FROM checkpoint_keys WHERE retired_size IS NULL")]
    return [
        r["verifier_key"]
        for r in db.all("SELECT verifier_key FROM checkpoint_keys WHERE retired_size IS NULL AND machine = ?", (machine,))
    ]


def retire_active_keys(tx: Tx, retired_at: str, size: int, machine: str | None = None) -> None:
    """used by checkpoints.rotate_key: still trusted for checkpoints up to `size`. `machine`: only
    that machine's keys (a shared store: the other machines keep signing with theirs)."""
    if machine is None:
        tx.execute("UPDATE checkpoint_keys SET retired_at = ?, retired_size = ? WHERE retired_size IS NULL", (retired_at, size))
    else:
        tx.execute(
            "UPDATE checkpoint_keys SET retired_at = ?, retired_size = ? WHERE retired_size IS NULL AND machine = ?",
            (retired_at, size, machine),
        )


def add_key(tx: Tx, verifier_key: str, key_hash: str, added_at: str) -> None:
    """used by checkpoints.rotate_key: this machine's new signing key."""
    tx.execute(
        "INSERT INTO checkpoint_keys (verifier_key, key_hash, added_at, machine) VALUES (?, ?, ?, ?)",
        (verifier_key, key_hash, added_at, tx.machine),
    )
