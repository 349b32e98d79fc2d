"""Checkpoint keys: their C2SP text forms, the private key file outside every worktree, and the
repo's keyring (which public keys vouch for which checkpoint sizes)."""

from __future__ import annotations

import binascii
import os
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from .. import faults
from ..errors import BadInput, EnvironmentProblem
from ..fsutil import create_exclusive
from ..records import Record
from ..repo import RepoPaths
from ..store import meta, worktrees
from ..store.sqlite import Store
from ..timeutil import now_iso
from .note import (
    ALG_ED25519,
    Checkpoint,
    b64,
    ed25519_public_key,
    ed25519_sign,
    ed25519_verify,
    key_hash,
    unb64,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..store.sqlite import Tx

ORIGIN_PREFIX = "switchman-hook/"


def _check_name(name: str) -> str:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise BadInput(f"invalid key name {name!r}", "a key name has no spaces and no '+'")
    return name


class VerifierKey(Record):
    """An Ed25519 public key in C2SP verifier-key form: `<name>+<hex key hash>+<base64(0x01 ‖ key)>`."""

    name: str
    key_hash: bytes
    public_key: bytes

    @property
    def text(self) -> str:
        return f"{self.name}+{self.key_hash.hex()}+{b64(bytes([ALG_ED25519]) + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)  # base64 may itself contain "+"
        bad = BadInput(
            f"not a verifier key: {text.strip()[:80]!r}",
            "pass the output of `switchman-hook audit pubkey` (name+keyhash+base64)",
        )
        if len(parts) != 3:
            raise bad
        name, hash_hex, encoded = parts
        try:
            raw = unb64(encoded)
            want_hash = bytes.fromhex(hash_hex)
        except (ValueError, binascii.Error):
            raise bad from None
        if len(raw) != 33 or raw[0] != ALG_ED25519 or len(want_hash) != 4:
            raise bad
        key = cls(_check_name(name), want_hash, raw[1:])
        if key_hash(name, key.public_key) != want_hash:
            raise BadInput(f"verifier key {name} has a key hash that does not match its key", "copy the key again")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        return ed25519_verify(self.public_key, message, signature)


class Signer(Record):
    """An Ed25519 private key, stored in Go `note` signer-key form (`PRIVATE+KEY+name+hash+b64`)."""

    name: str
    seed: bytes
    public_key: bytes

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Signer:
        return cls(_check_name(name), seed, ed25519_public_key(seed))

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls.from_seed(name, os.urandom(32))

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.key_hash, self.public_key)

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_key)

    @property
    def text(self) -> str:
        return f"PRIVATE+KEY+{self.name}+{self.key_hash.hex()}+{b64(bytes([ALG_ED25519]) + self.seed)}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ValueError("not a PRIVATE+KEY+name+hash+base64 signer key")
        raw = unb64(parts[4])
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise ValueError("not an Ed25519 signer key")
        signer = cls.from_seed(parts[2], raw[1:])
        if signer.key_hash.hex() != parts[3]:
            raise ValueError("key hash does not match the key")
        return signer

    def sign(self, message: bytes) -> bytes:
        return ed25519_sign(self.seed, message)


# --- the keyring -------------------------------------------------------------------------------


class TrustedKey(Record):
    key: VerifierKey
    retired_size: int | None  # a retired key only vouches for checkpoints up to this size
    machine: str | None = None  # whose private half it is (a shared store: one key per machine)


def signed_by(cp: Checkpoint, keys: Iterable[TrustedKey]) -> VerifierKey | None:
    """The trusted key whose signature on `cp` verifies, else None.

    As C2SP prescribes, a signature line from a known key that fails rejects the whole note;
    lines from unknown keys are ignored. A retired key only counts up to its retirement size.
    """
    known = {(k.key.name, k.key.key_hash): k for k in keys}
    good: VerifierKey | None = None
    message = cp.text.encode("utf-8")
    for sig in cp.signatures:
        trusted = known.get((sig.name, sig.key_hash))
        if trusted is None:
            continue
        if not trusted.key.verify(message, sig.signature):
            return None
        if trusted.retired_size is None or cp.size <= trusted.retired_size:
            good = good or trusted.key
    return good


