"""RFC 6962 / RFC 9162 Merkle tree over the audit log (SPEC §9), hashlib only.

The HMAC chain (SPEC §3) cannot see a deleted tail or a rewrite by anyone holding audit.key; a
Merkle root signed into a checkpoint can. Leaves are the rows' 32-byte entry hashes (raw bytes,
not hex), hashed as RFC 6962 leaves. The core functions take raw leaf *data* so the RFC test
vectors apply unchanged.

Pure math. The appending transaction folds each new leaf into a `CompactRange` (the O(log n) stack
of perfect subtree roots on the tree's right edge) that the store keeps (`store/audit_log.py`), so
writing a checkpoint never rescans the log. `audit verify` never trusts that stored state: it
recomputes the tree from recomputed entry hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 ‖ data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()


def entry_leaf(entry_hash_hex: str) -> bytes:
    """Leaf hash of an audit row: its entry hash decoded to 32 raw bytes.

    A stored value that is not 64 hex characters (only a tampered row has one) is hashed as its
    UTF-8 text, so the tree still changes and the damage shows up at verify time.
    """
    try:
        raw = bytes.fromhex(entry_hash_hex)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != HASH_SIZE:
        raw = str(entry_hash_hex).encode("utf-8", "surrogateescape")
    return leaf_hash(raw)


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The right edge of a tree of `size` leaves: one perfect-subtree root per set bit of size.

    Appending is amortised O(1) hashing; the root is O(log n). This is all the state needed to
    extend the tree, so it is what the database keeps between appends.
    """

    __slots__ = ("size", "stack")

    def __init__(self, size: int = 0, stack: Sequence[bytes] = ()) -> None:
        if len(stack) != bin(size).count("1"):
            raise ValueError(f"compact range of size {size} needs {bin(size).count('1')} hashes, got {len(stack)}")
        self.size = size
        self.stack = list(stack)

    def append(self, leaf: bytes) -> None:
        """Add one leaf *hash* (already `leaf_hash`ed)."""
        stack = self.stack
        stack.append(leaf)
        self.size += 1
        n = self.size
        while not n & 1:
            right = stack.pop()
            stack[-1] = _sha256(b"\x01" + stack[-1] + right).digest()
            n >>= 1

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        stack = self.stack
        h = stack[-1]
        for i in range(len(stack) - 2, -1, -1):
            h = _sha256(b"\x01" + stack[i] + h).digest()
        return h

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.stack)

    def to_blob(self) -> bytes:
        return b"".join(self.stack)

    @classmethod
    def from_blob(cls, size: int, blob: bytes) -> CompactRange:
        return cls(size, [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)])


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """Merkle tree hash of a sequence of leaf hashes."""
    cr = CompactRange()
    for h in leaf_hashes:
        cr.append(h)
    return cr.root()


def tree_hash(data: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of raw leaf data (RFC 6962 §2.1), e.g. for the RFC test vectors."""
    return root_of(leaf_hash(d) for d in data)


def roots_at(leaf_hashes: Iterable[bytes], sizes: Iterable[int]) -> tuple[int, dict[int, bytes]]:
    """One pass: the number of leaves and the root at each requested size (that exists)."""
    wanted = set(sizes)
    found: dict[int, bytes] = {}
    cr = CompactRange()
    if 0 in wanted:
        found[0] = EMPTY_ROOT
    for h in leaf_hashes:
        cr.append(h)
        if cr.size in wanted:
            found[cr.size] = cr.root()
    return cr.size, found


# --- proofs (RFC 9162 §2.1.3 and §2.1.4) --------------------------------------------------------


def _mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    return root_of(hashes[i] for i in range(lo, hi))


def inclusion_proof(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) over leaf hashes, deepest sibling first."""
    n = len(hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} is outside a tree of size {n}")
    path: list[bytes] = []

    def walk(m: int, lo: int, hi: int) -> None:
        size = hi - lo
        if size <= 1:
            return
        k = _split(size)
        if m < k:
            walk(m, lo, lo + k)
            path.append(_mth(hashes, lo + k, hi))
        else:
            walk(m - k, lo + k, hi)
            path.append(_mth(hashes, lo, lo + k))

    walk(index, 0, n)
    return path


def consistency_proof(old_size: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) that the tree of the first `old_size` leaves is a prefix of `hashes`."""
    n = len(hashes)
    if not 0 <= old_size <= n:
        raise ValueError(f"old size {old_size} is outside a tree of size {n}")
    if old_size in (0, n):
        return []
    proof: list[bytes] = []

    def sub(m: int, lo: int, hi: int, complete: bool) -> None:
        size = hi - lo
        if m == size:
            if not complete:
                proof.append(_mth(hashes, lo, hi))
            return
        k = _split(size)
        if m <= k:
            sub(m, lo, lo + k, complete)
            proof.append(_mth(hashes, lo + k, hi))
        else:
            sub(m - k, lo + k, hi, False)
            proof.append(_mth(hashes, lo, lo + k))

    sub(old_size, 0, n, True)
    return proof


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root the proof implies, or None when the proof is malformed."""
    if not 0 <= index < size or len(leaf) != HASH_SIZE:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if len(p) != HASH_SIZE or sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    got = root_from_inclusion_proof(index, size, leaf, proof)
    return got is not None and got == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does the tree (new_size, new_root) extend (old_size, old_root)?"""
    if old_size < 0 or new_size < old_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof or any(len(p) != HASH_SIZE for p in proof):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # exact power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
