"""Merkle tree, signed checkpoints, witnesses and proofs (issue 5, SPEC §9).

RFC 6962 / transparency-dev vectors for the tree, Go `note` vectors for the signed-note format,
then real repos attacked the ways a co-resident agent could, each asserting the exact codes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchman import audit, merkle
from switchman.checkpoint import keys as cpkeys
from switchman.checkpoint import note as cpnote
from switchman.checkpoint import verify as cpverify
from switchman.checkpoint import writer as cpwriter
from switchman.checkpoint.keys import Signer, VerifierKey
from switchman.checkpoint.ref import REF
from switchman.store import audit_log
from switchman.store.sqlite import Store
from switchman.store.sqlite_schema import SCHEMA_VERSION
from testing.cli import Cli, run_cli
from testing.git import git

# --- RFC 6962 vectors (transparency-dev/merkle proof/verify_test.go) ---------------------------

LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (1-based leaf, tree size, path)
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
H = bytes.fromhex
LEAF_HASHES = [merkle.leaf_hash(d) for d in LEAVES]


def test_empty_tree_and_rfc6962_roots() -> None:
    assert merkle.tree_hash([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT
    for n in range(1, 9):
        assert merkle.tree_hash(LEAVES[:n]).hex() == ROOTS[n - 1]


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION)
def test_inclusion_proof_vectors(leaf: int, size: int, path: list[str]) -> None:
    hashes = LEAF_HASHES[:size]
    assert [p.hex() for p in merkle.inclusion_proof(leaf - 1, hashes)] == path
    root = H(ROOTS[size - 1])
    proof = [H(p) for p in path]
    assert merkle.verify_inclusion(leaf - 1, size, hashes[leaf - 1], proof, root)
    # Corruptions in the style of transparency-dev's corruptInclusionProof.
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        assert not merkle.verify_inclusion(leaf - 1, size, hashes[leaf - 1], flipped, root)
    assert not merkle.verify_inclusion(leaf, size, hashes[leaf - 1], proof, root)
    assert not merkle.verify_inclusion(leaf - 1, size * 2, hashes[leaf - 1], proof, root)
    assert not merkle.verify_inclusion(leaf - 1, size, hashes[leaf - 1], [*proof, root], root)
    assert not merkle.verify_inclusion(leaf - 1, size, hashes[leaf - 1], [root, *proof], root)
    assert not merkle.verify_inclusion(leaf - 1, size, hashes[leaf - 1], proof[:-1], root)
    assert not merkle.verify_inclusion(leaf - 1, size, hashes[leaf - 1], proof, merkle.EMPTY_ROOT)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_proof_vectors(old: int, new: int, path: list[str]) -> None:
    assert [p.hex() for p in merkle.consistency_proof(old, LEAF_HASHES[:new])] == path
    r1, r2, proof = H(ROOTS[old - 1]), H(ROOTS[new - 1]), [H(p) for p in path]
    assert merkle.verify_consistency(old, new, r1, r2, proof)
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        assert not merkle.verify_consistency(old, new, r1, r2, flipped)
    assert not merkle.verify_consistency(old, new, r2, r1, proof)
    assert not merkle.verify_consistency(old - 1, new, r1, r2, proof)
    assert not merkle.verify_consistency(old + 1, new, r1, r2, proof)
    assert not merkle.verify_consistency(old, new, r1, r2, [])
    assert not merkle.verify_consistency(old, new, r1, r2, proof[:-1])
    assert not merkle.verify_consistency(old, new, r1, r2, [*proof, r1])
    assert not merkle.verify_consistency(new, old, r2, r1, proof)


def test_consistency_edge_cases() -> None:
    r = H(ROOTS[0])
    assert merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert merkle.verify_consistency(0, 1, merkle.EMPTY_ROOT, r, [])
    assert merkle.verify_consistency(1, 1, r, r, [])
    assert not merkle.verify_consistency(1, 1, r, H(ROOTS[1]), [])
    assert not merkle.verify_consistency(1, 1, r, r, [merkle.EMPTY_ROOT])


def _mth(data: list[bytes]) -> bytes:
    """RFC 6962 §2.1 literally (recursive), to check the compact range against."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1 << ((len(data) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(data[:k]) + _mth(data[k:])).digest()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=40))