def repo_id(conn: sqlite3.Connection) -> str | None:
    """None before init, and also on a database that cannot answer (doctor reads broken ones)."""
    try:
        return meta.repo_id(conn)
    except sqlite3.OperationalError:
        return None


def origin_for(rid: str) -> str:
    return ORIGIN_PREFIX + rid


def keyring(conn: sqlite3.Connection) -> list[TrustedKey]:
    try:
        rows = meta.keyring_rows(conn)
    except sqlite3.OperationalError:  # as repo_id: an unreadable keyring trusts nothing
        return []
    keys = []
    for text, retired, machine in rows:
        try:
            keys.append(TrustedKey(VerifierKey.parse(text), retired, machine))
        except BadInput:
            continue  # a damaged keyring entry trusts nothing
    return keys


def public_keys(store: Store) -> list[TrustedKey]:
    return keyring(store.conn)


def active(keys: Sequence[TrustedKey]) -> list[VerifierKey]:
    return [k.key for k in keys if k.retired_size is None]


def machine_keys(store: Store, keys: Sequence[TrustedKey]) -> list[TrustedKey]:
    """The keys this machine signs with (or signed with): on a shared store each machine has its
    own; on SQLite every key is this machine's."""
    if not store.shared:
        return list(keys)
    return [k for k in keys if k.machine == store.machine]


def own_key(store: Store) -> VerifierKey | None:
    """This machine's active verifier key (`audit pubkey`, `trust add`), None when it has none."""
    mine = active(machine_keys(store, keyring(store.conn)))
    return mine[-1] if mine else None


def add_key(store: Store, key: VerifierKey) -> None:
    def fn(tx: Tx) -> None:
        meta.add_key_if_absent(tx, key.text, key.key_hash.hex(), now_iso())

    store.write(fn)


# --- the private key, outside every worktree ---------------------------------------------------


def config_home() -> str:
    """$XDG_CONFIG_HOME when absolute (XDG spec), else ~/.config."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    return xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".config")


def private_key_path(rid: str) -> str:
    return os.path.join(config_home(), "switchman-hook", "keys", f"{rid}.key")


# Where the key lives, recorded at `init` (and on rotation) in the state dir: a process with
# another HOME/XDG_CONFIG_HOME (a sandbox, a container, another user sharing the store) finds it
# there. Only the path is recorded, never the key; the keyring in the store still decides trust.
KEY_LOCATION = "checkpoint-key-path"


def recorded_key_path(state_dir: str | None, rid: str) -> str | None:
    if not state_dir:
        return None
    try:
        with open(os.path.join(state_dir, KEY_LOCATION), encoding="utf-8") as fh:
            text = fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    # Only a key file of this repository id, named by an absolute path.
    if not os.path.isabs(text) or os.path.basename(text) != f"{rid}.key" or "\n" in text:
        return None
    return text


def record_key_path(state_dir: str, path: str) -> None:
    """Remember where this store's signing key is (atomically; best effort when read-only)."""
    target = os.path.join(state_dir, KEY_LOCATION)
    path = os.path.abspath(path)
    try:
        with open(target, encoding="utf-8") as fh:
            if fh.read().strip() == path:
                return
    except (OSError, UnicodeDecodeError):
        pass
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(path + "\n")
        os.replace(tmp, target)
    except OSError:
        with suppress(OSError):
            os.unlink(tmp)


def key_path(rid: str, state_dir: str | None = None) -> str:
    """Where this store's key is (recorded at init), else where this process would create it."""
    return recorded_key_path(state_dir, rid) or private_key_path(rid)


