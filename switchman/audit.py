"""The signed, hash-chained audit trail (SPEC §3), byte-compatible with switchman-dev 0.1.3.

entry_hash = sha256(canonical JSON of the row); signature = HMAC-SHA256(key = the 64-char hex
text of audit.key, msg = entry_hash hex). Each row's prev_hash is the previous row's entry_hash.
Pure: no database, no files. The store's backend appends rows (`Tx.audit_many`) and reads
them back; this module says what a row's bytes must be and checks a walk over given rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from .errors import BadInput
from .jsonutil import dumps
from .records import Record, asdict, factory

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
    # a server store (SPEC §12): the chain ends before the head row the server keeps
    "server_head_mismatch",
    # checkpoints (SPEC §9)
    "log_shorter_than_checkpoint",
    "checkpoint_root_mismatch",
    "checkpoint_signature_invalid",
    "checkpoint_rollback",
    "fork_detected",
    "inclusion_proof_invalid",
)


def canonical(event: dict[str, Any]) -> str:
    return dumps({k: event.get(k) for k in CANONICAL_KEYS})


def entry_hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(event).encode("utf-8")).hexdigest()


def sign(key_text: str, digest_hex: str) -> str:
    return hmac.new(key_text.encode("utf-8"), digest_hex.encode("utf-8"), hashlib.sha256).hexdigest()


# --- rows ------------------------------------------------------------------------------------


class AuditRow(Record):
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


# One encoder with exactly `jsonutil.dumps`'s settings: its output equals `dumps` whenever it is
# pure ASCII (lone surrogates, which `dumps` escapes, can only hide in non-ASCII text).
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_EVENT_KEYS = frozenset(
    ("event_type", "status", "reason_code", "worktree", "task_id", "lease_id", "file_path", "details", "created_at")
)


_estr = json.encoder.encode_basestring  # what `_encode` uses for str (C, non-ASCII kept)


def _fast_dumps(obj: Any) -> str:
    """`jsonutil.dumps(obj)`, with a shortcut for the usual details: a flat dict of str/None."""
    if type(obj) is dict:
        es = _estr
        try:
            text = "{" + ",".join([f"{es(k)}:{'null' if v is None else es(v)}" for k, v in obj.items()]) + "}"
        except TypeError:  # a non-str key or value: the encoder decides
            text = ""
        if text and text.isascii():
            return text
    text = _encode(obj)
    return text if text.isascii() else dumps(obj)


def canonical_of(*fields: Any) -> str:
    """`canonical` of the event whose CANONICAL_KEYS values are `fields`, the fast way when it can."""
    return _canonical_text(*fields) or canonical(dict(zip(CANONICAL_KEYS, fields, strict=True)))


def _canonical_text(
    sequence: Any,
    prev_hash: Any,
    event_type: Any,
    status: Any,
    reason_code: Any,
    worktree: Any,
    task_id: Any,
    lease_id: Any,
    file_path: Any,
    details: Any,
    created_at: Any,
) -> str | None:
    """`canonical(event)` for the usual value types (int/None sequence, str/None text), or None.

    Formats the JSON directly instead of building a dict for the encoder (~1 us instead of
    ~2.2 us a row: 1M rows verify in ~1.3 s less). Byte-identical to `canonical` whenever it
    returns text: ints format as `json` formats them, strings go through the encoder's own
    `encode_basestring`, and non-ASCII results (where `dumps` escapes lone surrogates) and any
    other type return None so the caller takes the general path.
    """
    if sequence is not None and type(sequence) is not int:
        return None
    es = _estr
    try:
        text = (
            f'{{"sequence":{"null" if sequence is None else sequence},'
            f'"prev_hash":{"null" if prev_hash is None else es(prev_hash)},'
            f'"event_type":{"null" if event_type is None else es(event_type)},'
            f'"status":{"null" if status is None else es(status)},'
            f'"reason_code":{"null" if reason_code is None else es(reason_code)},'
            f'"worktree":{"null" if worktree is None else es(worktree)},'
            f'"task_id":{"null" if task_id is None else es(task_id)},'
            f'"lease_id":{"null" if lease_id is None else es(lease_id)},'
            f'"file_path":{"null" if file_path is None else es(file_path)},'
            f'"details":{"null" if details is None else es(details)},'
            f'"created_at":{"null" if created_at is None else es(created_at)}}}'
        )
    except TypeError:  # a value that is not a str (a tampered or foreign row): the general path
        return None
    return text if text.isascii() else None


def check_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The batch as a list, refused before any row is written when an event is malformed.

    Each event is a dict of `Tx.audit`'s arguments (`event_type` required; `status` defaults to
    info, the rest to None).
    """
    batch = list(events)
    for ev in batch:
        if not _EVENT_KEYS.issuperset(ev):
            unknown = ev.keys() - _EVENT_KEYS
            raise TypeError(f"append_many() got unexpected event keys: {', '.join(sorted(unknown))}")
        status = ev.get("status", "info")
        if status not in STATUSES:
            raise BadInput(f"audit status {status!r} is not one of {', '.join(STATUSES)}")
    return batch


Sealed = tuple[Any, ...]  # AuditRow's fields without the id: event_type ... signature


