"""Ed25519-signed checkpoints of the audit log's Merkle tree (SPEC §9, issue 5).

Why: the HMAC chain (SPEC §3) is only as strong as audit.key, which every agent running as the
user can read, and it cannot see a deleted tail or a deleted log. So, like Certificate
Transparency, we sign the tree head (a C2SP tlog-checkpoint inside a C2SP signed note) after every
command or hook that appended, and keep it where rewriting the database cannot reach it without
leaving traces: a git blob on `refs/switchman/audit-checkpoint` (compare-and-swap, reflog on),
which can also be pushed or copied to CI as a witness.

`_after_append` is the post-commit callback that `state.open_store` hands to the store;
`cryptography` is imported only when a note is signed or verified, so a hook that appended
nothing pays nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from . import audit, merkle
from .errors import BadInput, Denied, EnvironmentProblem, NotFound
from .records import Record, asdict, factory
from .repo import RepoPaths, git_env, run_git
from .store import audit_log
from .store.sqlite import Store
from .timeutil import now_iso

if TYPE_CHECKING:  # pragma: no cover
    from .store.sqlite import Tx

REF = "refs/switchman/audit-checkpoint"
ORIGIN_PREFIX = "switchman-hook/"
PROOF_FORMAT = "switchman-hook/inclusion-proof/v1"
ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # C2SP signed note: em dash, space
ROTATED_EVENT = "checkpoint_key_rotated"
UPDATE_ATTEMPTS = 12


# --- C2SP signed notes and keys ---------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def key_hash(name: str, public_key: bytes) -> bytes:
    """C2SP key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


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
        return f"{self.name}+{self.key_hash.hex()}+{_b64(bytes([ALG_ED25519]) + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)  # base64 may itself contain "+"
        bad = BadInput(
            f"not a verifier key: {text.strip()[:80]!r}",
            "pass the output of `switchman-hook audit pubkey` (name+keyhash+base64)",
        )
        if len(parts) != 3:
            raise bad
        name, hash_hex, b64 = parts
        try:
            raw = _unb64(b64)
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
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Signer(Record):
    """An Ed25519 private key, stored in Go `note` signer-key form (`PRIVATE+KEY+name+hash+b64`)."""

    name: str
    seed: bytes
    public_key: bytes

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Signer:
        # Only the ed25519 module (not `serialization`, ~5 ms more): raw bytes in, raw bytes out.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        return cls(_check_name(name), seed, pub)

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls.from_seed(name, os.urandom(32))

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, key_hash(self.name, self.public_key), self.public_key)

    @property
    def text(self) -> str:
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_hash.hex()}+{_b64(bytes([ALG_ED25519]) + self.seed)}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ValueError("not a PRIVATE+KEY+name+hash+base64 signer key")
        raw = _unb64(parts[4])
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise ValueError("not an Ed25519 signer key")
        signer = cls.from_seed(parts[2], raw[1:])
        if signer.verifier.key_hash.hex() != parts[3]:
            raise ValueError("key hash does not match the key")
        return signer

    def sign(self, message: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


class NoteSignature(Record):
    name: str
    key_hash: bytes
    signature: bytes


def sign_note(text: str, signer: Signer) -> str:
    """C2SP signed note: the text, a blank line, `— <name> <base64(key hash ‖ signature)>`."""
    if not text.endswith("\n") or "\n\n" in text:
        raise ValueError("note text must end in a newline and contain no blank line")
    sig = signer.sign(text.encode("utf-8"))
    return f"{text}\n{SIG_PREFIX}{signer.name} {_b64(signer.verifier.key_hash + sig)}\n"


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
        name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or not name or " " in b64:
            raise ValueError("malformed signature line")
        try:
            raw = _unb64(b64)
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
    return f"{origin}\n{size}\n{_b64(root)}\n"


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
        root = _unb64(root_s)
    except (ValueError, binascii.Error) as exc:
        raise ValueError("root is not base64") from exc
    if len(root) != merkle.HASH_SIZE:
        raise ValueError("root is not 32 bytes")
    return Checkpoint(origin, int(size_s), root, text, note, tuple(sigs))


class TrustedKey(Record):
    key: VerifierKey
    retired_size: int | None  # a retired key only vouches for checkpoints up to this size


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


# --- repository facts kept in the database ----------------------------------------------------


def repo_id(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'repo_id'").fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row and row[0] else None


def origin_for(rid: str) -> str:
    return ORIGIN_PREFIX + rid


def keyring(conn: sqlite3.Connection) -> list[TrustedKey]:
    try:
        rows = conn.execute("SELECT verifier_key, retired_size FROM checkpoint_keys ORDER BY added_at, rowid").fetchall()
    except sqlite3.OperationalError:
        return []
    keys = []
    for text, retired in rows:
        try:
            keys.append(TrustedKey(VerifierKey.parse(text), retired))
        except BadInput:
            continue  # a damaged keyring entry trusts nothing
    return keys


def _active(keys: Sequence[TrustedKey]) -> list[VerifierKey]:
    return [k.key for k in keys if k.retired_size is None]


# --- the private key, outside every worktree ---------------------------------------------------


def config_home() -> str:
    """$XDG_CONFIG_HOME when absolute (XDG spec), else ~/.config."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    return xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".config")


def private_key_path(rid: str) -> str:
    return os.path.join(config_home(), "switchman-hook", "keys", f"{rid}.key")


def _missing_key(rid: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"checkpoint signing key {private_key_path(rid)} is missing but this repo has checkpoints",
        "restore it from a backup (it is never regenerated), or run `switchman-hook audit rotate-key` "
        "to sign from now on with a new key (old checkpoints stay verifiable)",
        code="checkpoint_key_missing",
    )


def read_signer(rid: str, path: str | None = None) -> Signer | None:
    path = path or private_key_path(rid)
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvironmentProblem(f"cannot read {path}: {exc}", "restore the key from a backup", code="checkpoint_key_unreadable") from exc
    try:
        return Signer.parse(text)
    except (ValueError, binascii.Error) as exc:
        raise EnvironmentProblem(
            f"{path} is not a valid checkpoint signing key ({exc})",
            "restore it from a backup or run `switchman-hook audit rotate-key`",
            code="checkpoint_key_malformed",
        ) from exc


def _write_private(path: str, signer: Signer) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (signer.text + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def _inside(path: str, directory: str) -> bool:
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _refuse_key_inside(path: str, dirs: Iterable[str]) -> None:
    for d in dirs:
        if d and _inside(path, d):
            raise EnvironmentProblem(
                f"the checkpoint signing key {path} would live inside {d}",
                "set XDG_CONFIG_HOME (or HOME) to a directory outside every worktree and the git dir",
                code="checkpoint_key_in_worktree",
            )


def _protected_dirs(paths: RepoPaths, store: Store) -> list[str]:
    dirs = [paths.root, paths.common_dir, paths.toplevel or ""]
    with suppress(sqlite3.Error):
        dirs += [r["path"] for r in store.all("SELECT path FROM worktrees")]
    return dirs


def _resolve_signer(rid: str, keys: Sequence[TrustedKey], path: str | None = None) -> Signer:
    """The private key to sign with; finishes a rotation interrupted before its rename."""
    path = path or private_key_path(rid)
    signer = read_signer(rid, path)
    active = _active(keys)
    if signer is not None and signer.verifier in active:
        return signer
    pending = read_signer(rid, path + ".new")
    if pending is not None and pending.verifier in active:
        os.replace(path + ".new", path)
        return pending
    if signer is None:
        raise _missing_key(rid)
    raise EnvironmentProblem(
        f"checkpoint signing key {path} ({signer.verifier.text}) is not this repo's active key",
        "restore the right key from a backup, or run `switchman-hook audit rotate-key`",
        code="checkpoint_key_untrusted",
    )


# --- git: the ref, its reflog, blobs -----------------------------------------------------------


def _git_cwd(state_dir: str) -> str:
    """Where to run git for the shared ref: the main worktree root, or the common dir when bare."""
    return os.path.dirname(os.path.abspath(state_dir))


def _cat_batch(cwd: str, names: Sequence[str], env: dict[str, str], *, check: bool = True) -> list[tuple[str, str] | None]:
    """`git cat-file --batch` for several names at once: (oid, text) or None when missing.

    With check=False a git failure (e.g. no repository there) reads as "all missing".
    """
    if not names:
        return []
    proc = run_git(["cat-file", "--batch", "--buffer"], cwd, env=env, input=("\n".join(names) + "\n").encode(), check=check)
    if proc.returncode != 0:
        return [None] * len(names)
    out = proc.stdout
    result: list[tuple[str, str] | None] = []
    pos = 0
    for _ in names:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].decode("utf-8", "replace").split(" ")
        pos = nl + 1
        if len(header) < 3 or header[-1] == "missing" or not header[2].isdigit():
            result.append(None)
            continue
        size = int(header[2])
        result.append((header[0], out[pos : pos + size].decode("utf-8", "replace")))
        pos += size + 1
    return result


def read_ref(cwd: str, env: dict[str, str] | None = None, *, check: bool = True) -> tuple[str, str] | None:
    """(blob id, note text) of the checkpoint ref, or None when there is none.

    Read straight from the files when the repository is the plain kind (`_FilesRepo`: a loose
    or packed ref, a loose object); anything else (a packed object, another ref backend) asks
    `git cat-file`. A hook writing a checkpoint saves a git process (~2 ms) this way.
    """
    repo = _FilesRepo.at(cwd)
    if repo is not None:
        oid = repo.ref_oid(REF)
        if oid is None:
            return None
        if oid:
            text = repo.read_object(oid)
            if text is not None:
                return oid, text
    return _cat_batch(cwd, [REF], env or git_env(for_other_worktree=True), check=check)[0]


class _FilesRepo:
    """Direct access to a plain repository's refs and loose objects, for the checkpoint ref only.

    Used only when the layout is unambiguous: a `.git` directory (or a bare repository) with the
    files ref backend, SHA-1 object names, no `core.sharedRepository` (object permissions) and no
    config includes; otherwise `at` returns None and callers use git. Objects are content-
    addressed, so writing one the way git does (zlib, temp file, link into place, read-only) is
    safe against concurrent writers; the ref itself is always moved by `git update-ref`
    (compare-and-swap, reflog).
    """

    __slots__ = ("common",)
    _cache: dict[str, _FilesRepo | None] = {}  # per-process memo

    def __init__(self, common: str) -> None:
        self.common = common

    @classmethod
    def at(cls, cwd: str) -> _FilesRepo | None:
        if cwd in cls._cache:
            return cls._cache[cwd]
        repo: _FilesRepo | None = None
        for common in (os.path.join(cwd, ".git"), cwd):
            if os.path.isdir(os.path.join(common, "objects")) and os.path.isdir(os.path.join(common, "refs", "heads")):
                repo = cls(common) if cls._plain_config(common) else None
                break
        cls._cache[cwd] = repo
        return repo

    @staticmethod
    def _plain_config(common: str) -> bool:
        if os.path.exists(os.path.join(common, "commondir")) or os.path.exists(os.path.join(common, "reftable")):
            return False  # a linked worktree's git dir, or the reftable backend
        try:
            with open(os.path.join(common, "config"), "rb") as fh:
                config = fh.read().lower()
        except OSError:
            return False
        return not any(word in config for word in (b"objectformat", b"refstorage", b"sharedrepository", b"include"))

    def ref_oid(self, ref: str) -> str | None:
        """The ref's object id; None when it does not exist; "" when git must answer."""
        try:
            with open(os.path.join(self.common, *ref.split("/")), "rb") as fh:
                text = fh.read().decode("ascii", "replace").strip()
        except FileNotFoundError:
            text = None
        except OSError:
            return ""
        if text is not None:
            return text if _is_oid(text) else ""  # a symref or a damaged file: let git decide
        try:
            with open(os.path.join(self.common, "packed-refs"), "rb") as fh:
                packed = fh.read()
        except FileNotFoundError:
            return None
        except OSError:
            return ""
        needle = b" " + ref.encode("ascii") + b"\n"
        at = packed.find(needle)
        if at < 0:
            return None
        start = packed.rfind(b"\n", 0, at) + 1
        oid = packed[start:at].decode("ascii", "replace")
        return oid if _is_oid(oid) else ""

    def _object_path(self, oid: str) -> str:
        return os.path.join(self.common, "objects", oid[:2], oid[2:])

    def read_object(self, oid: str) -> str | None:
        """A loose object's content as text (any type, like `cat-file --batch`); None if not loose."""
        import zlib

        try:
            with open(self._object_path(oid), "rb") as fh:
                raw = zlib.decompress(fh.read())
        except (OSError, zlib.error):
            return None
        header, sep, body = raw.partition(b"\0")
        fields = header.split(b" ")
        if not sep or len(fields) != 2 or not fields[1].isdigit() or int(fields[1]) != len(body):
            return None
        return body.decode("utf-8", "replace")

    def write_blob(self, data: bytes) -> str | None:
        """Store `data` as a loose blob, as `git hash-object -w` would; its id, or None on failure."""
        import zlib

        raw = b"blob %d\0" % len(data) + data
        oid = hashlib.sha1(raw).hexdigest()
        path = self._object_path(oid)
        if os.path.exists(path):
            return oid
        folder = os.path.dirname(path)
        tmp = os.path.join(folder, f"tmp_obj_{os.getpid()}_{random.getrandbits(32):08x}")
        try:
            os.makedirs(folder, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                os.write(fd, zlib.compress(raw, 1))  # core.loosecompression's default
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another writer stored the same object
            finally:
                os.unlink(tmp)
        except OSError:
            with suppress(OSError):
                os.unlink(tmp)
            return None
        return oid


def _is_oid(text: str) -> bool:
    return len(text) == 40 and all(c in "0123456789abcdef" for c in text)


def reflog_oids(common_dir: str) -> tuple[list[str], bool]:
    """Every object id the ref's reflog mentions, oldest first, and whether a reflog exists.

    Read from the file: `git reflog` only walks commits and our ref points at blobs.
    """
    path = os.path.join(common_dir, "logs", *REF.split("/"))
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return [], False
    seen: dict[str, None] = {}
    for line in lines:
        parts = line.split(" ", 2)
        for oid in parts[:2]:
            if len(oid) >= 40 and oid.strip("0"):
                seen.setdefault(oid, None)
    return list(seen), True


# --- writing -----------------------------------------------------------------------------------


class WriteResult(Record):
    written: bool
    size: int
    root: str
    oid: str | None
    reason: str  # written | disabled | empty | current | newer_exists | disagrees | contended


_suspended = 0


@contextmanager
def suspended() -> Iterator[None]:
    """No automatic checkpoint inside this block (key rotation writes its own afterwards)."""
    global _suspended
    _suspended += 1
    try:
        yield
    finally:
        _suspended -= 1


def write_checkpoint(store: Store, *, required: bool = False) -> WriteResult:
    """Sign the tree the database holds now and move the ref to it (compare-and-swap).

    Reads the tree state after the commit rather than the caller's rows, so of several concurrent
    writers the last to succeed always publishes the largest tree, and a writer that finds a
    newer checkpoint on the ref leaves it alone (a ref never moves backwards by our hand). A
    checkpoint of the same size but another root is never overwritten: that is evidence.
    `required` (the `audit checkpoint` command) turns "checkpoints not set up" into an error.
    """
    conn = store.conn
    rid = repo_id(conn)
    if rid is None:
        if required:
            raise EnvironmentProblem("this repo has no repo id yet", "run `switchman-hook init`", code="not_initialised")
        return WriteResult(False, 0, "", None, "disabled")
    keys = keyring(conn)
    path = private_key_path(rid)
    cwd = _git_cwd(store.state_dir)
    env = git_env(for_other_worktree=True)
    if not keys and not os.path.exists(path) and not os.path.exists(path + ".new"):
        # Set up before issue 5 and never re-initialised: nothing to sign with, nothing to protect
        # -- unless a checkpoint exists, in which case the key (and keyring) went missing.
        if read_ref(cwd, env, check=False) is not None:
            raise _missing_key(rid)
        if required:
            raise EnvironmentProblem(
                "checkpoints are not set up in this repo (no signing key)",
                "run `switchman-hook init` to create the key",
                code="checkpoint_key_missing",
            )
        return WriteResult(False, 0, "", None, "disabled")
    _refuse_key_inside(path, [cwd])
    signer = _resolve_signer(rid, keys, path)
    size, root = audit_log.tree_current(conn)
    if size == 0:
        return WriteResult(False, 0, root.hex(), None, "empty")
    origin = origin_for(rid)
    note = sign_note(checkpoint_text(origin, size, root), signer)
    oid: str | None = None
    for _attempt in range(UPDATE_ATTEMPTS):
        cur = read_ref(cwd, env)
        if cur is not None:
            try:
                prev: Checkpoint | None = parse_checkpoint(cur[1])
            except ValueError:
                prev = None
            if prev is not None and prev.origin == origin:
                if prev.size > size:
                    return WriteResult(False, size, root.hex(), cur[0], "newer_exists")
                if prev.size == size:
                    if prev.root == root:
                        return WriteResult(False, size, root.hex(), cur[0], "current")
                    sys.stderr.write(
                        f"warning: the audit log disagrees with the signed checkpoint at size {size}; "
                        "not overwriting it — run `switchman-hook audit verify`\n"
                    )
                    return WriteResult(False, size, root.hex(), cur[0], "disagrees")
        if oid is None:
            repo = _FilesRepo.at(cwd)
            oid = repo.write_blob(note.encode("utf-8")) if repo is not None else None
        if oid is None:
            oid = os.fsdecode(run_git(["hash-object", "-w", "--stdin"], cwd, env=env, input=note.encode("utf-8")).stdout).strip()
        proc = run_git(
            ["update-ref", "--create-reflog", "-m", f"switchman-hook checkpoint {size}", REF, oid, cur[0] if cur else ""],
            cwd,
            env=env,
            check=False,
        )
        if proc.returncode == 0:
            return WriteResult(True, size, root.hex(), oid, "written")
        time.sleep(0.005 + random.random() * 0.02)  # another writer moved or holds the ref
    sys.stderr.write(f"warning: could not move {REF} (contended); the next command that appends retries\n")
    return WriteResult(False, size, root.hex(), oid, "contended")


def _after_append(store: Store, rows: list[audit.AuditRow]) -> None:
    if not _suspended:
        write_checkpoint(store)


# --- keys: creation (init) and rotation --------------------------------------------------------


def init_signing(paths: RepoPaths, store: Store) -> VerifierKey | None:
    """Called by `init`: create the signing key on first use, then checkpoint what is there.

    Returns the new verifier key when one was created. A key that has gone missing while the
    keyring or the ref says checkpoints exist is an error, never silently regenerated.
    """
    rid = repo_id(store.conn)
    if rid is None:
        return None
    path = private_key_path(rid)
    _refuse_key_inside(path, _protected_dirs(paths, store))
    keys = keyring(store.conn)
    created: VerifierKey | None = None
    if read_signer(rid, path) is None and not os.path.exists(path + ".new"):
        env = git_env(for_other_worktree=True)
        if keys or read_ref(_git_cwd(store.state_dir), env) is not None:
            raise _missing_key(rid)
        signer = Signer.generate(origin_for(rid))
        try:
            _write_private(path, signer)
        except FileExistsError:  # a concurrent init of the same repo won the race: use its key
            signer = read_signer(rid, path) or signer
        created = signer.verifier
        _add_key(store, created)
    elif not keys:
        signer = read_signer(rid, path)
        if signer is not None:  # key kept from an earlier database of this repo: trust it again
            _add_key(store, signer.verifier)
    _quiet_gc(_git_cwd(store.state_dir))
    write_checkpoint(store)
    return created


def _quiet_gc(cwd: str) -> None:
    """`git gc` (reflog expire) looks for a *commit* at each reflog's tip and prints errors for
    our blob. With unreachable-expiry off for this one ref it skips that lookup; entries still
    age out after gc.reflogExpire (90 days by default; set it to `never` to keep them all)."""
    run_git(
        ["config", f"gc.{REF}.reflogExpireUnreachable", "never"],
        cwd,
        env=git_env(for_other_worktree=True),
        check=False,
    )


def _add_key(store: Store, key: VerifierKey) -> None:
    def fn(tx: Tx) -> None:
        tx.execute(
            "INSERT OR IGNORE INTO checkpoint_keys (verifier_key, key_hash, added_at) VALUES (?, ?, ?)",
            (key.text, key.key_hash.hex(), now_iso()),
        )

    store.write(fn)


class RotateResult(Record):
    new_key: str
    retired: list[str]
    retired_size: int
    checkpoint: WriteResult


def rotate_key(paths: RepoPaths, store: Store) -> RotateResult:
    """Retire the active key(s) at the current tree size and sign from now on with a new key.

    Explicit and logged (`checkpoint_key_rotated`); also the way out of a lost private key. Old
    checkpoints stay verifiable: a retired key is trusted for sizes up to its retirement.
    """
    rid = repo_id(store.conn)
    if rid is None:
        raise EnvironmentProblem("this repo has no repo id yet", "run `switchman-hook init`", code="not_initialised")
    path = private_key_path(rid)
    _refuse_key_inside(path, _protected_dirs(paths, store))
    signer = Signer.generate(origin_for(rid))
    pending = path + ".new"
    if os.path.exists(pending):
        os.unlink(pending)
    _write_private(pending, signer)
    new = signer.verifier

    def fn(tx: Tx) -> tuple[list[str], int]:
        size, _root = audit_log.tree_current(tx.conn)
        old = [r["verifier_key"] for r in tx.all("SELECT verifier_key FROM checkpoint_keys WHERE retired_size IS NULL")]
        stamp = now_iso()
        tx.execute(
            "UPDATE checkpoint_keys SET retired_at = ?, retired_size = ? WHERE retired_size IS NULL", (stamp, size)
        )
        tx.execute(
            "INSERT INTO checkpoint_keys (verifier_key, key_hash, added_at) VALUES (?, ?, ?)",
            (new.text, new.key_hash.hex(), stamp),
        )
        tx.audit(ROTATED_EVENT, "info", details={"new_key": new.text, "retired_keys": old, "retired_at_size": size})
        return old, size

    try:
        with suspended():
            old, size = store.write(fn)
    except BaseException:
        if os.path.exists(pending):
            os.unlink(pending)
        raise
    try:
        os.replace(pending, path)
    except FileNotFoundError:  # a concurrent writer already finished the rename (_resolve_signer)
        done = read_signer(rid, path)
        if done is None or done.verifier != new:
            raise
    return RotateResult(new.text, old, size, write_checkpoint(store))


def public_keys(store: Store) -> list[TrustedKey]:
    return keyring(store.conn)


# --- verification ------------------------------------------------------------------------------


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
    for values in conn.execute(f"SELECT {audit.ROW_COLUMNS} FROM audit_log ORDER BY id"):
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
        cwd = paths.common_dir
        proc = run_git(["cat-file", "blob", source], cwd, env=git_env(for_other_worktree=True), check=False)
        if proc.returncode != 0:
            raise BadInput(f"--against {source}: no such file or git blob", "pass a checkpoint file or a ref such as refs/switchman/witness")
        text = proc.stdout.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):
        import json

        try:
            text = str(json.loads(text)["checkpoint"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"--against {source}: JSON without a checkpoint", "pass a checkpoint or a proof file") from exc
    return text


# What a checkpoint written by a concurrent writer in the middle of a verify looks like.
RACY_CODES = frozenset({"log_shorter_than_checkpoint", "checkpoint_rollback"})


class RefSnapshot:
    """The checkpoint ref and its reflog, read BEFORE the rows.

    A checkpoint is written only after the rows it covers commit, so rows read after this
    snapshot always include everything it signs; reading the ref after the rows would let a
    concurrent writer's checkpoint look like deleted rows (stress BUG-2).
    """

    __slots__ = ("current", "reflog", "has_reflog")

    def __init__(self, paths: RepoPaths) -> None:
        env = git_env(for_other_worktree=True)
        # Reflog first: git writes the reflog entry before it moves the ref.
        self.reflog, self.has_reflog = reflog_oids(paths.common_dir)
        self.current = read_ref(paths.common_dir, env)


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
    rid = repo_id(conn)
    origin = origin_for(rid) if rid else None
    keys = keyring(conn)
    env = git_env(for_other_worktree=True)
    cwd = paths.common_dir
    witness_text = load_witness(paths, against) if against is not None else None

    cur_raw = snapshot.current
    log_oids, has_reflog = snapshot.reflog, snapshot.has_reflog
    others = [o for o in log_oids if cur_raw is None or o != cur_raw[0]]
    blobs = _cat_batch(cwd, others, env)

    def parse(text: str) -> Checkpoint | None:
        try:
            return parse_checkpoint(text)
        except ValueError:
            return None

    cur = parse(cur_raw[1]) if cur_raw else None
    history = [(oid, parse(b[1])) for oid, b in zip(others, blobs, strict=True) if b is not None]
    witness = parse(witness_text) if witness_text is not None else None
    sizes = {cp.size for cp in [cur, witness, *(c for _, c in history)] if cp is not None}
    log_size, roots = merkle.roots_at(leaves, sizes)
    failures: list[audit.Failure] = []
    sig_cache: dict[str, bool] = {}

    def fail(code: str, size: int | None, message: str) -> None:
        failures.append(audit.Failure(None, size, code, message))

    def valid(cp: Checkpoint) -> bool:
        if cp.note not in sig_cache:
            sig_cache[cp.note] = cp.origin == origin and signed_by(cp, keys) is not None
        return sig_cache[cp.note]

    def who(cp: Checkpoint) -> str:
        if origin is not None and cp.origin != origin:
            return f"its origin {cp.origin!r} is not this repo's ({origin})"
        return "no trusted checkpoint key signed it" if keys else "this repo has no checkpoint keys"

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
    elif cur is None and keys:
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


# --- inclusion proofs --------------------------------------------------------------------------


def prove(paths: RepoPaths, store: Store, sequence: int) -> dict[str, Any]:
    """An inclusion proof of event `sequence` in the tree of the current signed checkpoint.

    It carries the event itself, so `verify_proof` recomputes its entry hash: it proves the
    content, not just a hash.
    """
    conn = store.conn
    raw = read_ref(paths.common_dir, git_env(for_other_worktree=True))
    if raw is None:
        raise NotFound(f"there is no checkpoint on {REF}", "run `switchman-hook audit checkpoint`")
    try:
        cp = parse_checkpoint(raw[1])
    except ValueError:
        raise Denied(f"{REF} is not a well-formed checkpoint", "run `switchman-hook audit verify`") from None
    rid = repo_id(conn)
    if cp.origin != (origin_for(rid) if rid else None) or signed_by(cp, keyring(conn)) is None:
        raise Denied(f"the checkpoint on {REF} does not verify", "run `switchman-hook audit verify`", code="checkpoint_signature_invalid")
    if sequence < 1:
        raise BadInput(f"sequence {sequence} must be at least 1")
    sha256 = hashlib.sha256
    leaves: list[bytes] = []
    target: tuple[int, dict[str, Any], str] | None = None
    for values in conn.execute(f"SELECT {audit.ROW_COLUMNS} FROM audit_log ORDER BY id"):
        if len(leaves) >= cp.size:
            break
        row = audit.row_from(values)
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
    """Check a `prove` document with nothing but the public key: no repository, no database."""
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