def candidate_paths(rid: str, state_dir: str | None = None) -> list[str]:
    """The recorded location first, then this process's own config dir."""
    out = [key_path(rid, state_dir)]
    own = private_key_path(rid)
    if own not in out:
        out.append(own)
    return out


def missing_key(rid: str, path: str | None = None) -> EnvironmentProblem:
    path = path or private_key_path(rid)
    return EnvironmentProblem(
        f"checkpoint signing key {path} is missing (or not visible to this process) but this repo has checkpoints",
        "make that file readable here at the same path (mount it into the sandbox or container), or restore it "
        "from a backup; only if it is truly lost run `switchman-hook audit rotate-key` (old checkpoints stay verifiable)",
        code="checkpoint_key_missing",
    )


def read_signer(rid: str, path: str | None = None) -> Signer | None:
    path = path or private_key_path(rid)
    try:
        if faults.ACTIVE:  # fault point: reading the private key (an unreadable key, injected)
            faults.hit("checkpoint.read_key")
        with open(path, encoding="ascii") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvironmentProblem(
            f"cannot read the checkpoint signing key {path}: {exc}",
            "give this process read access to that file (same user or group, or mount it at the same path); "
            "do not rotate the key for this: the other users of the store would lose it",
            code="checkpoint_key_unreadable",
        ) from exc
    try:
        return Signer.parse(text)
    except (ValueError, binascii.Error) as exc:
        raise EnvironmentProblem(
            f"{path} is not a valid checkpoint signing key ({exc})",
            "restore it from a backup or run `switchman-hook audit rotate-key`",
            code="checkpoint_key_malformed",
        ) from exc


def write_private(path: str, signer: Signer) -> None:
    """The private key, mode 0600; FileExistsError when a key is already there (a concurrent
    init won: its key is used)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    create_exclusive(path, (signer.text + "\n").encode("ascii"), 0o600)


def _inside(path: str, directory: str) -> bool:
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def refuse_key_inside(path: str, dirs: Iterable[str]) -> None:
    for d in dirs:
        if d and _inside(path, d):
            raise EnvironmentProblem(
                f"the checkpoint signing key {path} would live inside {d}",
                "set XDG_CONFIG_HOME (or HOME) to a directory outside every worktree and the git dir",
                code="checkpoint_key_in_worktree",
            )


def protected_dirs(paths: RepoPaths, store: Store) -> list[str]:
    dirs = [paths.root, paths.common_dir, paths.toplevel or ""]
    with suppress(sqlite3.Error):
        dirs += worktrees.all_paths(store)
    return dirs


def resolve_signer(rid: str, keys: Sequence[TrustedKey], path: str | None = None, state_dir: str | None = None) -> Signer:
    """The private key to sign with; finishes a rotation interrupted before its rename.

    Looks at `path` (or the location recorded in `state_dir`, then this process's own config
    dir) and takes the first key the keyring trusts; records where it found it.
    """
    paths = [path] if path else candidate_paths(rid, state_dir)
    trusted = active(keys)
    first_error: EnvironmentProblem | None = None
    found: Signer | None = None
    for p in paths:
        try:
            signer = read_signer(rid, p)
            if signer is not None and signer.verifier in trusted:
                if state_dir and recorded_key_path(state_dir, rid) is None:
                    record_key_path(state_dir, p)  # a store from before the location was recorded
                return signer
            pending = read_signer(rid, p + ".new")
        except EnvironmentProblem as exc:
            first_error = first_error or exc
            continue
        if pending is not None and pending.verifier in trusted:
            os.replace(p + ".new", p)
            return pending
        found = found or signer
    if first_error is not None:
        raise first_error
    if found is None:
        raise missing_key(rid, paths[0])
    raise EnvironmentProblem(
        f"checkpoint signing key {paths[0]} ({found.verifier.text}) is not this repo's active key",
        "restore the right key from a backup, or run `switchman-hook audit rotate-key`",
        code="checkpoint_key_untrusted",
    )
