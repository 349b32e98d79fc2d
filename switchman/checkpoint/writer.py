"""Writing checkpoints: after every transaction that appended (`after_commit`), on `audit
checkpoint`, at `init` (the key is created on first use) and on key rotation."""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .. import audit
from ..errors import EnvironmentProblem
from ..records import Record
from ..repo import RepoPaths, git_env
from ..store import audit_log, meta
from ..store.sqlite import Store
from ..timeutil import now_iso
from . import keys, ref
from .keys import Signer, VerifierKey
from .note import checkpoint_text, parse_or_none, sign_note

if TYPE_CHECKING:  # pragma: no cover
    from ..store.sqlite import Tx

ROTATED_EVENT = "checkpoint_key_rotated"
UPDATE_ATTEMPTS = 12


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


def _signer(store: Store, rid: str, *, required: bool = False) -> Signer | None:
    """The key this store signs with; None when checkpoints are not set up (and none exist)."""
    ring = keys.keyring(store.conn)
    cwd = ref.git_cwd(store.state_dir)
    candidates = keys.candidate_paths(rid, store.state_dir)
    # On a shared store other machines' keys say nothing about this one: a machine that has not
    # run `init` yet has no key of its own, like a repo whose checkpoints were never set up.
    if not keys.machine_keys(store, ring) and not any(os.path.exists(p) or os.path.exists(p + ".new") for p in candidates):
        # Set up before checkpoints existed and never re-initialised: nothing to sign with,
        # nothing to protect -- unless a checkpoint exists: then the key (and keyring) went missing.
        if ref.read_ref(cwd, git_env(for_other_worktree=True), check=False) is not None:
            raise keys.missing_key(rid, candidates[0])
        if required:
            raise EnvironmentProblem(
                "checkpoints are not set up in this repo (no signing key)",
                "run `switchman-hook init` to create the key",
                code="checkpoint_key_missing",
            )
        return None
    for p in candidates:
        keys.refuse_key_inside(p, [cwd])
    return keys.resolve_signer(rid, ring, state_dir=store.state_dir)


def prepare(store: Store) -> None:
    """Before a command writes: fail now, with nothing changed, if the checkpoint that must follow
    its commit could not be signed (a key missing, unreadable or untrusted)."""
    if _suspended:
        return
    rid = keys.repo_id(store.conn)
    if rid is not None:
        _signer(store, rid)


def write_checkpoint(store: Store, *, required: bool = False) -> WriteResult:
    """Sign the tree the database holds now and move the ref to it (compare-and-swap).

    Reads the tree state after the commit rather than the caller's rows, so of several concurrent
    writers the last to succeed always publishes the largest tree, and a writer that finds a
    newer checkpoint on the ref leaves it alone (a ref never moves backwards by our hand). A
    checkpoint of the same size but another root is never overwritten: that is evidence.
    `required` (the `audit checkpoint` command) turns "checkpoints not set up" into an error.
    """
    conn = store.conn
    rid = keys.repo_id(conn)
    if rid is None:
        if required:
            raise EnvironmentProblem("this repo has no repo id yet", "run `switchman-hook init`", code="not_initialised")
        return WriteResult(False, 0, "", None, "disabled")
    signer = _signer(store, rid, required=required)
    if signer is None:
        return WriteResult(False, 0, "", None, "disabled")
    cwd = ref.git_cwd(store.state_dir)
    env = git_env(for_other_worktree=True)
    size, root = audit_log.tree_current(conn)
    if size == 0:
        return WriteResult(False, 0, root.hex(), None, "empty")
    origin = keys.origin_for(rid)
    note = sign_note(checkpoint_text(origin, size, root), signer)
    oid: str | None = None
    for _attempt in range(UPDATE_ATTEMPTS):
        cur = ref.read_ref(cwd, env)
        prev = parse_or_none(cur[1]) if cur is not None else None
        if cur is not None and prev is not None and prev.origin == origin:
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
            oid = ref.write_blob(cwd, note.encode("utf-8"), env)
        if ref.compare_and_swap(cwd, oid, cur[0] if cur else None, f"switchman-hook checkpoint {size}", env):
            return WriteResult(True, size, root.hex(), oid, "written")
        time.sleep(0.005 + random.random() * 0.02)  # another writer moved or holds the ref
    sys.stderr.write(f"warning: could not move {ref.REF} (contended); the next command that appends retries\n")
    return WriteResult(False, size, root.hex(), oid, "contended")


