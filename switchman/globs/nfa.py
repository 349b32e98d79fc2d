"""The reference automaton: the one definition of what a glob matches, and of overlap.

A pattern's tokens (`globs.syntax`) are run as a segment automaton over the path's components,
each segment glob as a character automaton over one component: time linear in path length times
pattern length, whatever the pattern. Overlap (is there a path both patterns cover?) is the exact
intersection of two regular languages, by reachability in the product of the segment automata
and, per segment pair, of the character automata. `globs.matcher` is the fast engine for the hook
path; a differential test (tests/test_globs.py) keeps it equal to this one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from functools import lru_cache

from .charset import contains, intersect, pick
from .syntax import ANYSEG, DSTAR, STAR, SegGlob, Token, parse


def seg_match(glob: SegGlob, seg: str) -> bool:
    n = len(glob)
    states = {0}
    _close_star(glob, states)
    for ch in seg:
        o = ord(ch)
        nxt: set[int] = set()
        for k in states:
            if k < n:
                item = glob[k]
                if item is STAR:
                    nxt.add(k)
                elif contains(item, o):  # type: ignore[arg-type]
                    nxt.add(k + 1)
        if not nxt:
            return False
        _close_star(glob, nxt)
        states = nxt
    return n in states


def _close_star(glob: SegGlob, states: set[int]) -> None:
    stack = list(states)
    while stack:
        k = stack.pop()
        if k < len(glob) and glob[k] is STAR and k + 1 not in states:
            states.add(k + 1)
            stack.append(k + 1)


def _close_dstar(tokens: tuple[Token, ...], states: set[int]) -> None:
    stack = list(states)
    while stack:
        k = stack.pop()
        if k < len(tokens) and tokens[k] is DSTAR and k + 1 not in states:
            states.add(k + 1)
            stack.append(k + 1)


def tokens_match(tokens: tuple[Token, ...], segs: list[str]) -> bool:
    n = len(tokens)
    states = {0}
    _close_dstar(tokens, states)
    for seg in segs:
        if not seg:
            return False
        nxt: set[int] = set()
        for k in states:
            if k < n:
                tok = tokens[k]
                if tok is DSTAR:
                    nxt.add(k)
                elif seg_match(tok, seg):  # type: ignore[arg-type]
                    nxt.add(k + 1)
        if not nxt:
            return False
        _close_dstar(tokens, nxt)
        states = nxt
    return n in states


def matches(pattern: str, path: str) -> bool:
    """True when *pattern* covers the normalised *path* (the reference answer)."""
    return bool(path) and tokens_match(parse(pattern).tokens, path.split("/"))


def first_match(patterns: Iterable[str], path: str) -> str | None:
    """The earliest pattern covering *path*, or None: what `Matcher.first_match` must answer."""
    for pattern in patterns:
        if matches(pattern, path):
            return pattern
    return None


@lru_cache(maxsize=16384)
def _seg_witness(g: SegGlob, h: SegGlob) -> str | None:
    """A non-empty segment matched by both segment globs, or None."""
    lg, lh = len(g), len(h)
    start = (0, 0)
    parent: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        p, q = state
        if p == lg and q == lh:
            chars: list[str] = []
            cur: tuple[int, int] | None = state
            while cur is not None and parent[cur] is not None:
                prev, ch = parent[cur]  # type: ignore[misc]
                chars.append(ch)
                cur = prev
            out = "".join(reversed(chars))
            return out or "x"  # both all-'*': any non-empty segment
        x = g[p] if p < lg else None
        y = h[q] if q < lh else None
        moves: list[tuple[tuple[int, int], str]] = []
        if x is STAR:
            moves.append(((p + 1, q), ""))
            if y is not None and y is not STAR and y:
                moves.append(((p, q + 1), pick(y)))  # type: ignore[arg-type]
        if y is STAR:
            moves.append(((p, q + 1), ""))
            if x is not None and x is not STAR and x:
                moves.append(((p + 1, q), pick(x)))  # type: ignore[arg-type]
        if x is not None and y is not None and x is not STAR and y is not STAR:
            common = intersect(x, y)  # type: ignore[arg-type]
            if common:
                moves.append(((p + 1, q + 1), pick(common)))
        for nxt, ch in moves:
            if nxt not in parent:
                parent[nxt] = (state, ch)
                queue.append(nxt)
    return None


def _tokens_witness(a: tuple[Token, ...], b: tuple[Token, ...]) -> list[str] | None:
    la, lb = len(a), len(b)
    start = (0, 0)
    parent: dict[tuple[int, int], tuple[tuple[int, int], str | None] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        i, j = state
        if i == la and j == lb:
            segs: list[str] = []
            cur: tuple[int, int] | None = state
            while cur is not None and parent[cur] is not None:
                prev, seg = parent[cur]  # type: ignore[misc]
                if seg is not None:
                    segs.append(seg)
                cur = prev
            return list(reversed(segs))
        x = a[i] if i < la else None
        y = b[j] if j < lb else None
        moves: list[tuple[tuple[int, int], str | None]] = []
        if x is DSTAR:
            moves.append(((i + 1, j), None))
            if y is not None and y is not DSTAR:
                w = _seg_witness(y, ANYSEG)  # type: ignore[arg-type]
                if w is not None:
                    moves.append(((i, j + 1), w))
        if y is DSTAR:
            moves.append(((i, j + 1), None))
            if x is not None and x is not DSTAR:
                w = _seg_witness(x, ANYSEG)  # type: ignore[arg-type]
                if w is not None:
                    moves.append(((i + 1, j), w))
        if x is not None and y is not None and x is not DSTAR and y is not DSTAR:
            w = _seg_witness(x, y)  # type: ignore[arg-type]
            if w is not None:
                moves.append(((i + 1, j + 1), w))
        for nxt, seg in moves:
            if nxt not in parent:
                parent[nxt] = (state, seg)
                queue.append(nxt)
    return None


def overlap_witness(a: str, b: str) -> str | None:
    """A path covered by both globs (for messages and tests), or None when there is none."""
    segs = _tokens_witness(parse(a).tokens, parse(b).tokens)
    return None if segs is None else "/".join(segs)


def globs_overlap(a: str, b: str) -> bool:
    """True iff some path is covered by both globs (exact for gitignore semantics, so sound).

    Note "covers beneath": ``lib/x/*.js`` covers ``lib/x/a.js/test_a.py`` (a directory named
    ``a.js``), so it overlaps ``lib/**/test_*.py``.
    """
    ga, gb = parse(a), parse(b)
    if ga.literal is not None and gb.literal is not None and ga.anchored and gb.anchored:
        x, y = ga.literal, gb.literal
        return x == y or y.startswith(x + "/") or x.startswith(y + "/")
    if ga.first is not None and gb.first is not None and ga.first != gb.first:
        return False  # both anchored under different top-level names
    return _tokens_witness(ga.tokens, gb.tokens) is not None


def glob_sets_overlap(a: Iterable[str], b: Iterable[str]) -> list[tuple[str, str]]:
    """Every (pattern from *a*, pattern from *b*) pair that overlaps, in input order."""
    left, right = tuple(a), tuple(b)
    return [(x, y) for x in left for y in right if globs_overlap(x, y)]
