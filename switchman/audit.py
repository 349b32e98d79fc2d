"""The signed, hash-chained audit trail (SPEC §3), byte-compatible with switchman-dev 0.1.3.

entry_hash = sha256(canonical JSON of the row); signature = HMAC-SHA256(key = the 64-char hex
text of audit.key, msg = entry_hash hex). Each row's prev_hash is the previous row's entry_hash.
Rows are appended only inside the caller's write transaction, so the sequence cannot fork.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from . import merkle  # issue 5: the appending transaction folds each row into the Merkle tree
from .errors import BadInput, EnvironmentProblem
from .jsonutil import dumps
from .timeutil import now_iso

KEY_FILE = "audit.key"

CANONICAL_KEYS = (
    "sequence",
    "prev_hash",
    "event_type",
    "status",
    "reason_code",
    "worktree",
    "task_id",
    "lease_id",
    "file_path",
    "details",
    "created_at",
)
STATUSES = ("allowed", "denied", "warn", "info")
ROW_COLUMNS = (
    "id, event_type, status, reason_code, worktree, task_id, lease_id, file_path, details, "
    "created_at, sequence, prev_hash, entry_hash, signature"
)

FAILURE_CODES = (
    "missing_sequence",
    "sequence_gap",
    "prev_hash_mismatch",
    "entry_hash_mismatch",
    "signature_mismatch",
    "unsigned_row",
    "key_missing",
    # --- issue 5: checkpoints (SPEC §9, switchman/checkpoints.py) ---
    "log_shorter_than_checkpoint",
    "checkpoint_root_mismatch",
    "checkpoint_signature_invalid",
    "checkpoint_rollback",
    "fork_detected",
    "inclusion_proof_invalid",
    # --- end issue 5 ---
)


def canonical(event: dict[str, Any]) -> str:
    return dumps({k: event.get(k) for k in CANONICAL_KEYS})


def entry_hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(event).encode("utf-8")).hexdigest()


def sign(key_text: str, digest_hex: str) -> str:
    return hmac.new(key_text.encode("utf-8"), digest_hex.encode("utf-8"), hashlib.sha256).hexdigest()


# --- key -------------------------------------------------------------------------------------


def key_path(state_dir: str) -> str:
    return os.path.join(state_dir, KEY_FILE)


def read_key(state_dir: str) -> str | None:
    """The HMAC key text, or None when the file is absent. A malformed key is an error."""
    path = key_path(state_dir)
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvironmentProblem(
            f"cannot read {path}: {exc}", "restore audit.key from a backup", code="key_unreadable"
        ) from exc
    key = text.strip()
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise EnvironmentProblem(
            f"{path} is not 64 lowercase hex characters",
            "restore audit.key from a backup; never regenerate it while the log has rows",
            code="key_malformed",
        )
    return key


def create_key(state_dir: str) -> str:
    """Write a fresh key with mode 0600, never replacing one, never visible half-written.

    The key goes to a private temp file first and is hard-linked into place: a concurrent
    reader sees either no key or the whole key, and an existing key always wins.
    """
    key = os.urandom(32).hex()
    final = key_path(state_dir)
    tmp = f"{final}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (key + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.chmod(tmp, 0o600)
        os.link(tmp, final)
    except FileExistsError:
        existing = read_key(state_dir)
        if existing is None:  # pragma: no cover - removed between link and read
            raise
        return existing
    finally:
        os.unlink(tmp)
    return key


def key_missing_error(state_dir: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"audit key {key_path(state_dir)} is missing but the audit log has rows",
        "restore .switchman/audit.key from a backup; it is never regenerated",
        code="key_missing",
    )


# --- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    id: int
    event_type: str
    status: str
    reason_code: str | None
    worktree: str | None
    task_id: str | None
    lease_id: str | None
    file_path: str | None
    details: str | None
    created_at: str
    sequence: int | None
    prev_hash: str | None
    entry_hash: str | None
    signature: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def row_from(values: tuple[Any, ...]) -> AuditRow:
    return AuditRow(*[os.fsdecode(v) if isinstance(v, bytes) else v for v in values])


def db_text(value: str | None) -> str | bytes | None:
    """SQLite text for a value that may hold lone surrogates (non-UTF-8 file names).

    Python's sqlite3 refuses such str; we store the original bytes as a BLOB instead and
    `row_from` turns them back into the same str, so hashes recompute identically.
    """
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(value)
    return value


def append(
    conn: sqlite3.Connection,
    key: str,
    event_type: str,
    status: str = "info",
    *,
    reason_code: str | None = None,
    worktree: str | None = None,
    task_id: str | None = None,
    lease_id: str | None = None,
    file_path: str | None = None,
    details: Any = None,
    created_at: str | None = None,
) -> AuditRow:
    """Append one signed row. Must run inside the caller's BEGIN IMMEDIATE transaction."""
    if status not in STATUSES:
        raise BadInput(f"audit status {status!r} is not one of {', '.join(STATUSES)}")
    if details is not None and not isinstance(details, str):
        details = dumps(details)
    last = conn.execute(
        "SELECT sequence, entry_hash FROM audit_log WHERE sequence IS NOT NULL "
        "ORDER BY sequence DESC LIMIT 1"
    ).fetchone()
    sequence = (last[0] + 1) if last else 1
    prev_hash = last[1] if last else None
    event = {
        "sequence": sequence,
        "prev_hash": prev_hash,
        "event_type": event_type,
        "status": status,
        "reason_code": reason_code,
        "worktree": worktree,
        "task_id": task_id,
        "lease_id": lease_id,
        "file_path": file_path,
        "details": details,
        "created_at": created_at or now_iso(),
    }
    digest = entry_hash(event)
    signature = sign(key, digest)
    cur = conn.execute(
        "INSERT INTO audit_log (event_type, status, reason_code, worktree, task_id, lease_id, "
        "file_path, details, created_at, sequence, prev_hash, entry_hash, signature) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            event_type,
            status,
            reason_code,
            db_text(worktree),
            task_id,
            lease_id,
            db_text(file_path),
            db_text(details),
            event["created_at"],
            sequence,
            prev_hash,
            digest,
            signature,
        ),
    )
    # --- issue 5: fold the row into the Merkle tree in the same transaction, and make sure the
    # post-commit checkpoint writer is registered (imported on first append, whoever opened the
    # Store: CLI, hook runner, installer), so only processes that append pay for it.
    merkle.fold(conn, sequence, prev_hash, digest)
    if "switchman.checkpoints" not in sys.modules:
        from . import checkpoints  # noqa: F401
    # --- end issue 5 ---
    return AuditRow(
        id=int(cur.lastrowid or 0),
        event_type=event_type,
        status=status,
        reason_code=reason_code,
        worktree=worktree,
        task_id=task_id,
        lease_id=lease_id,
        file_path=file_path,
        details=details,
        created_at=event["created_at"],
        sequence=sequence,
        prev_hash=prev_hash,
        entry_hash=digest,
        signature=signature,
    )