def seal(
    batch: list[dict[str, Any]],
    first_sequence: int,
    first_prev: str | None,
    key: str,
    now: Callable[[], str],
) -> tuple[list[Sealed], list[bytes]]:
    """Number, chain, hash and sign checked events after the chain head (first_sequence - 1).

    Returns the rows (AuditRow's fields after `id`, details as JSON text) and their RFC 6962
    leaf hashes, for one Merkle fold. `now` is called once, only if an event has no created_at.
    """
    key_bytes = key.encode("utf-8")
    sha256 = hashlib.sha256
    hmac_digest = hmac.digest
    stamp: str | None = None
    rows: list[Sealed] = []
    leaves: list[bytes] = []
    prev_hash = first_prev
    for i, ev in enumerate(batch):
        details = ev.get("details")
        if details is not None and not isinstance(details, str):
            details = _fast_dumps(details)
        created_at = ev.get("created_at")
        if not created_at:
            if stamp is None:
                stamp = now()
            created_at = stamp
        sequence = first_sequence + i
        event_type = ev["event_type"]
        status = ev.get("status", "info")
        reason_code = ev.get("reason_code")
        worktree = ev.get("worktree")
        task_id = ev.get("task_id")
        lease_id = ev.get("lease_id")
        file_path = ev.get("file_path")
        canonical_text = canonical_of(
            sequence, prev_hash, event_type, status, reason_code, worktree, task_id, lease_id, file_path, details, created_at
        )
        raw_digest = sha256(canonical_text.encode("utf-8")).digest()
        digest = raw_digest.hex()
        signature = hmac_digest(key_bytes, digest.encode("ascii"), "sha256").hex()
        rows.append(
            (
                event_type,
                status,
                reason_code,
                worktree,
                task_id,
                lease_id,
                file_path,
                details,
                created_at,
                sequence,
                prev_hash,
                digest,
                signature,
            )
        )
        leaves.append(sha256(b"\x00" + raw_digest).digest())
        prev_hash = digest
    return rows, leaves


# --- verify ----------------------------------------------------------------------------------


class Failure(Record):
    id: int | None
    sequence: int | None
    reason_code: str
    message: str


class VerifyResult(Record):
    ok: bool
    count: int
    failures: list[Failure] = factory(list)
    last_sequence: int | None = None
    last_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "count": self.count,
            "failures": [asdict(f) for f in self.failures],
        }


def verify_rows(
    rows: Iterable[tuple[Any, ...]],
    key: str | None,
    *,
    max_failures: int = 1000,
    leaves: list[bytes] | None = None,
) -> VerifyResult:
    """Walk the rows (ROW_COLUMNS tuples, in id order) and check sequence, chain, hash, signature.

    `leaves`, when given, receives the Merkle leaf hash of every signed, sequenced row
    in walk order, computed from the *recomputed* entry hash, so checkpoints are checked against
    what the rows say rather than what their entry_hash column claims, in the same single pass.
    """
    failures: list[Failure] = []
    count = 0
    expected_seq = 1
    prev: str | None = None
    last_seq: int | None = None

    def fail(values: tuple[Any, ...], code: str, message: str) -> None:
        if len(failures) < max_failures:
            failures.append(Failure(values[0], values[10], code, message))

    key_bytes = key.encode("utf-8") if key is not None else None
    sha256 = hashlib.sha256
    hmac_digest = hmac.digest
    compare = hmac.compare_digest
    decode = os.fsdecode
    # Speed (1M rows in seconds, benchmarks/README.md): rows stay tuples (no AuditRow
    # per row) and are formatted directly; anything else (non-ASCII, odd types) takes canonical().
    canonical_text = _canonical_text
    for values in rows:
        if bytes in map(type, values):  # non-UTF-8 names stored as BLOBs (db_text): as row_from
            values = tuple(decode(v) if isinstance(v, bytes) else v for v in values)
        (rid, event_type, status, reason_code, worktree, task_id, lease_id, file_path, details, created_at,
         sequence, prev_hash, ehash, signature) = values
        count += 1
        if ehash is None or signature is None:
            fail(values, "unsigned_row", f"row {rid} ({event_type}) has no entry hash or signature")
            # Keep walking: an unsigned row breaks nothing after it by itself.
            continue
        if sequence is None:
            fail(values, "missing_sequence", f"row {rid} is signed but has no sequence number")
        elif sequence != expected_seq:
            fail(values, "sequence_gap", f"row {rid} has sequence {sequence}, expected {expected_seq}")
        if prev_hash != prev:
            fail(values, "prev_hash_mismatch", f"row {rid} prev_hash does not match the entry hash of the row before it")
        text = canonical_text(
            sequence, prev_hash, event_type, status, reason_code, worktree, task_id, lease_id, file_path, details, created_at
        ) or canonical_of(
            sequence, prev_hash, event_type, status, reason_code, worktree, task_id, lease_id, file_path, details, created_at
        )
        raw = sha256(text.encode("utf-8")).digest()
        digest = raw.hex()
        if digest != ehash:
            fail(values, "entry_hash_mismatch", f"row {rid} content does not match its entry hash")
        if leaves is not None and sequence is not None:
            leaves.append(sha256(b"\x00" + raw).digest())
        if key_bytes is not None:
            expect_sig = hmac_digest(key_bytes, ehash.encode("utf-8"), "sha256").hex()
            if not compare(expect_sig, signature):
                fail(values, "signature_mismatch", f"row {rid} signature does not match audit.key")
        prev = ehash
        if sequence is not None:
            expected_seq = sequence + 1
            last_seq = sequence
    if key is None and count:
        failures.insert(
            0,
            Failure(None, None, "key_missing", "audit.key is missing; signatures cannot be checked"),
        )
    return VerifyResult(not failures, count, failures, last_seq, prev)
