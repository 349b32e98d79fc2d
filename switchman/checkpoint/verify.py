"""Checking the log against its checkpoints: the ref, the ref's reflog and a witness copy."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

from .. import audit, merkle
from ..errors import BadInput, Denied, NotFound
from ..records import Record, asdict, factory
from ..repo import RepoPaths, git_env
from ..store import audit_log
from ..store.sqlite import Store
from . import keys
from .keys import keyring, signed_by
from .note import Checkpoint, parse_or_none
from .proofs import build_proof
from .ref import REF, RefSnapshot, cat_batch, read_blob, read_ref


class CheckpointStatus(Record):
    """What `audit verify`, `gate push|ci` and `doctor` need to know about the checkpoint.

    state: ok | failed | missing (keys exist, no checkpoint yet) | disabled (never set up).
    """

    ok: bool
    size: int | None  # size of the checkpoint on the ref; None when there is none
    uncovered: int  # events in the log that no valid checkpoint covers yet
    failures: list[audit.Failure] = factory(list)
    detail: str = ""
    state: str = "ok"
    log_size: int = 0
    root: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "state": self.state,
            "ref": REF,
            "size": self.size,
            "root": self.root,
            "log_size": self.log_size,
            "uncovered": self.uncovered,
            "detail": self.detail,
            "failures": [asdict(f) for f in self.failures],
        }


def recomputed_leaves(conn: sqlite3.Connection) -> list[bytes]:
    """Leaf hashes from each signed, sequenced row's *recomputed* entry hash, in row order."""
    sha256 = hashlib.sha256
    leaves: list[bytes] = []
    for values in audit_log.all_row_tuples(conn):
        row = audit.row_from(values)
        if row.entry_hash is None or row.signature is None or row.sequence is None:
            continue
        digest = sha256(audit.canonical({k: getattr(row, k) for k in audit.CANONICAL_KEYS}).encode("utf-8")).digest()
        leaves.append(sha256(b"\x00" + digest).digest())
    return leaves


