"""The fast glob matcher used on the hook path: same answers as `globs.nfa`, far fewer steps.

Literal patterns are answered from sets and dicts; anchored globs are bucketed by their literal
leading directories; each bucket is one alternation regex built from ``pathspec``'s translations,
compiled the first time a judged path reaches it. Patterns whose regex could backtrack badly
(three or more unbounded repeats, like ``**/**/*a*a*a*``), classes that pathspec would let match
``/``, and paths containing a newline (where ``$`` and ``.`` misbehave) use the reference
automaton. benchmarks/bench_globs.py measures what this buys over the automaton alone.

This is imported on the git-hook hot path, so ``pathspec`` (slow to import) is imported only
when a pattern with glob characters is compiled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import compress

from .nfa import tokens_match
from .syntax import MAX_GLOB_LEN, Glob, parse, parse_unvalidated, pathspec_regex


class _GlobGroup:
    """Glob patterns sharing a bucket: one alternation regex plus automaton-only members."""

    __slots__ = ("members", "combined", "has_auto")

    def __init__(self, members: list[tuple[int, Glob]], regex: bool = True) -> None:
        self.members: list[tuple[int, Glob, re.Pattern[str] | None]] = []
        sources: list[str] = []
        for idx, g in sorted(members, key=lambda m: m[0]):
            rx = None
            if regex and g.regex_ok:
                src = pathspec_regex(g.norm)
                rx = re.compile(src)
                sources.append(src)
            self.members.append((idx, g, rx))
        self.has_auto = any(rx is None for _, _, rx in self.members)
        self.combined: re.Pattern[str] | None = None
        if sources:
            try:
                self.combined = re.compile("|".join(f"(?:{s})" for s in sources))
            except re.error:  # e.g. duplicate group names from another pathspec version
                self.combined = None

    def hit(self, path: str, segs: list[str], newline: bool) -> bool:
        if newline:  # "$" and "." misbehave around newlines: automaton only
            return any(tokens_match(g.tokens, segs) for _, g, _ in self.members)
        if self.combined is not None and self.combined.match(path):
            return True
        for _, g, rx in self.members:
            if rx is None:
                if tokens_match(g.tokens, segs):
                    return True
            elif self.combined is None and rx.match(path):
                return True
        return False

    def first(self, path: str, segs: list[str], newline: bool, below: int) -> int | None:
        if newline:
            regex_hit = False
        else:
            regex_hit = self.combined is None or self.combined.match(path) is not None
            if not regex_hit and not self.has_auto:
                return None
        for idx, g, rx in self.members:
            if idx >= below:
                break
            if rx is not None and not newline:
                if regex_hit and rx.match(path):
                    return idx
            elif tokens_match(g.tokens, segs):
                return idx
        return None


_NO_MATCH = 1 << 62

# A pattern made only of these characters, with no empty, "." or ".." segment, is its own
# canonical form (but for runs of "*" and repeated "**" segments, which never touch its literal
# leading segments) and always valid: `Matcher` files it under its literal directory prefix
# without parsing it, and parses (and compiles) it only when a judged path reaches that prefix.
_SIMPLE = re.compile(r"/?(?!\.\.?(?:/|$))[A-Za-z0-9_.*?+=,@%~-]+(?:/(?!\.\.?(?:/|$))[A-Za-z0-9_.*?+=,@%~-]+)*/?")


def _simple_key(pattern: str) -> tuple[str, bool, bool, str | None] | None:
    """Classify a simple pattern (see `_SIMPLE`) without parsing it, else None.

    Returns (canonical body without slashes at the ends, anchored, dir_only, literal prefix):
    the prefix is the body itself for a literal pattern, its literal leading directories for an
    anchored glob, None for a glob with no literal leading directory (or an unanchored one).
    """
    if len(pattern) > MAX_GLOB_LEN or _SIMPLE_MATCH(pattern) is None:
        return None
    dir_only = len(pattern) > 1 and pattern[-1] == "/"
    body = pattern[:-1] if dir_only else pattern
    if body[0] == "/":
        anchored = True
        body = body[1:]
    else:
        anchored = "/" in body  # an inner slash anchors (gitignore's rule), as in `parse`
    if not body:
        return None
    star, query = body.find("*"), body.find("?")
    cut = star if query < 0 else (query if star < 0 else min(star, query))
    if cut < 0:
        return body, anchored, dir_only, body
    slash = body.rfind("/", 0, cut)
    return body, anchored, dir_only, (body[:slash] if anchored and slash > 0 else None)


def _needle(body: str) -> str:
    """The longest literal run of a simple pattern: every path it matches contains this text.

    Lets a matcher leave a bucket of globs uncompiled (and `pathspec` unimported) while no judged
    path could match any of them: `*.md` scopes are never compiled for a commit of `.py` files.
    """
    best = ""
    for chunk in body.replace("?", "*").replace("/", "*").split("*"):
        if len(chunk) > len(best):
            best = chunk
    return best


def _beneath_prefix(body: str, prefix: str | None) -> bool:
    """Is the simple anchored glob `body` exactly `<prefix>/**` (all paths strictly beneath)?

    gitignore/pathspec: `dir/**` (and `dir/**/`) match everything inside dir, not dir itself; for
    normalised paths that is `path.startswith(dir + "/")`, answered without a regex.
    """
    return prefix is not None and len(body) == len(prefix) + 3 and body.endswith("/**")


_SIMPLE_MATCH = _SIMPLE.fullmatch


class Matcher:
    """A compiled set of globs; ``match`` is true when any pattern covers the path.

    Paths must already be normalised (``normalize``). Patterns are validated (``BadInput`` on a bad
    one) when the matcher is built; ``pathspec`` is imported only if some pattern with glob
    characters is compiled. Anchored globs are kept in buckets under their literal leading
    directories (``src/auth/*.py`` under ``src/auth``) and a bucket is parsed and compiled the
    first time a path under it is judged: building a matcher for thousands of scope globs costs a
    dict insert each, and judging a path costs a dict lookup per directory level plus the
    compiled buckets it actually reaches: O(K log N), not O(K x N).
    """

    __slots__ = ("patterns", "_exact", "_under", "_name_any", "_name_inner", "_beneath", "_buckets", "_deep", "_general", "_regex")

    def __init__(self, patterns: Iterable[str], *, automaton: bool = False) -> None:
        """`automaton`: judge globs with the reference automaton alone, and parse the simple
        ones without pathspec (never imported then): for a few patterns and paths (`FocusedMatcher`)."""
        self.patterns: tuple[str, ...] = tuple(patterns)
        self._regex = not automaton
        self._exact: dict[str, int] = {}  # anchored literal: the path itself
        self._under: dict[str, int] = {}  # anchored literal: anything beneath it
        self._name_any: dict[str, int] = {}  # slashless literal: any component
        self._name_inner: dict[str, int] = {}  # slashless literal dir: any directory component
        self._beneath: dict[str, int] = {}  # `dir/**`: anything strictly beneath dir
        grouped: dict[str | None, list[tuple[int, Glob]]] = {}
        # Simple globs, not parsed yet: literal directory prefix -> [(index, pattern)], and the
        # ones without a literal prefix (unanchored, or a glob first segment), checked for every path.
        # Entries are (index, pattern, needle): see `_needle` (computed when first consulted).
        deep: dict[str, list[tuple[int, str, str | None]] | _GlobGroup] = {}
        general: list[tuple[int, str | Glob, str]] = []
        simple_key = _simple_key
        for idx, raw in enumerate(self.patterns):
            simple = simple_key(raw) if type(raw) is str else None
            if simple is not None:
                body, anchored, dir_only, prefix = simple
                if prefix is body:  # literal
                    if anchored:
                        if not dir_only:
                            self._exact.setdefault(body, idx)
                        self._under.setdefault(body, idx)
                    else:
                        (self._name_inner if dir_only else self._name_any).setdefault(body, idx)
                elif prefix is not None and _beneath_prefix(body, prefix):
                    self._beneath.setdefault(prefix, idx)
                elif prefix is not None:
                    bucket = deep.get(prefix)
                    if bucket is None:
                        deep[prefix] = [(idx, raw, None)]
                    else:
                        bucket.append((idx, raw, None))  # type: ignore[union-attr]
                else:
                    general.append((idx, raw, _needle(body)))
                continue
            g = parse(raw)
            if g.literal is not None:
                if g.anchored:
                    if not g.dir_only:
                        self._exact.setdefault(g.literal, idx)
                    self._under.setdefault(g.literal, idx)
                else:
                    (self._name_inner if g.dir_only else self._name_any).setdefault(g.literal, idx)
            else:
                grouped.setdefault(g.first, []).append((idx, g))
        parsed_general = grouped.pop(None, None)
        self._buckets = {k: _GlobGroup(v, self._regex) for k, v in grouped.items()}
        self._deep = deep
        # Compiled on first use (the parsed ones too, so there is one group to consult).
        pending = [*general, *((i, g, "") for i, g in parsed_general or [])]
        self._general: list[tuple[int, str | Glob, str]] | _GlobGroup | None = pending or None

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __repr__(self) -> str:
        return f"Matcher({list(self.patterns)!r})"

    def match(self, path: str) -> bool:
        """True when some pattern covers *path*."""
        return self._find(path, first=False) is not None

    def first_match(self, path: str) -> str | None:
        """The earliest pattern (as given) covering *path*, to name the holder; else None."""
        idx = self._find(path, first=True)
        return None if idx is None else self.patterns[idx]

    def _deep_group(self, key: str, path: str) -> _GlobGroup | None:
        group = self._deep.get(key)
        if group is None or isinstance(group, _GlobGroup):
            return group
        if group[0][2] is None:  # first consulted: the needles of what follows the prefix
            cut = len(key) + 1
            group[:] = [(idx, raw, _needle(raw.strip("/")[cut:])) for idx, raw, _ in group]
        if not any(needle in path for _, _, needle in group):
            return None  # no member can match this path: stay uncompiled
        read = parse if self._regex else parse_unvalidated  # simple patterns: pathspec accepts them all
        compiled = _GlobGroup([(idx, read(raw)) for idx, raw, _ in group], self._regex)
        self._deep[key] = compiled
        return compiled

    def _general_group(self, path: str) -> _GlobGroup | None:
        group = self._general
        if group is None or isinstance(group, _GlobGroup):
            return group
        if not any(needle in path for _, _, needle in group):
            return None
        read = parse if self._regex else parse_unvalidated
        compiled = _GlobGroup([(idx, g if isinstance(g, Glob) else read(g)) for idx, g, _ in group], self._regex)
        self._general = compiled
        return compiled

    def _find(self, path: str, *, first: bool) -> int | None:
        if not self.patterns or not path:
            return None
        segs = path.split("/")
        best = _NO_MATCH
        hit = self._exact.get(path)
        if hit is not None:
            if not first:
                return hit
            best = hit
        groups: list[_GlobGroup] = []
        deep = self._deep
        beneath = self._beneath
        if self._under or self._name_any or self._name_inner or deep or beneath:
            prefix = ""
            last = len(segs) - 1
            for k, seg in enumerate(segs):
                inner = k < last
                prefix = seg if k == 0 else prefix + "/" + seg
                cands = (
                    self._under.get(prefix) if inner else None,
                    self._name_any.get(seg),
                    self._name_inner.get(seg) if inner else None,
                    beneath.get(prefix) if inner else None,
                )
                for c in cands:
                    if c is not None:
                        if not first:
                            return c
                        best = min(best, c)
                if inner and prefix in deep:
                    group = self._deep_group(prefix, path)
                    if group is not None:
                        groups.append(group)
        newline = "\n" in path
        bucket = self._buckets.get(segs[0])
        if bucket is not None:
            groups.append(bucket)
        general = self._general_group(path)
        if general is not None:
            groups.append(general)
        for group in groups:
            if not first:
                if group.hit(path, segs, newline):
                    return 0
            else:
                found = group.first(path, segs, newline, best)
                if found is not None:
                    best = found
        return None if best == _NO_MATCH else best


_MATCHERS: dict[tuple[str, ...], Matcher] = {}


def cached_matcher(patterns: Iterable[str]) -> Matcher:
    """One compiled `Matcher` per distinct pattern list in this process.

    A hook judges the same lease's scopes twice (ownership, then the dependency check against
    other tasks' specs): the second use finds the buckets already compiled.
    """
    key = tuple(patterns)
    m = _MATCHERS.get(key)
    if m is None:
        if len(_MATCHERS) > 256:
            _MATCHERS.clear()
        m = _MATCHERS[key] = Matcher(key)
    return m


# --- a matcher for a few known paths -------------------------------------------------------------

# What `_SIMPLE` allows, as bytes for one C-level `bytes.translate` over all patterns at once.
_SIMPLE_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.*?+=,@%~-/"


def _all_simple(joined: str) -> bool:
    """Is every line of `joined` simple (`_SIMPLE.fullmatch`)? A handful of C-level scans of the
    whole text instead of 5,000 regex matches (or one regex over 100 KB, ~3 ms in a fresh process):
    only simple characters; no empty line, bare "/", empty segment ("//"), "." or ".." segment.
    """
    try:
        if joined.encode("ascii").translate(None, _SIMPLE_BYTES + b"\n"):
            return False
    except UnicodeEncodeError:
        return False
    text = f"\n{joined}\n"  # every line between two newlines
    if "//" in text or "\n\n" in text or "\n/\n" in text:
        return False
    if "/." in text or "\n." in text:  # a "." or ".." segment starts like that
        return not any(f"{a}{dots}{b}" in text for a in "\n/" for dots in (".", "..") for b in "/\n")
    return True


# One match per line of simple patterns: the literal text before its first `*` or `?` (all of it
# for a literal), or "" for a pattern with no slash but a trailing one (it matches at any depth).
_HEAD = re.compile(r"^(?:[^/\n]+/?$)?/?([^*?\n]*)[^\n]*", re.M)


def candidates(patterns: Sequence[str], paths: Iterable[str]) -> list[str] | None:
    """The patterns (in order) that may match one of `paths`, or None when some pattern is not
    simple (`_SIMPLE`): then only a whole `Matcher` may parse, validate and judge them.

    An anchored simple pattern matches only paths that begin with its literal head (the text
    before its first `*` or `?`, or all of it), itself or as a directory; every anchored pattern
    whose head begins none of `paths` is left out. Unanchored ones are all kept. C-level scans
    and one regex pass over the joined text instead of classifying each pattern in Python: a
    fraction of building a `Matcher` of 5,000 scopes (benchmarks/README.md, "check").
    """
    if not patterns:
        return []
    joined = "\n".join(patterns)
    if (
        joined.count("\n") != len(patterns) - 1  # a pattern holding a newline is not simple
        or max(map(len, patterns)) > MAX_GLOB_LEN
        or not _all_simple(joined)
    ):
        return None
    starts = {p[:i] for p in paths for i in range(len(p) + 1)}  # "" too: unanchored ones stay
    heads = _HEAD.findall(joined)
    if len(heads) != len(patterns):
        return None
    return list(compress(patterns, map(starts.__contains__, heads)))


class FocusedMatcher:
    """`Matcher(patterns)`'s answers for every path, built for a few paths known in advance.

    Those paths are judged by a `Matcher` of the `candidates` alone (the earliest matching
    pattern is the same: every pattern left out matches none of them), with the reference
    automaton, so pathspec is not imported for them; any other path by the whole
    `cached_matcher(patterns)`, built the first time one is asked about.
    """

    __slots__ = ("patterns", "_known", "_few", "_whole")

    def __init__(self, patterns: Iterable[str], paths: Iterable[str]) -> None:
        self.patterns: tuple[str, ...] = tuple(patterns)
        self._known = frozenset(paths)
        few = candidates(self.patterns, self._known)
        self._few = Matcher(few, automaton=True) if few is not None else None
        self._whole: Matcher | None = None if few is not None else cached_matcher(self.patterns)

    def _for(self, path: str) -> Matcher:
        if self._few is not None and path in self._known:
            return self._few
        if self._whole is None:
            self._whole = cached_matcher(self.patterns)
        return self._whole

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __repr__(self) -> str:
        return f"FocusedMatcher({list(self.patterns)!r}, {sorted(self._known)!r})"

    def match(self, path: str) -> bool:
        return self._for(path).match(path)

    def first_match(self, path: str) -> str | None:
        return self._for(path).first_match(path)
