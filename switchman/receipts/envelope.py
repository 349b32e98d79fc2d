"""A receipt: an in-toto v1 Statement about one commit, in a DSSE envelope signed with Ed25519.

Why this shape: DSSE signs the exact payload bytes (no canonical-JSON problem on verify) and
binds the payload type (PAE), and in-toto Statements are what supply-chain tools already read.
One envelope is one line of compact JSON, so a commit's note can hold several (rewrites) and
notes merge by line (`cat_sort_uniq`).

Pure: no git, no files. The signing key and the trusted keys are parameters (a `Signer` and
`VerifierKey`s from the checkpoint module, or anything with the same `sign` / `verify` / `text`).
`cryptography` is only imported (by those key classes) when something is signed or verified.

`changes_digest` byte form (what CI recomputes from git): the sorted `changes` entries, each
`<status> SP <path> SP <blob hex>` encoded as UTF-8 with the path's original bytes kept
(`os.fsencode`, i.e. surrogateescape), each followed by one NUL byte, concatenated; the digest is
the lowercase hex SHA-256 of that. Entries sort by those bytes. A path cannot contain NUL, so
the form is unambiguous even for paths with spaces or newlines. No changes: SHA-256 of nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..records import Record

if TYPE_CHECKING:  # pragma: no cover
    from ..checkpoint.keys import Signer, VerifierKey

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
# A URN: no http host we would have to own or keep serving.
PREDICATE_TYPE = "urn:switchman-hook:predicate:commit-receipt:v1"

VERDICTS = frozenset({"allowed", "observed", "bypassed", "picked"})
OPERATIONS = frozenset({"commit", "amend", "merge", "cherry-pick", "revert", "rebase", "am"})

# Reason codes a line can fail with (the gate adds its own on top).
SIGNATURE_INVALID = "receipt_signature_invalid"
UNTRUSTED_KEY = "untrusted_key"
MALFORMED = "receipt_malformed"

_HEX = frozenset("0123456789abcdef")


def _is_oid(text: Any) -> bool:
    return isinstance(text, str) and len(text) in (40, 64) and set(text) <= _HEX


# --- changes -----------------------------------------------------------------------------------


def change_entry(status: str, path: str, blob: str) -> str:
    """One `changes` entry; `path` is the str git's bytes decode to with `os.fsdecode`."""
    if not status or " " in status or not _is_oid(blob) or not path or "\0" in path:
        raise ValueError(f"bad change entry: {status!r} {path!r} {blob!r}")
    return f"{status} {path} {blob}"


def _entry_bytes(entry: str) -> bytes:
    return entry.encode("utf-8", "surrogateescape")


def sort_changes(entries: Iterable[str]) -> list[str]:
    """Entries in digest order (by their bytes, as git orders paths)."""
    return sorted(entries, key=_entry_bytes)


def changes_digest(entries: Iterable[str]) -> str:
    """Lowercase hex SHA-256 of the sorted entries, each as bytes + NUL (see the module doc)."""
    h = hashlib.sha256()
    for entry in sort_changes(entries):
        h.update(_entry_bytes(entry))
        h.update(b"\0")
    return h.hexdigest()


# --- statement ---------------------------------------------------------------------------------


