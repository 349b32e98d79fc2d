"""C2SP signed notes and tlog-checkpoints: text formats and Ed25519, pure (no I/O).

`cryptography` is imported only when something is signed or verified, so a hook that appended
nothing pays nothing for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Protocol

from .. import merkle
from ..records import Record

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # C2SP signed note: em dash, space


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def key_hash(name: str, public_key: bytes) -> bytes:
    """C2SP key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


# --- Ed25519 -----------------------------------------------------------------------------------


def ed25519_public_key(seed: bytes) -> bytes:
    # Only the ed25519 module (`serialization` would add to every hook's import time): raw bytes
    # in, raw bytes out.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# --- signed notes ------------------------------------------------------------------------------


class NoteSigner(Protocol):
    """What signing a note needs from a key (keys.Signer)."""

    @property
    def name(self) -> str: ...

    @property
    def key_hash(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class NoteSignature(Record):
    name: str
    key_hash: bytes
    signature: bytes


def sign_note(text: str, signer: NoteSigner) -> str:
    """C2SP signed note: the text, a blank line, `— <name> <base64(key hash ‖ signature)>`."""
    if not text.endswith("\n") or "\n\n" in text:
        raise ValueError("note text must end in a newline and contain no blank line")
    sig = signer.sign(text.encode("utf-8"))
    return f"{text}\n{SIG_PREFIX}{signer.name} {b64(signer.key_hash + sig)}\n"


def parse_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its signed text and signature lines (ValueError when malformed)."""
    cut = note.rfind("\n\n")
    if cut < 0:
        raise ValueError("no blank line before the signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    if not block.endswith("\n"):
        raise ValueError("signature block does not end in a newline")
    sigs: list[NoteSignature] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise ValueError("malformed signature line")
        name, sep, encoded = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or not name or " " in encoded:
            raise ValueError("malformed signature line")
        try:
            raw = unb64(encoded)
        except (ValueError, binascii.Error) as exc:
            raise ValueError("signature is not base64") from exc
        if len(raw) < 5:
            raise ValueError("signature too short")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
    if not sigs:
        raise ValueError("no signatures")
    return text, sigs


# --- checkpoints (C2SP tlog-checkpoint) -------------------------------------------------------


class Checkpoint(Record):
    origin: str
    size: int
    root: bytes
    text: str  # the signed text (origin, size, root lines)
    note: str  # the whole signed note
    signatures: tuple[NoteSignature, ...] = ()

    @property
    def root_hex(self) -> str:
        return self.root.hex()


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{b64(root)}\n"


def parse_checkpoint(note: str) -> Checkpoint:
    """Parse (not verify) a signed checkpoint; ValueError when it is not one."""
    text, sigs = parse_note(note)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise ValueError("a checkpoint has an origin, a size and a root line")
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    if not origin or not size_s.isdigit() or (len(size_s) > 1 and size_s[0] == "0"):
        raise ValueError("malformed origin or size line")
    try:
        root = unb64(root_s)
    except (ValueError, binascii.Error) as exc:
        raise ValueError("root is not base64") from exc
    if len(root) != merkle.HASH_SIZE:
        raise ValueError("root is not 32 bytes")
    return Checkpoint(origin, int(size_s), root, text, note, tuple(sigs))


def parse_or_none(note: str) -> Checkpoint | None:
    try:
        return parse_checkpoint(note)
    except ValueError:
        return None