def load_witness(paths: RepoPaths, source: str) -> str:
    """A witness checkpoint from a file (note text, or a proof JSON carrying one) or a git rev."""
    text: str | None = None
    if os.path.isfile(source):
        with open(source, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    else:
        blob = read_blob(paths.common_dir, source)
        if blob is None:
            raise BadInput(f"--against {source}: no such file or git blob", "pass a checkpoint file or a ref such as refs/switchman/witness")
        text = blob.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):
        try:
            text = str(json.loads(text)["checkpoint"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"--against {source}: JSON without a checkpoint", "pass a checkpoint or a proof file") from exc
    return text


# What a checkpoint written by a concurrent writer in the middle of a verify looks like.
RACY_CODES = frozenset({"log_shorter_than_checkpoint", "checkpoint_rollback"})


def verify_log(
    paths: RepoPaths, store: Store, key: str | None, *, against: str | None = None
) -> tuple[audit.VerifyResult, CheckpointStatus]:
    """Chain + checkpoint in one pass over the rows, safe against concurrent appenders.

    A rollback/shorter-log answer is re-checked once from a fresh snapshot: a writer caught
    between its reflog entry and its ref update looks like that for a moment; tampering persists.
    """
    for attempt in (1, 2):
        snap = RefSnapshot(paths)
        leaves: list[bytes] = []
        result = audit_log.verify(store.conn, key, leaves=leaves)
        status = verify_checkpoint(paths, store, leaves=leaves, against=against, snapshot=snap)
        if attempt == 1 and any(f.reason_code in RACY_CODES for f in status.failures):
            continue
        return result, status
    raise AssertionError("unreachable")  # pragma: no cover


def verify_checkpoint(
    paths: RepoPaths,
    store: Store,
    *,
    leaves: Sequence[bytes] | None = None,
    against: str | None = None,
    snapshot: RefSnapshot | None = None,
) -> CheckpointStatus:
    """Check the log against the checkpoint ref, its reflog and (optionally) a witness.

    `leaves`: the leaf hashes `audit.verify(..., leaves=buf)` collected; without them the rows
    are read and rehashed here (one more pass). `against`: a witness checkpoint (file or git rev).
    Failure codes: log_shorter_than_checkpoint, checkpoint_root_mismatch,
    checkpoint_signature_invalid, checkpoint_rollback, fork_detected.
    """
    conn = store.conn
    if snapshot is None:
        snapshot = RefSnapshot(paths)
    if leaves is None:
        leaves = recomputed_leaves(conn)
    rid = keys.repo_id(conn)
    origin = keys.origin_for(rid) if rid else None
    ring = keyring(conn)
    env = git_env(for_other_worktree=True)
    cwd = paths.common_dir
    witness_text = load_witness(paths, against) if against is not None else None

    cur_raw = snapshot.current
    log_oids, has_reflog = snapshot.reflog, snapshot.has_reflog
    others = [o for o in log_oids if cur_raw is None or o != cur_raw[0]]
    blobs = cat_batch(cwd, others, env)

    cur = parse_or_none(cur_raw[1]) if cur_raw else None
    history = [(oid, parse_or_none(b[1])) for oid, b in zip(others, blobs, strict=True) if b is not None]
    witness = parse_or_none(witness_text) if witness_text is not None else None
    sizes = {cp.size for cp in [cur, witness, *(c for _, c in history)] if cp is not None}
    log_size, roots = merkle.roots_at(leaves, sizes)
    failures: list[audit.Failure] = []
    sig_cache: dict[str, bool] = {}

    def fail(code: str, size: int | None, message: str) -> None:
        failures.append(audit.Failure(None, size, code, message))

    def valid(cp: Checkpoint) -> bool:
        if cp.note not in sig_cache:
            sig_cache[cp.note] = cp.origin == origin and signed_by(cp, ring) is not None
        return sig_cache[cp.note]

    def who(cp: Checkpoint) -> str:
        if origin is not None and cp.origin != origin:
            return f"its origin {cp.origin!r} is not this repo's ({origin})"
        return "no trusted checkpoint key signed it" if ring else "this repo has no checkpoint keys"

    # 1. The checkpoint on the ref.
    cur_ok = False
    if cur_raw is not None and cur is None:
        fail("checkpoint_signature_invalid", None, f"{REF} ({cur_raw[0][:12]}) is not a well-formed signed checkpoint")
    elif cur is not None:
        if not valid(cur):
            fail("checkpoint_signature_invalid", cur.size, f"{REF} checkpoint (size {cur.size}): {who(cur)}")
        elif cur.size > log_size:
            fail(
                "log_shorter_than_checkpoint",
                cur.size,
                f"the signed checkpoint covers {cur.size} events but the log has {log_size}: rows were deleted",
            )
        elif roots[cur.size] != cur.root:
            fail(
                "checkpoint_root_mismatch",
                cur.size,
                f"the first {cur.size} events no longer hash to the signed root: the log was rewritten",
            )
        else:
            cur_ok = True

    # 2. The reflog: older checkpoints the log must still extend, and none newer than the ref.
    if cur_raw is None and history:
        fail("checkpoint_rollback", None, f"{REF} is gone but its reflog holds {len(history)} checkpoint(s)")
    bad_history = 0
    for oid, cp in history:
        if cp is None:
            fail("checkpoint_signature_invalid", None, f"reflog entry {oid[:12]} is not a well-formed signed checkpoint")
            continue
        newer = cur is not None and cp.size > cur.size
        mismatch = cp.size > log_size or roots.get(cp.size) != cp.root
        if not (newer or mismatch):
            continue  # agrees with the log: nothing to report, whoever signed it
        if not valid(cp):
            fail("checkpoint_signature_invalid", cp.size, f"reflog checkpoint {oid[:12]} (size {cp.size}): {who(cp)}")
            continue
        bad_history += 1
        if newer:
            fail(
                "checkpoint_rollback",
                cp.size,
                f"{REF} is at size {cur.size if cur else '-'} but its reflog holds a signed checkpoint of size {cp.size}",
            )
        if cp.size > log_size:
            fail(
                "log_shorter_than_checkpoint",
                cp.size,
                f"reflog checkpoint {oid[:12]} covers {cp.size} events but the log has {log_size}",
            )
        elif mismatch:
            fail(
                "checkpoint_root_mismatch",
                cp.size,
                f"reflog checkpoint {oid[:12]}: the first {cp.size} events no longer hash to its signed root",
            )

    # 3. A witness copy (CI's saved checkpoint, a pushed ref, another clone's).
    if witness_text is not None:
        if witness is None or not valid(witness):
            size = witness.size if witness else None
            reason = who(witness) if witness else "not a well-formed signed checkpoint"
            fail("checkpoint_signature_invalid", size, f"witness {against}: {reason}")
        else:
            forked = False
            if cur_raw is None:
                fail("checkpoint_rollback", witness.size, f"{REF} is missing but witness {against} has size {witness.size}")
            if cur is not None and cur.size == witness.size and cur.root != witness.root:
                fail("fork_detected", witness.size, f"witness {against} and {REF} are both size {witness.size} with different roots")
                forked = True
            if cur is not None and witness.size > cur.size:
                fail("checkpoint_rollback", witness.size, f"{REF} (size {cur.size}) is older than witness {against} (size {witness.size})")
            if witness.size > log_size:
                fail(
                    "log_shorter_than_checkpoint",
                    witness.size,
                    f"witness {against} covers {witness.size} events but the log has {log_size}",
                )
            elif not forked and roots[witness.size] != witness.root:
                fail("fork_detected", witness.size, f"witness {against} (size {witness.size}) is not a prefix of this log")
                forked = True
            if not forked and cur is not None and cur_ok and cur.size != witness.size and max(cur.size, witness.size) <= log_size:
                old, new = sorted((cur, witness), key=lambda c: c.size)
                proof = merkle.consistency_proof(old.size, leaves[: new.size])
                if not merkle.verify_consistency(old.size, new.size, old.root, new.root, proof):
                    fail("fork_detected", new.size, f"checkpoint of size {new.size} does not extend the one of size {old.size}")

    size = cur.size if cur is not None else None
    uncovered = log_size - cur.size if (cur_ok and cur is not None) else log_size
    if failures:
        state = "failed"
        detail = f"{len(failures)} checkpoint problem(s); first: {failures[0].message}"
    elif cur is None and ring:
        state = "missing"
        detail = f"no checkpoint on {REF} yet ({log_size} events uncovered); run `switchman-hook audit checkpoint`"
    elif cur is None:
        state = "disabled"
        detail = "checkpoints are not set up (no signing key); run `switchman-hook init`"
    else:
        state = "ok"
        detail = f"checkpoint of size {cur.size} verifies; {uncovered} newer event(s) not yet covered"
        if not has_reflog:
            detail += f"; no reflog for {REF}"
    return CheckpointStatus(
        ok=not failures,
        size=size,
        uncovered=max(uncovered, 0),
        failures=failures,
        detail=detail,
        state=state,
        log_size=log_size,
        root=cur.root_hex if cur is not None else None,
    )


def prove(paths: RepoPaths, store: Store, sequence: int) -> dict[str, Any]:
    """An inclusion proof of event `sequence` in the tree of the current signed checkpoint."""
    conn = store.conn
    raw = read_ref(paths.common_dir, git_env(for_other_worktree=True))
    if raw is None:
        raise NotFound(f"there is no checkpoint on {REF}", "run `switchman-hook audit checkpoint`")
    cp = parse_or_none(raw[1])
    if cp is None:
        raise Denied(f"{REF} is not a well-formed checkpoint", "run `switchman-hook audit verify`")
    rid = keys.repo_id(conn)
    if cp.origin != (keys.origin_for(rid) if rid else None) or signed_by(cp, keyring(conn)) is None:
        raise Denied(f"the checkpoint on {REF} does not verify", "run `switchman-hook audit verify`", code="checkpoint_signature_invalid")
    rows = (audit.row_from(values) for values in audit_log.all_row_tuples(conn))
    return build_proof(cp, rows, sequence)