def build_statement(
    commit: str,
    *,
    tree: str,
    parents: Sequence[str],
    verdict: str,
    mode: str,
    operation: str,
    changes: Iterable[str],
    worktree: str | None = None,
    task_id: str | None = None,
    lease_id: str | None = None,
    audit_sequence: int | None = None,
    entry_hash: str | None = None,
    source: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The in-toto v1 Statement for `commit` (subject by `gitCommit` digest).

    `source` is the commit a rewrite or pick came from (None for a fresh commit). No timestamp:
    the same facts give the same bytes, and Ed25519 is deterministic, so re-recording a commit
    adds no second line.
    """
    if not _is_oid(commit) or not _is_oid(tree) or not all(_is_oid(p) for p in parents):
        raise ValueError("commit, tree and parents must be full lowercase object ids")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {sorted(VERDICTS)}")
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {sorted(OPERATIONS)}")
    if source is not None and not _is_oid(source):
        raise ValueError("source must be a full object id or None")
    entries = sort_changes(changes)
    predicate: dict[str, Any] = {
        **(extra or {}),
        "tree": tree,
        "parents": list(parents),
        "verdict": verdict,
        "mode": mode,
        "operation": operation,
        "worktree": worktree,
        "task_id": task_id,
        "lease_id": lease_id,
        "changes": entries,
        "changes_digest": changes_digest(entries),
        "audit_sequence": audit_sequence,
        "entry_hash": entry_hash,
        "source": source,
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": commit, "digest": {"gitCommit": commit}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def _compact(obj: Any) -> str:
    # ASCII-only: lone surrogates (non-UTF-8 path bytes) become \udcXX escapes, never invalid UTF-8.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# --- DSSE --------------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is actually signed."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sign_statement(statement: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """A DSSE envelope; `keyid` is the signer's C2SP verifier key text (a hint, never trusted)."""
    payload = _compact(statement).encode("ascii")
    sig = signer.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": signer.verifier.text, "sig": base64.b64encode(sig).decode("ascii")}],
    }


def dump_line(envelope: Mapping[str, Any]) -> str:
    """One envelope as one line of compact JSON (no newline at the end)."""
    return _compact(envelope)


def receipt_line(statement: Mapping[str, Any], signer: Signer) -> str:
    """Sign and serialise in one step: what the recording hooks append to the notes ref."""
    return dump_line(sign_statement(statement, signer))


# --- parse and verify --------------------------------------------------------------------------


class Checked(Record):
    """What one receipt line says once checked.

    `reason` is None when a trusted key signed it; then `statement` is the Statement and `keyid`
    the trusted key's text. With `untrusted_key` the statement is still returned (it is well
    signed, by a key we do not trust), so the gate can say which commit it claims.
    """

    statement: dict[str, Any] | None
    keyid: str | None
    reason: str | None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def predicate(self) -> dict[str, Any]:
        return (self.statement or {}).get("predicate") or {}

    @property
    def subject(self) -> str | None:
        try:
            return self.statement["subject"][0]["digest"]["gitCommit"]  # type: ignore[index]
        except (TypeError, KeyError, IndexError):
            return None


def _bad(detail: str) -> Checked:
    return Checked(None, None, MALFORMED, detail)


def _unb64(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, binascii.Error):
        return None


_REQUIRED = {
    "tree": str,
    "parents": list,
    "verdict": str,
    "mode": str,
    "operation": str,
    "changes": list,
    "changes_digest": str,
}


def _statement_problem(st: Any) -> str | None:
    """Why a (signed) payload is not a receipt Statement we understand, or None."""
    if not isinstance(st, dict) or st.get("_type") != STATEMENT_TYPE:
        return "payload is not an in-toto v1 Statement"
    if st.get("predicateType") != PREDICATE_TYPE:
        return f"predicateType is not {PREDICATE_TYPE}"
    subj = st.get("subject")
    if not (isinstance(subj, list) and len(subj) == 1 and isinstance(subj[0], dict)):
        return "subject must name exactly one commit"
    digest = subj[0].get("digest")
    oid = digest.get("gitCommit") if isinstance(digest, dict) else None
    if not _is_oid(oid) or subj[0].get("name") != oid:
        return "subject is not a commit id"
    pred = st.get("predicate")
    if not isinstance(pred, dict):
        return "predicate missing"
    for name, kind in _REQUIRED.items():
        if not isinstance(pred.get(name), kind):
            return f"predicate.{name} missing or not a {kind.__name__}"
    if not all(isinstance(c, str) for c in pred["changes"]):
        return "predicate.changes must be strings"
    if changes_digest(pred["changes"]) != pred["changes_digest"]:
        return "predicate.changes_digest does not match predicate.changes"
    return None