def after_commit(store: Store, rows: list[audit.AuditRow]) -> None:
    """The store calls this after a transaction that appended audit rows commits."""
    if not _suspended:
        write_checkpoint(store)




# --- keys: creation (init) and rotation --------------------------------------------------------


def init_signing(paths: RepoPaths, store: Store) -> VerifierKey | None:
    """Called by `init`: create the signing key on first use, then checkpoint what is there.

    Returns the new verifier key when one was created. A key that has gone missing while the
    keyring or the ref says checkpoints exist is an error, never silently regenerated.
    """
    rid = keys.repo_id(store.conn)
    if rid is None:
        return None
    path = keys.key_path(rid, store.state_dir)
    keys.refuse_key_inside(path, keys.protected_dirs(paths, store))
    ring = keys.keyring(store.conn)
    mine = keys.machine_keys(store, ring)  # a shared store: each machine signs with its own key
    created: VerifierKey | None = None
    cwd = ref.git_cwd(store.state_dir)
    if keys.read_signer(rid, path) is None and not os.path.exists(path + ".new"):
        if mine or ref.read_ref(cwd, git_env(for_other_worktree=True)) is not None:
            raise keys.missing_key(rid, path)
        signer = Signer.generate(keys.origin_for(rid))
        try:
            keys.write_private(path, signer)
        except FileExistsError:  # a concurrent init of the same repo won the race: use its key
            signer = keys.read_signer(rid, path) or signer
        created = signer.verifier
        keys.add_key(store, created)
    elif not mine:
        kept = keys.read_signer(rid, path)
        if kept is not None:  # key kept from an earlier database of this repo: trust it again
            keys.add_key(store, kept.verifier)
    keys.record_key_path(store.state_dir, path)  # every process finds it, whatever its HOME
    ref.quiet_gc(cwd)
    write_checkpoint(store)
    return created


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
    rid = keys.repo_id(store.conn)
    if rid is None:
        raise EnvironmentProblem("this repo has no repo id yet", "run `switchman-hook init`", code="not_initialised")
    path = keys.key_path(rid, store.state_dir)
    keys.refuse_key_inside(path, keys.protected_dirs(paths, store))
    _can_rotate_at(path, recorded=keys.recorded_key_path(store.state_dir, rid) is not None)
    signer = Signer.generate(keys.origin_for(rid))
    pending = path + ".new"
    if os.path.exists(pending):
        os.unlink(pending)
    keys.write_private(pending, signer)
    new = signer.verifier

    # A shared store: only this machine's keys retire; the others keep signing with theirs.
    machine = store.machine if store.shared else None

    def fn(tx: Tx) -> tuple[list[str], int]:
        size, _root = audit_log.tree_current(tx.conn)
        old = meta.active_keys(tx, machine)
        stamp = now_iso()
        meta.retire_active_keys(tx, stamp, size, machine)
        meta.add_key(tx, new.text, new.key_hash.hex(), stamp)
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
    except FileNotFoundError:  # a concurrent writer already finished the rename (keys.resolve_signer)
        done = keys.read_signer(rid, path)
        if done is None or done.verifier != new:
            raise
    keys.record_key_path(store.state_dir, path)
    return RotateResult(new.text, old, size, write_checkpoint(store))


def _can_rotate_at(path: str, *, recorded: bool) -> None:
    """The new key goes where every user of the store finds the old one (the recorded location),
    or nowhere: a key only this process can see would lock the others out."""
    directory = os.path.dirname(path)
    reason = None
    if os.path.isdir(directory):
        if not os.access(directory, os.W_OK | os.X_OK):
            reason = f"this process cannot write {directory}, where the store's signing key lives"
    elif not recorded:
        return  # nothing recorded yet: this process's own config dir, created with the key
    else:
        reason = f"the store's signing key location {path} is not visible to this process"
    if reason is not None:
        raise EnvironmentProblem(
            f"refusing to rotate the checkpoint key: {reason}; a new key only this process could read "
            "would lock out the other users of the store",
            "run `switchman-hook audit rotate-key` as a user (or in the environment) that can write that "
            "directory, or give this process access to it",
            code="checkpoint_key_rotate_refused",
        )
