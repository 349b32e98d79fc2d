"""Receipts: the in-toto Statement, the DSSE envelope, and what a verifier makes of a line."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from switchman.checkpoint.keys import Signer
from switchman.receipts import envelope
from switchman.receipts.verify import CommitFacts, decide

C1 = "1" * 40
C2 = "2" * 40
TREE = "a" * 40
BLOB = "b" * 40
ZERO = "0" * 40


@pytest.fixture(scope="module")
def key() -> Signer:
    return Signer.from_seed("repo-key", bytes(range(32)))


@pytest.fixture(scope="module")
def other() -> Signer:
    return Signer.from_seed("other-key", bytes(range(1, 33)))


def statement(commit: str = C1, **kw: object) -> dict:
    args: dict = {
        "tree": TREE,
        "parents": [C2],
        "verdict": "allowed",
        "mode": "guarded",
        "operation": "commit",
        "changes": [envelope.change_entry("M", "src/a.py", BLOB)],
        "worktree": "agent-a",
        "task_id": "t1",
        "lease_id": "l1",
        "audit_sequence": 7,
        "entry_hash": "e" * 64,
    }
    args.update(kw)
    return envelope.build_statement(commit, **args)


def test_round_trip(key: Signer) -> None:
    st = statement()
    line = envelope.receipt_line(st, key)
    assert "\n" not in line and line.isascii() and ": " not in line
    checked = envelope.parse_line(line, [key.verifier])
    assert checked.ok and checked.reason is None
    assert checked.statement == st
    assert checked.keyid == key.verifier.text
    assert checked.subject == C1
    assert st["subject"] == [{"name": C1, "digest": {"gitCommit": C1}}]
    assert st["predicateType"] == envelope.PREDICATE_TYPE and st["predicateType"].startswith("urn:")
    for field in ("tree", "parents", "verdict", "mode", "operation", "worktree", "task_id", "lease_id",
                  "changes", "changes_digest", "audit_sequence", "entry_hash", "source"):
        assert field in st["predicate"]
    env = json.loads(line)
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert [set(s) for s in env["signatures"]] == [{"keyid", "sig"}]
    # Same facts, same key: the same line (so a re-recorded commit adds nothing to its note).
    assert envelope.receipt_line(statement(), key) == line


def test_signature_is_ed25519_over_dsse_pae(key: Signer) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    assert envelope.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"  # the DSSE spec's test vector
    )
    env = json.loads(envelope.receipt_line(statement(), key))
    payload = base64.b64decode(env["payload"])
    sig = base64.b64decode(env["signatures"][0]["sig"])
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(sig, envelope.pae(env["payloadType"], payload))


def _retamper(line: str, edit) -> str:  # type: ignore[no-untyped-def]
    env = json.loads(line)
    st = json.loads(base64.b64decode(env["payload"]))
    edit(st)
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    return json.dumps(env)


def test_tampered_payload_is_signature_invalid(key: Signer) -> None:
    line = envelope.receipt_line(statement(verdict="bypassed"), key)
    forged = _retamper(line, lambda st: st["predicate"].update(verdict="allowed"))
    checked = envelope.parse_line(forged, [key.verifier])
    assert checked.reason == "receipt_signature_invalid" and checked.statement is None


def test_tampered_signature_is_signature_invalid(key: Signer) -> None:
    env = json.loads(envelope.receipt_line(statement(), key))
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[0] ^= 1
    env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    assert envelope.parse_line(json.dumps(env), [key.verifier]).reason == "receipt_signature_invalid"


def test_wrong_key_claiming_a_trusted_keyid_is_signature_invalid(key: Signer, other: Signer) -> None:
    env = json.loads(envelope.receipt_line(statement(), other))
    env["signatures"][0]["keyid"] = key.verifier.text  # signed by `other`, claims to be `key`
    assert envelope.parse_line(json.dumps(env), [key.verifier]).reason == "receipt_signature_invalid"


def test_untrusted_key(key: Signer, other: Signer) -> None:
    line = envelope.receipt_line(statement(), other)
    checked = envelope.parse_line(line, [key.verifier])
    assert checked.reason == "untrusted_key"
    assert checked.subject == C1 and "other-key" in checked.detail
    assert envelope.parse_line(line, []).reason == "untrusted_key"
    # Rotation: both keys listed, old receipts still verify.
    assert envelope.parse_line(line, [key.verifier, other.verifier]).ok


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[]",
        json.dumps({"payloadType": "text/plain", "payload": "", "signatures": []}),
        json.dumps({"payloadType": envelope.PAYLOAD_TYPE, "payload": "!!", "signatures": [{"sig": "AA=="}]}),
        json.dumps({"payloadType": envelope.PAYLOAD_TYPE, "payload": "e30=", "signatures": []}),
    ],
)
def test_malformed_lines(line: str, key: Signer) -> None:
    assert envelope.parse_line(line, [key.verifier]).reason == "receipt_malformed"


def test_signed_payload_that_is_no_receipt_is_malformed(key: Signer) -> None:
    st = statement()
    st["predicate"]["changes_digest"] = "0" * 64  # signed, but self-inconsistent
    line = envelope.dump_line(envelope.sign_statement(st, key))
    checked = envelope.parse_line(line, [key.verifier])
    assert checked.reason == "receipt_malformed" and "changes_digest" in checked.detail


def test_changes_digest_byte_form() -> None:
    odd = "dir/with space\nand newline/\udcff.bin"  # a non-UTF-8 byte (0xff) as git gives it
    entries = [envelope.change_entry("M", "b.txt", BLOB), envelope.change_entry("D", odd, ZERO),
               envelope.change_entry("A", "a.txt", BLOB)]
    want = hashlib.sha256(
        b"A a.txt " + BLOB.encode() + b"\0"
        + b"D dir/with space\nand newline/\xff.bin " + ZERO.encode() + b"\0"
        + b"M b.txt " + BLOB.encode() + b"\0"
    ).hexdigest()
    assert envelope.changes_digest(entries) == want
    assert envelope.changes_digest([]) == hashlib.sha256(b"").hexdigest()
    st = envelope.build_statement(C1, tree=TREE, parents=[], verdict="allowed", mode="strict",
                                  operation="commit", changes=entries)
    assert st["predicate"]["changes"] == envelope.sort_changes(entries)
    assert st["predicate"]["changes_digest"] == want


def test_non_utf8_path_survives_the_envelope(key: Signer) -> None:
    path = "caf\udce9.txt"  # latin-1 é as git hands us the raw byte
    st = statement(changes=[envelope.change_entry("A", path, BLOB)])
    checked = envelope.parse_line(envelope.receipt_line(st, key), [key.verifier])
    assert checked.ok and checked.predicate["changes"] == [f"A {path} {BLOB}"]


def test_build_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        statement(verdict="fine")
    with pytest.raises(ValueError):
        statement(operation="squash")
    with pytest.raises(ValueError):
        statement(commit="HEAD")
    with pytest.raises(ValueError):
        statement(source="abc")


def test_copied_receipt_is_receipt_mismatch(key: Signer) -> None:
    line = envelope.receipt_line(statement(C1), key)
    target = CommitFacts(C2, TREE, (ZERO,), (envelope.change_entry("A", "other.py", BLOB),))
    report = decide([target], {C2: [line]}, [key.verifier])
    [d] = report.commits
    assert (d.verdict, d.reason_code) == ("fail", "receipt_mismatch")
    assert C1 in d.detail