def iter_rows(conn: sqlite3.Connection, since_sequence: int | None = None) -> Iterator[AuditRow]:
    sql = f"SELECT {ROW_COLUMNS} FROM audit_log"
    params: tuple[Any, ...] = ()
    if since_sequence is not None:
        sql += " WHERE sequence > ?"
        params = (since_sequence,)
    for values in conn.execute(sql + " ORDER BY id", params):
        yield row_from(values)


def list_rows(
    conn: sqlite3.Connection,
    *,
    event_type: str | None = None,
    status: str | None = None,
    task_id: str | None = None,
    worktree: str | None = None,
    limit: int | None = 50,
) -> list[AuditRow]:
    """Newest first."""
    clauses, params = [], []
    for column, value in (("event_type", event_type), ("status", status), ("task_id", task_id), ("worktree", worktree)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    sql = f"SELECT {ROW_COLUMNS} FROM audit_log"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [row_from(v) for v in conn.execute(sql, params)]


# --- verify ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    id: int | None
    sequence: int | None
    reason_code: str
    message: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    failures: list[Failure] = field(default_factory=list)
    last_sequence: int | None = None
    last_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "count": self.count,
            "failures": [asdict(f) for f in self.failures],
        }


def verify(
    conn: sqlite3.Connection,
    key: str | None,
    *,
    max_failures: int = 1000,
    leaves: list[bytes] | None = None,
) -> VerifyResult:
    """Walk the rows in insertion order and check sequence, chain, hash and signature.

    `leaves` (issue 5), when given, receives the Merkle leaf hash of every signed, sequenced row
    in walk order, computed from the *recomputed* entry hash, so checkpoints are checked against
    what the rows say rather than what their entry_hash column claims, in the same single pass.
    """
    failures: list[Failure] = []
    count = 0
    expected_seq = 1
    prev: str | None = None
    last_seq: int | None = None

    def fail(row: AuditRow | None, code: str, message: str) -> None:
        if len(failures) < max_failures:
            failures.append(Failure(row.id if row else None, row.sequence if row else None, code, message))

    rows = conn.execute(f"SELECT {ROW_COLUMNS} FROM audit_log ORDER BY id")
    key_bytes = key.encode("utf-8") if key is not None else None
    sha256 = hashlib.sha256
    # Speed (issue 5, 100k rows < 3 s): one reused encoder with exactly `dumps`'s settings; text
    # that is not pure ASCII (where lone surrogates could hide) takes the canonical() path.
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for values in rows:
        row = row_from(values)
        count += 1
        if row.entry_hash is None or row.signature is None:
            fail(row, "unsigned_row", f"row {row.id} ({row.event_type}) has no entry hash or signature")
            # Keep walking: an unsigned row breaks nothing after it by itself.
            continue
        if row.sequence is None:
            fail(row, "missing_sequence", f"row {row.id} is signed but has no sequence number")
        elif row.sequence != expected_seq:
            fail(
                row,
                "sequence_gap",
                f"row {row.id} has sequence {row.sequence}, expected {expected_seq}",
            )
        if row.prev_hash != prev:
            fail(
                row,
                "prev_hash_mismatch",
                f"row {row.id} prev_hash does not match the entry hash of the row before it",
            )
        event = {k: getattr(row, k) for k in CANONICAL_KEYS}
        text = encode(event)
        if not text.isascii():
            text = canonical(event)
        digest = sha256(text.encode("utf-8")).hexdigest()
        if digest != row.entry_hash:
            fail(row, "entry_hash_mismatch", f"row {row.id} content does not match its entry hash")
        if leaves is not None and row.sequence is not None:  # issue 5
            leaves.append(sha256(b"\x00" + bytes.fromhex(digest)).digest())
        if key_bytes is not None:
            expect_sig = hmac.digest(key_bytes, row.entry_hash.encode("utf-8"), "sha256").hex()
            if not hmac.compare_digest(expect_sig, row.signature):
                fail(row, "signature_mismatch", f"row {row.id} signature does not match audit.key")
        prev = row.entry_hash
        if row.sequence is not None:
            expected_seq = row.sequence + 1
            last_seq = row.sequence
    if key is None and count:
        failures.insert(
            0,
            Failure(None, None, "key_missing", "audit.key is missing; signatures cannot be checked"),
        )
    return VerifyResult(not failures, count, failures, last_seq, prev)