class KeyRing:
    """The trusted keys, indexed by their verifier-key text, each Ed25519 key object built once.

    Build one per verification run: checking 1,000 receipts then costs 1,000 signature checks,
    not 1,000 key decodings and text renderings as well.
    """

    def __init__(self, keys: Iterable[VerifierKey]) -> None:
        self.keys = list(dict.fromkeys(keys))
        self.by_text = {k.text: k for k in self.keys}
        self.text_of = {id(k): text for text, k in self.by_text.items()}
        self._pub: dict[bytes, Any] = {}

    def verify(self, key: VerifierKey, message: bytes, sig: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        pub = self._pub.get(key.public_key)
        if pub is None:
            pub = self._pub[key.public_key] = Ed25519PublicKey.from_public_bytes(key.public_key)
        if len(sig) != 64:
            return False
        try:
            pub.verify(sig, message)
        except InvalidSignature:
            return False
        return True


def parse_line(line: str, trusted: Sequence[VerifierKey] | KeyRing) -> Checked:
    """Check one receipt line against the trusted keys.

    A signature counts when a trusted key verifies it (the keyid only picks which key to try
    first). When none does: if the keyid is itself a verifier key that verifies the signature,
    the receipt is `untrusted_key`; otherwise it is `receipt_signature_invalid` (edited payload,
    wrong key). Anything that is not a DSSE envelope with a receipt Statement is `receipt_malformed`.
    """
    ring = trusted if isinstance(trusted, KeyRing) else KeyRing(trusted)
    env = _envelope(line)
    if isinstance(env, str):
        return _bad(env)
    payload, sigs = env
    message = pae(PAYLOAD_TYPE, payload)
    claimed: list[tuple[str, bytes]] = []
    for keyid, sig in sigs:
        first = ring.by_text.get(keyid)
        order = [first] if first is not None else []
        order += [k for k in ring.keys if k is not first]
        for key in order:
            if ring.verify(key, message, sig):
                return _with_statement(payload, ring.text_of[id(key)], None, "")
        claimed.append((keyid, sig))
    for keyid, sig in claimed:
        own = _parse_key(keyid)
        if own is not None and own.verify(message, sig):
            return _with_statement(payload, keyid, UNTRUSTED_KEY, f"signed by {own.name}, not a trusted key")
    return Checked(None, claimed[0][0] or None, SIGNATURE_INVALID, "no signature verifies the payload")


def _envelope(line: str) -> tuple[bytes, list[tuple[str, bytes]]] | str:
    """(payload, [(keyid, sig)]) of a DSSE envelope line, or why it is not one."""
    try:
        env = json.loads(line)
    except ValueError:
        return "not JSON"
    if not isinstance(env, dict) or env.get("payloadType") != PAYLOAD_TYPE:
        return f"not a DSSE envelope with payloadType {PAYLOAD_TYPE}"
    payload = _unb64(env.get("payload"))
    sigs = env.get("signatures")
    if payload is None or not isinstance(sigs, list) or not sigs:
        return "envelope has no payload or no signatures"
    out: list[tuple[str, bytes]] = []
    for entry in sigs:
        sig = _unb64(entry.get("sig")) if isinstance(entry, dict) else None
        if sig is None:
            return "a signature is not base64"
        keyid = entry.get("keyid")
        out.append((keyid if isinstance(keyid, str) else "", sig))
    return payload, out


def peek_predicate(line: str) -> dict[str, Any] | None:
    """The predicate of a line WITHOUT checking any signature: only to find candidates cheaply
    (which receipts might vouch for a digest or a blob); trust nothing before `parse_line`."""
    env = _envelope(line)
    if isinstance(env, str):
        return None
    try:
        pred = json.loads(env[0]).get("predicate")
    except (ValueError, AttributeError):
        return None
    return pred if isinstance(pred, dict) else None


def _with_statement(payload: bytes, keyid: str, reason: str | None, detail: str) -> Checked:
    try:
        st = json.loads(payload)
    except ValueError:
        return Checked(None, keyid, MALFORMED, "signed payload is not JSON")
    problem = _statement_problem(st)
    if problem is not None:
        return Checked(None, keyid, MALFORMED, problem)
    return Checked(st, keyid, reason, detail)


def _parse_key(text: str) -> VerifierKey | None:
    if not text:
        return None
    from ..checkpoint.keys import VerifierKey  # lazy: only for lines no trusted key signed

    try:
        return VerifierKey.parse(text)
    except Exception:  # BadInput: not a key at all
        return None
