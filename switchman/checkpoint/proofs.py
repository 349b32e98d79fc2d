"""Inclusion proofs of one audit event under a signed checkpoint, pure (no I/O).

A proof carries the event itself, so `verify_proof` recomputes its entry hash: it proves the
content, not just a hash, with nothing but the public key (no repository, no database).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from .. import audit, merkle
from ..errors import BadInput, Denied, NotFound
from .keys import TrustedKey, VerifierKey, signed_by
from .note import Checkpoint, parse_checkpoint

PROOF_FORMAT = "switchman-hook/inclusion-proof/v1"


def build_proof(cp: Checkpoint, rows: Iterable[audit.AuditRow], sequence: int) -> dict[str, Any]:
    """The proof of event `sequence` in the tree of `cp` (already verified), from the log's rows."""
    if sequence < 1:
        raise BadInput(f"sequence {sequence} must be at least 1")
    sha256 = hashlib.sha256
    leaves: list[bytes] = []
    target: tuple[int, dict[str, Any], str] | None = None
    for row in rows:
        if len(leaves) >= cp.size:
            break
        if row.entry_hash is None or row.signature is None or row.sequence is None:
            continue
        event = {k: getattr(row, k) for k in audit.CANONICAL_KEYS}
        digest = sha256(audit.canonical(event).encode("utf-8")).hexdigest()
        if row.sequence == sequence and target is None:
            target = (len(leaves), event, digest)
        leaves.append(merkle.leaf_hash(bytes.fromhex(digest)))
    if target is None:
        if sequence > cp.size:
            raise NotFound(
                f"event {sequence} is not covered by the checkpoint (size {cp.size})",
                "run `switchman-hook audit checkpoint` first",
            )
        raise NotFound(f"no signed event with sequence {sequence}", "see `switchman-hook audit list`")
    if len(leaves) != cp.size or merkle.root_of(leaves) != cp.root:
        raise Denied(
            f"the log no longer matches the signed checkpoint (size {cp.size})",
            "run `switchman-hook audit verify`",
            code="checkpoint_root_mismatch",
        )
    index, event, digest = target
    return {
        "format": PROOF_FORMAT,
        "origin": cp.origin,
        "sequence": sequence,
        "leaf_index": index,
        "tree_size": cp.size,
        "entry": event,
        "entry_hash": digest,
        "hashes": [h.hex() for h in merkle.inclusion_proof(index, leaves)],
        "checkpoint": cp.note,
    }


def verify_proof(doc: Any, key: VerifierKey) -> list[audit.Failure]:
    """Check a `build_proof` document with nothing but the public key."""
    if not isinstance(doc, dict) or doc.get("format") != PROOF_FORMAT:
        raise BadInput("not a switchman-hook inclusion proof", "pass the output of `switchman-hook audit prove SEQ --json`")
    try:
        sequence = int(doc["sequence"])
        index = int(doc["leaf_index"])
        size = int(doc["tree_size"])
        entry = dict(doc["entry"])
        claimed = str(doc["entry_hash"])
        hashes = [bytes.fromhex(h) for h in doc["hashes"]]
        note = str(doc["checkpoint"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"malformed inclusion proof: {exc}", "pass the output of `switchman-hook audit prove SEQ --json`") from exc
    failures: list[audit.Failure] = []

    def fail(code: str, message: str) -> None:
        failures.append(audit.Failure(None, sequence, code, message))

    try:
        cp: Checkpoint | None = parse_checkpoint(note)
    except ValueError as exc:
        cp = None
        fail("checkpoint_signature_invalid", f"the proof's checkpoint is malformed: {exc}")
    if cp is not None and signed_by(cp, [TrustedKey(key, None)]) is None:
        fail("checkpoint_signature_invalid", f"the proof's checkpoint is not signed by {key.name}+{key.key_hash.hex()}")
        cp = None  # an unsigned root proves nothing; do not report inclusion against it
    if audit.entry_hash(entry) != claimed or entry.get("sequence") != sequence:
        fail("entry_hash_mismatch", "the event's content does not hash to the proof's entry hash")
    if cp is not None:
        leaf = merkle.entry_leaf(claimed)
        if size != cp.size or not merkle.verify_inclusion(index, cp.size, leaf, hashes, cp.root):
            fail("inclusion_proof_invalid", f"the proof does not place event {sequence} under the signed root (size {cp.size})")
    return failures
