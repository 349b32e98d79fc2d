"""The audit trail's one verdict: the HMAC chain (SPEC §3) and the signed checkpoint (SPEC §9).

`audit verify`, the push/ci gates and `doctor` all ask the same question and present the answer
their own way; the merging of the two verdicts happens here, once.
"""

from __future__ import annotations

from typing import Any

from . import audit
from .checkpoint.verify import CheckpointStatus, verify_log
from .records import Record
from .repo import RepoPaths
from .store import audit_log
from .store.sqlite import Store

GATE_FAILURES = 20  # per verdict, in a gate's violations


class Trail(Record):
    chain: audit.VerifyResult
    checkpoint: CheckpointStatus | None  # None only when `error` says why it could not be checked
    error: Exception | None = None

    @property
    def failures(self) -> list[audit.Failure]:
        """Every failure: the chain's, then the checkpoint's."""
        return self.chain.failures + (
            self.checkpoint.failures if self.checkpoint is not None else []
        )

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failures

    def distinct_failures(self, limit: int = GATE_FAILURES) -> list[audit.Failure]:
        """For a gate: the chain's first failures, then checkpoint failures of codes not yet shown."""
        shown = list(self.chain.failures[:limit])
        codes = {f.reason_code for f in shown}
        extra = self.checkpoint.failures if self.checkpoint is not None else []
        return shown + [f for f in extra if f.reason_code not in codes][:limit]

    def to_dict(self) -> dict[str, Any]:
        """`audit verify --json`: the chain's fields, every failure, and the checkpoint's summary."""
        assert self.checkpoint is not None
        data = self.chain.to_dict()
        checkpoint = self.checkpoint.to_dict()
        del checkpoint["failures"]
        data.update(
            ok=self.ok,
            failures=[f.__dict__ for f in self.failures],
            uncovered=self.checkpoint.uncovered,
            checkpoint=checkpoint,
        )
        return data


def verify_trail(
    paths: RepoPaths,
    store: Store,
    key: str | None,
    *,
    against: str | None = None,
    contain: bool = False,
) -> Trail:
    """Chain and checkpoint in one pass over the rows (see checkpoint.verify.verify_log).

    `contain` (doctor): a checkpoint that cannot be checked is reported in `Trail.error` with the
    chain still verified, instead of raising; an error of the chain itself still raises.
    """
    head = _head(store)  # read before the rows: appends in between only make the log longer
    try:
        chain, status = verify_log(paths, store, key, against=against)
    except Exception as exc:
        if not contain:
            raise
        return Trail(_server_signed(store, key, audit_log.verify(store.conn, key), head), None, exc)
    return Trail(_server_signed(store, key, chain, head), status)


def _head(store: Any) -> tuple[int, str | None] | None:
    server_head = getattr(store, "server_head", None)
    return server_head() if server_head is not None else None


def _server_signed(
    store: Any, key: str | None, chain: audit.VerifyResult, head: tuple[int, str | None] | None = None
) -> audit.VerifyResult:
    """A server store keeps the HMAC key (SPEC §12): it checks the signatures, we the rest; and
    its head row says where the chain ends, so a deleted tail shows from every clone."""
    bad = getattr(store, "bad_signatures", None)
    if bad is None:
        return chain
    failures = list(chain.failures)
    if key is None:
        failures = [f for f in failures if f.reason_code != "key_missing"] + [
            audit.Failure(
                rid,
                seq,
                "signature_mismatch",
                f"row {rid} signature does not verify (checked by the server)",
            )
            for rid, seq in bad()
        ]
    if head is not None:
        failures += _head_failures(chain, *head)
    return audit.VerifyResult(
        not failures, chain.count, failures, chain.last_sequence, chain.last_hash
    )


def _head_failures(chain: audit.VerifyResult, head_seq: int, head_hash: str | None) -> list[audit.Failure]:
    last = chain.last_sequence or 0
    if last > head_seq or (last == head_seq and chain.last_hash == head_hash):
        return []  # the head, or rows appended after it was read
    return [
        audit.Failure(
            None,
            head_seq,
            "server_head_mismatch",
            f"the server's head row says the log ends at sequence {head_seq} but it ends at {last}"
            + (" with another hash" if last == head_seq else ": rows were deleted"),
        )
    ]
