"""Character-set algebra for the glob automaton and the overlap check.

A character set is a sorted tuple of disjoint inclusive (lo, hi) code-point ranges. The sets a
glob segment uses never contain "/" (`*`, `?` and classes never match it, as in git), so the
complement and "any character" are taken within the code points other than "/".
"""

from __future__ import annotations

SLASH = 0x2F
MAXCP = 0x10FFFF
ANY: tuple[tuple[int, int], ...] = ((0, SLASH - 1), (SLASH + 1, MAXCP))

CharSet = tuple[tuple[int, int], ...]


def single(ch: str) -> CharSet:
    o = ord(ch)
    return ((o, o),)


def merge(ranges: list[tuple[int, int]]) -> CharSet:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def complement(cs: CharSet) -> CharSet:
    out: list[tuple[int, int]] = []
    nxt = 0
    for lo, hi in cs:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAXCP:
        out.append((nxt, MAXCP))
    return tuple(out)


def intersect(a: CharSet, b: CharSet) -> CharSet:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def contains(cs: CharSet, o: int) -> bool:
    for lo, hi in cs:
        if o < lo:
            return False
        if o <= hi:
            return True
    return False


_PREFERRED = tuple(sorted(ord(c) for c in "xyzabcdefghijklmnopqrstuvw0123456789_"))


def pick(cs: CharSet) -> str:
    """A readable member of a non-empty set (witness paths are shown to people and tests)."""
    for o in (ord("x"), *_PREFERRED):
        if contains(cs, o):
            return chr(o)
    for lo, hi in cs:
        if hi > 0x20:
            return chr(max(lo, 0x21))
    return chr(cs[0][0])