def test_compact_range_and_proofs_agree_with_the_definition(data: list[bytes]) -> None:
    hashes = [merkle.leaf_hash(d) for d in data]
    n = len(hashes)
    root = merkle.root_of(hashes)
    assert root == _mth(data)
    blob = merkle.CompactRange()
    for h in hashes:
        blob.append(h)
    restored = merkle.CompactRange.from_blob(n, blob.to_blob())
    assert restored.root() == root
    for i in range(n):
        assert merkle.verify_inclusion(i, n, hashes[i], merkle.inclusion_proof(i, hashes), root)
    for m in range(n + 1):
        proof = merkle.consistency_proof(m, hashes)
        assert merkle.verify_consistency(m, n, _mth(data[:m]), root, proof)


# --- C2SP signed notes (golang.org/x/mod/sumdb/note vectors) ------------------------------------


def test_signed_note_matches_go_note_vectors() -> None:
    signer = Signer.parse("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
    assert signer.verifier.text == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    assert cpnote.sign_note(text, signer) == (
        text + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )
    key = VerifierKey.parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
    body, sigs = cpnote.parse_note(
        "This is an example message.\n\n\u2014 example.com/foo "
        "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    )
    assert sigs[0].key_hash == key.key_hash
    assert key.verify(body.encode(), sigs[0].signature)
    assert not key.verify(body.replace("example", "exampl3").encode(), sigs[0].signature)


def test_checkpoint_format_and_keyring_rules() -> None:
    signer = Signer.generate("switchman-hook/0123abcd")
    root = merkle.tree_hash(LEAVES)
    note = cpnote.sign_note(cpnote.checkpoint_text("switchman-hook/0123abcd", 8, root), signer)
    lines = note.split("\n")
    assert lines[:4] == ["switchman-hook/0123abcd", "8", base64.b64encode(root).decode(), ""]
    assert lines[4].startswith("\u2014 switchman-hook/0123abcd ")
    raw = base64.b64decode(lines[4].split(" ")[2])
    assert raw[:4] == hashlib.sha256(b"switchman-hook/0123abcd\n\x01" + signer.public_key).digest()[:4]
    assert len(raw) == 68
    cp = cpnote.parse_checkpoint(note)
    assert (cp.origin, cp.size, cp.root) == ("switchman-hook/0123abcd", 8, root)
    trusted = cpkeys.TrustedKey(signer.verifier, None)
    assert cpkeys.signed_by(cp, [trusted]) == signer.verifier
    assert cpkeys.signed_by(cp, [cpkeys.TrustedKey(signer.verifier, 7)]) is None  # retired before size 8
    assert cpkeys.signed_by(cp, [cpkeys.TrustedKey(signer.verifier, 8)]) == signer.verifier
    assert cpkeys.signed_by(cp, [cpkeys.TrustedKey(Signer.generate("switchman-hook/0123abcd").verifier, None)]) is None
    assert VerifierKey.parse(signer.verifier.text) == signer.verifier
    for bad in ("nope", "a+b+c", signer.verifier.text.replace("+", "+0", 1)):
        with pytest.raises(Exception):  # noqa: B017 - BadInput, exit 2
            VerifierKey.parse(bad)
    for garbage in ("", "x\n", note.replace("\n\n", "\n"), note[:-1], note.replace("\u2014", "-")):
        with pytest.raises(ValueError):
            cpnote.parse_checkpoint(garbage)


# --- the incremental tree in the store --------------------------------------------------------

ZERO_KEY = "0" * 64


def _fresh_store(tmp_path: Path) -> Store:
    state = tmp_path / "state"
    state.mkdir()
    (state / "audit.key").write_text(ZERO_KEY + "\n")
    return Store.open(str(state), create=True)


def test_incremental_tree_matches_full_recomputation_and_survives_a_lost_state(tmp_path: Path) -> None:
    store = _fresh_store(tmp_path)
    for batch in (1, 2, 5, 9):
        store.write(lambda tx, b=batch: [tx.audit("task_created", "info", task_id=f"T{b}-{i}") for i in range(b)])
        size, root = audit_log.tree_current(store.conn)
        leaves = cpverify.recomputed_leaves(store.conn)
        assert (size, root) == (len(leaves), merkle.root_of(leaves))
        assert store.conn.execute("SELECT size, root FROM audit_tree").fetchone() == (size, root.hex())
    # A database that lost (or never had) the state, e.g. migrated from version 2: rebuilt on append.
    store.conn.execute("DELETE FROM audit_tree")
    store.write(lambda tx: tx.audit("task_created", "info", task_id="after"))
    leaves = cpverify.recomputed_leaves(store.conn)
    assert store.conn.execute("SELECT size FROM audit_tree").fetchone()[0] == len(leaves) == 18
    assert audit_log.tree_current(store.conn) == (18, merkle.root_of(leaves))
    assert audit_log.verify(store.conn, ZERO_KEY).ok


def test_version_2_database_migrates_to_3(tmp_path: Path) -> None:
    store = _fresh_store(tmp_path)
    store.write(lambda tx: tx.audit("task_created", "info", task_id="T"))
    store.conn.execute("DROP TABLE audit_tree")
    store.conn.execute("DROP TABLE checkpoint_keys")
    store.conn.execute("PRAGMA user_version = 2")
    store.close()
    store = Store.open(str(tmp_path / "state"))

    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 3
    assert audit_log.tree_current(store.conn)[0] == 1
    store.write(lambda tx: tx.audit("task_created", "info", task_id="T2"))
    assert store.conn.execute("SELECT size FROM audit_tree").fetchone()[0] == 2


# --- real repositories --------------------------------------------------------------------------


def _db(repo: Path) -> sqlite3.Connection:
    return sqlite3.connect(repo / ".switchman" / "switchman.db", isolation_level=None)


def _events(cli: Cli, n: int, prefix: str = "T", cwd: Path | None = None) -> None:
    for i in range(n):
        cli.ok("task", "add", f"{prefix}{i}", "--id", f"{prefix}{i}", cwd=cwd)


def _codes(cli: Cli, *args: str, cwd: Path | None = None) -> set[str]:
    res = cli("audit", "verify", "--json", *args, cwd=cwd)
    assert res.code == 1, res.out + res.err
    data = res.json
    assert data["ok"] is False
    assert {"ok", "count", "failures", "uncovered", "checkpoint"} <= set(data)
    for f in data["failures"]:
        assert set(f) == {"id", "sequence", "reason_code", "message"}
        assert f["reason_code"] in audit.FAILURE_CODES
    return {f["reason_code"] for f in data["failures"]}


def _ref_text(repo: Path) -> str:
    return git(repo, "cat-file", "blob", REF)


def _set_ref_text(repo: Path, text: str) -> None:
    oid = git(repo, "hash-object", "-w", "--stdin", input=text.encode()).strip()
    git(repo, "update-ref", "--create-reflog", REF, oid)


def _repo_id(repo: Path) -> str:
    return _db(repo).execute("SELECT value FROM meta WHERE key = 'repo_id'").fetchone()[0]


def _signer(repo: Path) -> Signer:
    rid = _repo_id(repo)
    signer = cpkeys.read_signer(rid)
    assert signer is not None
    return signer


def _rechain(repo: Path, key: str, mutate: Callable[[dict[str, Any]], None] | None = None, at: int | None = None) -> None:
    """Rewrite rows in sequence order with a consistent chain and valid HMACs under `key`."""
    conn = _db(repo)
    cols = ", ".join(audit.CANONICAL_KEYS)
    rows = conn.execute(f"SELECT id, {cols} FROM audit_log ORDER BY sequence").fetchall()
    prev = None
    for row in rows:
        event = dict(zip(audit.CANONICAL_KEYS, row[1:], strict=True))
        if mutate is not None and event["sequence"] == at:
            mutate(event)
        event["prev_hash"] = prev
        digest = audit.entry_hash(event)
        sets = ", ".join(f"{k} = ?" for k in audit.CANONICAL_KEYS)
        conn.execute(
            f"UPDATE audit_log SET {sets}, entry_hash = ?, signature = ? WHERE id = ?",
            (*[event[k] for k in audit.CANONICAL_KEYS], digest, audit.sign(key, digest), row[0]),
        )
        prev = digest
    conn.close()


def _hmac_key(repo: Path) -> str:
    return (repo / ".switchman" / "audit.key").read_text().strip()


def test_init_creates_the_key_outside_the_repo_and_a_signed_checkpoint(initialised: Path, cli: Cli, isolated_git: Path) -> None:
    rid = _repo_id(initialised)
    key_path = isolated_git / ".config" / "switchman-hook" / "keys" / f"{rid}.key"
    assert key_path.is_file()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_text().startswith(f"PRIVATE+KEY+switchman-hook/{rid}+")
    assert not any(p.name.endswith(".key") and p.name != "audit.key" for p in initialised.rglob("*.key"))
    text = _ref_text(initialised)
    origin, size, root, blank, sig, end = text.split("\n")
    assert (origin, size, blank, end) == (f"switchman-hook/{rid}", "1", "", "")
    assert sig.startswith(f"\u2014 switchman-hook/{rid} ")
    assert (initialised / ".git" / "logs" / "refs" / "switchman" / "audit-checkpoint").is_file()
    _events(cli, 3)
    data = cli.json("audit", "verify")
    assert data["ok"] and data["uncovered"] == 0 and data["checkpoint"]["size"] == 4
    assert cpnote.parse_checkpoint(_ref_text(initialised)).size == 4
    pub = cli.json("audit", "pubkey")
    assert pub["verifier_key"] == cli.ok("audit", "pubkey").out.strip() == _signer(initialised).verifier.text
    # init again is idempotent: same key, no new checkpoint needed.
    cli.ok("init")
    assert cli.json("audit", "pubkey")["verifier_key"] == pub["verifier_key"]


def test_verify_checkpoint_api_for_gates_and_doctor(initialised: Path, cli: Cli) -> None:
    from switchman.repo import locate

    _events(cli, 2)
    store = Store.open(str(initialised / ".switchman"))
    with cpwriter.suspended():
        store.write(lambda tx: tx.audit("task_created", "info", task_id="late"))
    status = cpverify.verify_checkpoint(locate(initialised), store)
    assert (status.ok, status.state, status.size, status.log_size, status.uncovered) == (True, "ok", 3, 4, 1)
    assert status.failures == [] and "1 newer event" in status.detail
    store.close()


def test_edit_a_field(initialised: Path, cli: Cli) -> None:
    _events(cli, 5)
    _db(initialised).execute("UPDATE audit_log SET task_id = 'evil' WHERE sequence = 3")
    assert _codes(cli) == {"entry_hash_mismatch", "checkpoint_root_mismatch"}


def test_delete_a_middle_row(initialised: Path, cli: Cli) -> None:
    _events(cli, 5)
    _db(initialised).execute("DELETE FROM audit_log WHERE sequence = 3")
    assert _codes(cli) == {"sequence_gap", "prev_hash_mismatch", "log_shorter_than_checkpoint", "checkpoint_root_mismatch"}


def test_delete_the_last_rows_covered_by_a_checkpoint(initialised: Path, cli: Cli) -> None:
    _events(cli, 5)
    _db(initialised).execute("DELETE FROM audit_log WHERE sequence > 3")
    # The HMAC chain of the remaining rows is perfect; only the checkpoint sees the loss.
    store = Store.open(str(initialised / ".switchman"))
    assert audit_log.verify(store.conn, _hmac_key(initialised)).ok
    store.close()
    assert _codes(cli) == {"log_shorter_than_checkpoint"}


def test_delete_every_row(initialised: Path, cli: Cli) -> None:
    _events(cli, 2)
    _db(initialised).execute("DELETE FROM audit_log")
    assert _codes(cli) == {"log_shorter_than_checkpoint"}


def test_reorder_two_rows(initialised: Path, cli: Cli) -> None:
    _events(cli, 4)
    conn = _db(initialised)
    a = conn.execute("SELECT id FROM audit_log WHERE sequence = 2").fetchone()[0]
    b = conn.execute("SELECT id FROM audit_log WHERE sequence = 3").fetchone()[0]
    conn.execute("UPDATE audit_log SET id = -1 WHERE id = ?", (a,))
    conn.execute("UPDATE audit_log SET id = ? WHERE id = ?", (a, b))
    conn.execute("UPDATE audit_log SET id = ? WHERE id = -1", (b,))
    assert _codes(cli) == {"sequence_gap", "prev_hash_mismatch", "checkpoint_root_mismatch"}


def test_rewrite_and_rechain_with_the_real_hmac_key(initialised: Path, cli: Cli) -> None:
    _events(cli, 5)
    _rechain(initialised, _hmac_key(initialised), lambda e: e.update(task_id="forged"), at=3)
    store = Store.open(str(initialised / ".switchman"))
    assert audit_log.verify(store.conn, _hmac_key(initialised)).ok  # the HMAC chain alone is fooled
    store.close()
    assert _codes(cli) == {"checkpoint_root_mismatch"}


def test_swap_the_hmac_key_and_resign_everything(initialised: Path, cli: Cli) -> None:
    _events(cli, 5)
    new_key = "f" * 64
    (initialised / ".switchman" / "audit.key").write_text(new_key + "\n")
    _rechain(initialised, new_key, lambda e: e.update(details='{"title":"forged","priority":1}'), at=4)
    assert _codes(cli) == {"checkpoint_root_mismatch"}


def test_rewrite_then_keep_working_is_caught_by_the_reflog(initialised: Path, cli: Cli) -> None:
    """The next command signs the rewritten tree, but older checkpoints in the reflog disagree."""
    _events(cli, 4)
    _rechain(initialised, _hmac_key(initialised), lambda e: e.update(task_id="forged"), at=2)
    res = cli("task", "add", "next", "--id", "N")
    assert res.code == 0
    assert _codes(cli) == {"checkpoint_root_mismatch"}


def test_checkpoint_signed_by_another_key(initialised: Path, cli: Cli) -> None:
    _events(cli, 3)
    cp = cpnote.parse_checkpoint(_ref_text(initialised))
    other = Signer.generate(cp.origin)
    _set_ref_text(initialised, cpnote.sign_note(cp.text, other))
    assert _codes(cli) == {"checkpoint_signature_invalid"}


def test_bit_flipped_in_the_checkpoint(initialised: Path, cli: Cli) -> None:
    _events(cli, 3)
    text = _ref_text(initialised)
    origin, size, root, rest = text.split("\n", 3)
    raw = bytearray(base64.b64decode(root))
    raw[5] ^= 0x04
    _set_ref_text(initialised, f"{origin}\n{size}\n{base64.b64encode(bytes(raw)).decode()}\n{rest}")
    assert _codes(cli) == {"checkpoint_signature_invalid"}


def test_roll_the_checkpoint_ref_back(initialised: Path, cli: Cli, tmp_path: Path) -> None:
    _events(cli, 4)
    witness = tmp_path / "witness.checkpoint"
    witness.write_text(_ref_text(initialised))
    older = git(initialised, "rev-parse", f"{REF}@{{2}}").strip()
    git(initialised, "update-ref", REF, older)
    assert _codes(cli) == {"checkpoint_rollback"}
    assert cli("audit", "verify", "--json").json["uncovered"] == 2
    # Without the reflog, a witness still shows it.
    (initialised / ".git" / "logs" / "refs" / "switchman" / "audit-checkpoint").unlink()
    assert cli("audit", "verify", "--json").code == 0
    assert _codes(cli, "--against", str(witness)) == {"checkpoint_rollback"}


def test_two_diverging_copies_are_a_fork(initialised: Path, cli: Cli, tmp_path: Path) -> None:
    _events(cli, 3)
    early = tmp_path / "early.checkpoint"
    early.write_text(_ref_text(initialised))
    copy = tmp_path / "copy"
    shutil.copytree(initialised, copy, symlinks=True)
    _events(cli, 2, prefix="A")
    _events(cli, 2, prefix="B", cwd=copy)
    assert cli.json("audit", "verify", cwd=copy)["ok"]  # each copy is fine on its own
    assert cli.json("audit", "verify", "--against", str(early))["ok"]  # an older genuine witness
    witness = tmp_path / "copy.checkpoint"
    witness.write_text(_ref_text(copy))
    assert _codes(cli, "--against", str(witness)) == {"fork_detected"}  # same size, other root
    git(initialised, "fetch", "-q", str(copy), f"+{REF}:refs/switchman/witness")
    assert _codes(cli, "--against", "refs/switchman/witness") == {"fork_detected"}
    # A shorter divergent copy: the newer checkpoint does not extend the older one.
    _events(cli, 1, prefix="C")
    assert _codes(cli, "--against", str(witness)) == {"fork_detected"}
    assert cli("audit", "verify", "--against", str(tmp_path / "no-such-witness")).code == 2


def test_unsigned_row_inserted_by_hand(initialised: Path, cli: Cli) -> None:
    _events(cli, 2)
    _db(initialised).execute(
        "INSERT INTO audit_log (event_type, status, created_at) VALUES ('task_created', 'info', '2024-01-01T00:00:00.000Z')"
    )
    assert _codes(cli) == {"unsigned_row"}


def _proof(cli: Cli, seq: int, tmp_path: Path) -> tuple[dict[str, Any], Path, str]:
    doc = cli.json("audit", "prove", str(seq))
    path = tmp_path / f"proof-{seq}.json"
    path.write_text(json.dumps(doc))
    return doc, path, cli.ok("audit", "pubkey").out.strip()


def test_proofs_verify_with_only_the_public_key(initialised: Path, cli: Cli, tmp_path: Path) -> None:
    _events(cli, 6)
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    for seq in range(1, 8):
        doc, path, pub = _proof(cli, seq, tmp_path)
        assert doc["tree_size"] == 7 and doc["entry"]["sequence"] == seq
        res = cli("audit", "verify-proof", str(path), "--pubkey", pub, "--json", cwd=outside)
        assert res.code == 0, res.err
        assert res.json == {"ok": True, "sequence": seq, "tree_size": 7, "failures": []}
    keyfile = tmp_path / "pub.txt"
    keyfile.write_text(pub + "\n")
    assert cli("audit", "verify-proof", str(path), "--pubkey", str(keyfile), cwd=outside).code == 0
    # Not covered yet, or no such event: exit 1 with a fix.
    with cpwriter.suspended():
        store = Store.open(str(initialised / ".switchman"))
        store.write(lambda tx: tx.audit("task_created", "info", task_id="late"))
        store.close()
    res = cli("audit", "prove", "8")
    assert res.code == 1 and "audit checkpoint" in res.err


def _verify_proof_codes(cli: Cli, doc: dict[str, Any], pub: str, tmp_path: Path) -> set[str]:
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(doc))
    res = cli("audit", "verify-proof", str(path), "--pubkey", pub, "--json", cwd=tmp_path)
    assert res.code == 1, res.out + res.err
    return {f["reason_code"] for f in res.json["failures"]}


def test_bit_flipped_in_a_proof(initialised: Path, cli: Cli, tmp_path: Path) -> None:
    _events(cli, 6)
    doc, _path, pub = _proof(cli, 3, tmp_path)
    for i in range(len(doc["hashes"])):
        bad = json.loads(json.dumps(doc))
        raw = bytearray(bytes.fromhex(bad["hashes"][i]))
        raw[0] ^= 0x01
        bad["hashes"][i] = raw.hex()
        assert _verify_proof_codes(cli, bad, pub, tmp_path) == {"inclusion_proof_invalid"}
    bad = json.loads(json.dumps(doc))
    lines = bad["checkpoint"].split("\n")
    root = bytearray(base64.b64decode(lines[2]))
    root[0] ^= 0x80
    lines[2] = base64.b64encode(bytes(root)).decode()
    bad["checkpoint"] = "\n".join(lines)
    assert _verify_proof_codes(cli, bad, pub, tmp_path) == {"checkpoint_signature_invalid"}
    bad = json.loads(json.dumps(doc))
    bad["entry"]["task_id"] = "T9"
    assert _verify_proof_codes(cli, bad, pub, tmp_path) == {"entry_hash_mismatch"}
    other = Signer.generate(f"switchman-hook/{_repo_id(initialised)}").verifier.text
    assert _verify_proof_codes(cli, doc, other, tmp_path) == {"checkpoint_signature_invalid"}
    assert cli("audit", "verify-proof", str(_path), "--pubkey", "garbage", cwd=tmp_path).code == 2


def test_missing_private_key_is_exit_3_never_regenerated_and_rotation_recovers(
    initialised: Path, cli: Cli, isolated_git: Path
) -> None:
    _events(cli, 2)
    rid = _repo_id(initialised)
    key_path = isolated_git / ".config" / "switchman-hook" / "keys" / f"{rid}.key"
    old_pub = cli.ok("audit", "pubkey").out.strip()
    key_path.unlink()
    res = cli("task", "add", "More", "--id", "M1")
    assert res.code == 3
    assert res.err.startswith("error: ") and "rotate-key" in res.err and len(res.err.strip().splitlines()) == 1
    assert cli("init").code == 3
    assert cli("audit", "checkpoint").code == 3
    assert not key_path.exists()
    # SPEC §14: a command that exits non-zero changed nothing -- M1 was refused before its write.
    assert cli("audit", "verify", "--json").json["uncovered"] == 0
    assert cli("task", "show", "M1").code != 0
    rotated = cli.json("audit", "rotate-key")
    assert rotated["retired"] == [old_pub] and rotated["retired_size"] == 3
    assert key_path.exists() and stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert cli.ok("audit", "pubkey").out.strip() == rotated["verifier_key"] != old_pub
    data = cli.json("audit", "verify")
    assert data["ok"] and data["uncovered"] == 0  # old checkpoints (reflog) still verify
    event = cli.json("audit", "list", "--event-type", "checkpoint_key_rotated")["events"][0]
    assert json.loads(event["details"])["new_key"] == rotated["verifier_key"]
    keyring = cli.json("audit", "pubkey")["keyring"]
    assert [k["retired_size"] for k in keyring] == [3, None]


def test_retired_key_is_not_trusted_for_newer_checkpoints(initialised: Path, cli: Cli) -> None:
    _events(cli, 2)
    old = _signer(initialised)
    cli.ok("audit", "rotate-key")
    _events(cli, 1, prefix="R")
    cp = cpnote.parse_checkpoint(_ref_text(initialised))
    _set_ref_text(initialised, cpnote.sign_note(cp.text, old))
    assert _codes(cli) == {"checkpoint_signature_invalid"}


def test_checkpoint_on_demand_and_after_the_ref_was_deleted(initialised: Path, cli: Cli) -> None:
    _events(cli, 2)
    assert cli.json("audit", "checkpoint")["reason"] == "current"
    git(initialised, "update-ref", "-d", REF)
    data = cli.json("audit", "verify")
    assert data["checkpoint"]["state"] == "missing" and data["uncovered"] == 3
    res = cli.json("audit", "checkpoint")
    assert res["written"] and res["size"] == 3
    assert cli.json("audit", "verify")["uncovered"] == 0


def test_key_inside_a_worktree_is_refused(repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(repo / "config"))
    res = cli("init")
    assert res.code == 3 and "XDG_CONFIG_HOME" in res.err
    assert not (repo / "config").exists() or not any((repo / "config").rglob("*.key"))


def test_checkpoints_from_a_linked_worktree_and_a_hook_environment(agents: tuple[Path, Path], cli: Cli) -> None:
    a, _b = agents
    # As inside a hook: GIT_DIR/GIT_INDEX_FILE point at the linked worktree; the ref is shared.
    gitdir = git(a, "rev-parse", "--absolute-git-dir").strip()
    res = run_cli(
        "task", "add", "from-a", "--id", "FA", cwd=a, env={"GIT_DIR": gitdir, "GIT_INDEX_FILE": os.path.join(gitdir, "index")}
    )
    assert res.code == 0, res.err
    data = cli.json("audit", "verify", cwd=a)
    assert data["ok"] and data["uncovered"] == 0
    assert git(a, "rev-parse", REF) == git(cli.root, "rev-parse", REF)


WRITER = """
import sys
from switchman.cli import main
for i in range(int(sys.argv[2])):
    code = main(["-C", sys.argv[1], "task", "add", f"w{sys.argv[3]}-{i}", "--id", f"w{sys.argv[3]}-{i}"])
    assert code == 0, code
"""


def test_four_concurrent_writers_keep_one_consistent_tree(initialised: Path, cli: Cli) -> None:
    per_writer = 6
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(initialised), str(per_writer), str(w)], stderr=subprocess.PIPE)
        for w in range(4)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    data = cli.json("audit", "verify")
    assert data["ok"] and data["count"] == 1 + 4 * per_writer
    assert data["uncovered"] == 0 and data["checkpoint"]["size"] == data["count"]
    seqs = [r[0] for r in _db(initialised).execute("SELECT sequence FROM audit_log ORDER BY id")]
    assert seqs == list(range(1, len(seqs) + 1))
    # Every checkpoint the writers published is consistent with the final log (reflog check).
    reflog = (initialised / ".git" / "logs" / "refs" / "switchman" / "audit-checkpoint").read_text().splitlines()
    assert len(reflog) >= 2


def test_git_gc_keeps_quiet_about_the_blob_ref(initialised: Path, cli: Cli) -> None:
    _events(cli, 2)
    proc = subprocess.run(["git", "gc", "-q"], cwd=initialised, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    assert git(initialised, "log", "--all", "--oneline").count("\n") == 1  # the ref is not a commit
    assert cli.json("audit", "verify")["ok"]


def test_git_hooks_that_append_write_a_checkpoint(initialised: Path, cli: Cli) -> None:
    cli.ok("hooks", "install")
    (initialised / "README.md").write_text("changed\n")
    git(initialised, "commit", "-q", "-am", "through the hooks")
    data = cli.json("audit", "verify")
    events = {e["event_type"] for e in cli.json("audit", "list", "--limit", "100")["events"]}
    assert "commit_recorded" in events or "commit_gate" in events
    assert data["ok"] and data["uncovered"] == 0 and data["checkpoint"]["size"] == data["count"]
