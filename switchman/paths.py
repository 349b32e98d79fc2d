"""Path normalisation and the one glob matcher used for claims, scopes, overlap and policy.

Everything that decides "does this path belong to that pattern" goes through this module, so a
claim, a scope reservation, a scope-overlap check and `allowed_generated_paths` can never disagree.

Paths (``normalize``)
    A path is stored and compared as a repo-relative POSIX string with no ``.``, ``..`` or empty
    components (``./a//b/`` -> ``a/b``, ``a/x/../b`` -> ``a/b``; ``..`` is resolved lexically).
    SPEC §4 says absolute paths are refused; we accept an absolute path *only when it lies inside
    the worktree root* (git and shells hand them to us) and make it relative, refusing all others.
    Refused as ``path_outside_repo``: ``..`` escaping the root, absolute paths outside it, and a
    path whose existing parent directories resolve (symlinks followed) outside the worktree. The
    last component is never resolved, because git tracks symlinks as files. Refused as
    ``invalid_path``: empty, the root itself, NUL bytes, a ``.git`` component anywhere (git
    refuses to track those) and a first component ``.switchman`` (our state, not claimable).
    Names are arbitrary ``str``: newlines and lone surrogates (``os.fsdecode`` of non-UTF-8 bytes)
    pass through unchanged.

Globs (``validate_glob``, ``Matcher``, ``globs_overlap``) follow gitignore, as ``pathspec``
compiles it, anchored at the repository root:
    - a pattern with a slash other than a trailing one is anchored at the root (``src/*.py``
      matches ``src/a.py`` only); a leading ``/`` anchors a single-segment pattern;
    - a pattern without such a slash matches at any depth (``*.py`` matches ``a/b.py``);
    - a pattern that matches a directory covers everything beneath it: ``src``, ``src/`` and
      ``src/**`` all cover ``src/a/b.py`` (a trailing ``/`` only matches as a directory);
    - ``*`` and ``?`` never cross ``/``; ``**`` as a whole segment spans zero or more directories
      (a trailing ``/**`` needs at least one); ``[...]`` is a character class (``!``/``^`` negate,
      ranges allowed) that, as in git, never matches ``/``; ``\\`` escapes the next character;
    - negation (``!``), comments (``#``), ``..`` components, POSIX ``[[:classes:]]`` and
      unterminated ``[`` are refused rather than silently matching nothing.
Patterns are first put in a canonical form (``./`` dropped, ``//`` collapsed, runs of ``*`` in a
segment and repeated ``**/`` segments merged, a redundant leading ``/`` dropped) so equal scopes
compare equal and ``pathspec`` never sees the redundant quantifiers that make regexes backtrack.

Speed: this is imported on the git-hook hot path, so ``pathspec`` (~35 ms to import) is only
imported when a pattern with glob characters is compiled. Literal patterns are answered from sets
and dicts; anchored globs are bucketed by their first segment; each bucket is one alternation
regex built from ``pathspec``'s translations. Patterns whose regex could backtrack badly (three or
more unbounded repeats, like ``**/**/*a*a*a*``), classes that pathspec would let match ``/``, and
paths containing a newline (where ``$`` and ``.`` misbehave) use a small segment automaton with the
same semantics, which runs in time linear in path length times pattern length.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterable
from functools import lru_cache

from .errors import BadInput

MAX_GLOB_LEN = 4096

_FIX_GLOB = "use a gitignore-style glob relative to the repository root, e.g. 'src/**' or '*.py'"
_FIX_PATH = "give a path inside the worktree, relative to the repository root"

# ---------------------------------------------------------------------------------------------
# Character sets and glob tokens shared by the automaton matcher and the overlap check.
# A character set is a sorted tuple of disjoint inclusive (lo, hi) code-point ranges that never
# contains "/". A segment glob is a tuple of items: _STAR or a character set. A pattern compiles
# to a tuple of segment globs and _DSTAR (zero or more whole segments) that must match the whole
# path; "covers beneath" is made explicit by a trailing _DSTAR.
# ---------------------------------------------------------------------------------------------

_SLASH = 0x2F
_MAXCP = 0x10FFFF
_STAR = "*"
_DSTAR = "**"
_ANY: tuple[tuple[int, int], ...] = ((0, _SLASH - 1), (_SLASH + 1, _MAXCP))
_ANYSEG: tuple[object, ...] = (_STAR,)

CharSet = tuple[tuple[int, int], ...]
SegGlob = tuple[object, ...]  # items: _STAR or CharSet
Token = object  # SegGlob or _DSTAR


def _single(ch: str) -> CharSet:
    o = ord(ch)
    return ((o, o),)


def _merge(ranges: list[tuple[int, int]]) -> CharSet:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def _complement(cs: CharSet) -> CharSet:
    out: list[tuple[int, int]] = []
    nxt = 0
    for lo, hi in cs:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAXCP:
        out.append((nxt, _MAXCP))
    return tuple(out)


def _intersect(a: CharSet, b: CharSet) -> CharSet:
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


def _contains(cs: CharSet, o: int) -> bool:
    for lo, hi in cs:
        if o < lo:
            return False
        if o <= hi:
            return True
    return False


_PREFERRED = tuple(sorted(ord(c) for c in "xyzabcdefghijklmnopqrstuvw0123456789_"))


def _pick(cs: CharSet) -> str:
    """A readable member of a non-empty set (witness paths are shown to people and tests)."""
    for o in (ord("x"), *_PREFERRED):
        if _contains(cs, o):
            return chr(o)
    for lo, hi in cs:
        if hi > 0x20:
            return chr(max(lo, 0x21))
    return chr(cs[0][0])


# ---------------------------------------------------------------------------------------------
# Parsing and validation
# ---------------------------------------------------------------------------------------------


def _bad_glob(pattern: str, problem: str, fix: str = _FIX_GLOB) -> BadInput:
    shown = pattern if len(pattern) <= 80 else pattern[:77] + "..."
    return BadInput(f"bad glob {shown!r}: {problem}", fix, code="invalid_glob")


def _parse_class(seg: str, i: int, pattern: str) -> tuple[CharSet, bool, int]:
    """Parse ``[...]`` starting after ``[`` at *i*, the way pathspec delimits it and ``re`` reads it.

    Returns (set without "/", whether pathspec's regex could match "/", index after ``]``).
    """
    n = len(seg)
    j = i
    negate = j < n and seg[j] in "!^"
    if negate:
        j += 1
    start = j
    if j < n and seg[j] == "]":
        j += 1
    while j < n and seg[j] != "]":
        j += 1
    if j >= n:
        raise _bad_glob(pattern, "unterminated '[' character class (escape it as '\\[')")
    body = seg[start:j]
    if "[" in body or "\\" in body:
        raise _bad_glob(
            pattern, "'[' or '\\' inside a character class (POSIX [:classes:] are not supported)"
        )
    for twin in ("--", "&&", "||", "~~"):
        if twin in body:
            raise _bad_glob(pattern, f"ambiguous {twin!r} inside a character class")
    ranges: list[tuple[int, int]] = []
    k = 0
    while k < len(body):
        lo = body[k]
        if k + 2 < len(body) and body[k + 1] == "-":
            hi = body[k + 2]
            if hi < lo:
                raise _bad_glob(pattern, f"reversed range {lo}-{hi} in a character class")
            ranges.append((ord(lo), ord(hi)))
            k += 3
        else:
            ranges.append((ord(lo), ord(lo)))
            k += 1
    cs = _merge(ranges)
    if negate:
        cs = _complement(cs)
    leaks_slash = _contains(cs, _SLASH)
    return _intersect(cs, _ANY), leaks_slash, j + 1


def _parse_segment(seg: str, pattern: str) -> tuple[str, SegGlob, bool, int, bool]:
    """Canonical text, glob items, is-literal, number of '*' runs, class-could-match-'/'."""
    text: list[str] = []
    items: list[object] = []
    stars = 0
    leaks = False
    literal = True
    i, n = 0, len(seg)
    while i < n:
        c = seg[i]
        if c == "\\":
            if i + 1 >= n:
                raise _bad_glob(pattern, "a segment ends with an escaping '\\'")
            text.append(seg[i : i + 2])
            items.append(_single(seg[i + 1]))
            literal = False
            i += 2
        elif c == "*":
            while i < n and seg[i] == "*":
                i += 1
            text.append("*")
            items.append(_STAR)
            stars += 1
            literal = False
        elif c == "?":
            text.append("?")
            items.append(_ANY)
            literal = False
            i += 1
        elif c == "[":
            cs, leak, end = _parse_class(seg, i + 1, pattern)
            text.append(seg[i:end])
            items.append(cs)
            leaks = leaks or leak
            literal = False
            i = end
        else:
            text.append(c)
            items.append(_single(c))
            i += 1
    return "".join(text), tuple(items), literal, stars, leaks


def _strip_trailing_space(p: str) -> str:
    """gitignore drops trailing whitespace unless it is escaped with a backslash."""
    while p and p[-1].isspace():
        k = len(p) - 1
        slashes = 0
        while k - 1 - slashes >= 0 and p[k - 1 - slashes] == "\\":
            slashes += 1
        if slashes % 2:
            break
        p = p[:-1]
    return p


class _Glob:
    """A parsed pattern (a plain class: ``dataclasses`` costs ~4 ms of hook start-up)."""

    __slots__ = ("norm", "literal", "anchored", "dir_only", "first", "tokens", "regex_ok")

    def __init__(
        self,
        *,
        norm: str,  # canonical pattern text
        literal: str | None,  # the path (or name) when the pattern has no glob characters
        anchored: bool,
        dir_only: bool,
        first: str | None,  # literal first segment of an anchored pattern (matcher buckets)
        tokens: tuple[Token, ...],  # segment automaton: must match the whole path
        regex_ok: bool,  # safe and faithful to hand to pathspec's regex
    ) -> None:
        self.norm = norm
        self.literal = literal
        self.anchored = anchored
        self.dir_only = dir_only
        self.first = first
        self.tokens = tokens
        self.regex_ok = regex_ok


def _parse(pattern: str) -> _Glob:
    if not isinstance(pattern, str):
        raise BadInput(f"bad glob {pattern!r}: not a string", _FIX_GLOB, code="invalid_glob")
    return _parse_str(pattern)


@lru_cache(maxsize=8192)
def _parse_str(pattern: str) -> _Glob:
    if len(pattern) > MAX_GLOB_LEN:
        raise _bad_glob(pattern, f"longer than {MAX_GLOB_LEN} characters")
    if "\0" in pattern:
        raise _bad_glob(pattern, "contains a NUL byte")
    p = _strip_trailing_space(pattern)
    if not p.strip():
        raise _bad_glob(pattern, "empty pattern")
    if p.startswith("!"):
        raise _bad_glob(
            pattern,
            "negation ('!') is not supported in scopes",
            "list the paths to include instead",
        )
    if p.startswith("#"):
        raise _bad_glob(pattern, "a leading '#' makes it a comment", "escape it as '\\#'")
    raw = p.split("/")
    dir_only = len(raw) > 1 and raw[-1] == ""
    if dir_only:
        raw = raw[:-1]
    anchored = len(raw) > 1  # leading "/" or an inner slash (gitignore's rule)
    segs: list[str] = []
    globs: list[SegGlob] = []
    literal = True
    first_lit = True
    quantifiers = 0
    leaks = False
    for s in raw:
        if s in ("", "."):
            continue
        if s.replace("\\", "") == "..":
            raise _bad_glob(
                pattern, "'..' components are not allowed", "use a path inside the repository"
            )
        if s == "**":
            literal = False
            if not segs:
                first_lit = False
            if not (segs and segs[-1] == "**"):
                segs.append(s)
                globs.append(())
            continue
        text, items, lit, stars, leak = _parse_segment(s, pattern)
        if not segs:
            first_lit = lit
        literal = literal and lit
        quantifiers += stars
        leaks = leaks or leak
        segs.append(text)
        globs.append(items)
    if not segs:
        raise _bad_glob(pattern, "names the repository root, not a path", _FIX_GLOB)
    literal_text = "/".join(segs) if literal else None
    first = segs[0] if anchored and first_lit and segs[0] != "**" else None
    tail = segs[-1]
    if not dir_only and tail[-1].isspace() and _strip_trailing_space(tail) != tail:
        segs[-1] = tail[:-1] + "\\" + tail[-1]  # was inner ("a /."): keep it from being stripped
    if segs[0] == "**" or (len(segs) > 1 and segs[0][0] not in "!#"):
        norm = "/".join(segs)
    else:  # keep the "/" that anchors one segment or shields a leading "!" / "#"
        norm = ("/" if anchored else "") + "/".join(segs)
    if dir_only:
        norm += "/"
    single_unanchored = len(segs) == 1 and not anchored

    # The automaton, mirroring pathspec's translation of the canonical text.
    work = list(zip(segs, globs, strict=True))
    if single_unanchored and segs[0] != "**":
        work.insert(0, ("**", ()))
    if dir_only and work[-1][0] != "**":
        work.append(("**", ()))
    tokens: list[Token] = []
    if [s for s, _ in work] == ["**"]:
        tokens = [_ANYSEG, _ANYSEG, _DSTAR] if dir_only else [_ANYSEG, _DSTAR]
    else:
        last = len(work) - 1
        for k, (s, g) in enumerate(work):
            if s == "**":
                if k == last and k > 0:
                    tokens += [_ANYSEG, _DSTAR]  # trailing "/**": at least one more segment
                else:
                    tokens.append(_DSTAR)
                    quantifiers += 1  # "(?:.+/)?" or "(?:/.+)?" in pathspec's regex
            else:
                tokens.append(g)
        if tokens[-1] is not _DSTAR:
            tokens.append(_DSTAR)  # a match covers everything beneath it
    # A trailing escaped non-space whitespace would be stripped again by pathspec.
    tail_ok = not (len(norm) >= 2 and norm[-1].isspace() and norm[-1] != " ")
    parsed = _Glob(
        norm=norm,
        literal=literal_text,
        anchored=anchored,
        dir_only=dir_only,
        first=first,
        tokens=tuple(tokens),
        regex_ok=quantifiers < 3 and not leaks and tail_ok,
    )
    if not literal and parsed.regex_ok:
        try:
            _pathspec_regex(norm)  # refuse what pathspec refuses
        except ValueError as exc:
            raise _bad_glob(pattern, str(exc)) from exc
    return parsed


@lru_cache(maxsize=8192)
def _pathspec_regex(norm: str) -> str:
    """pathspec's regex for a canonical pattern, rewritten for ``re.match`` and alternation."""
    try:
        from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern as _Pattern
    except ImportError:  # pathspec < 1.0
        from pathspec.patterns.gitwildmatch import GitWildMatchPattern as _Pattern
    try:
        compiled = _Pattern(norm)
    except Exception as exc:  # pathspec raises several types for a bad pattern
        raise ValueError(f"pathspec refuses it ({exc})") from exc
    if compiled.include is None or compiled.regex is None:
        raise ValueError("pathspec would ignore it (it matches nothing)")
    src = compiled.regex.pattern.replace("(?P<ps_d>/)", "/")
    return src if src.startswith("^") else ".*?" + src


def validate_glob(pattern: str) -> str:
    """Return the canonical form of a scope / policy glob, or raise ``BadInput(invalid_glob)``.

    Validate at the boundary (task specs, CLI, policy) so stored patterns always compile.
    """
    return _parse(pattern).norm


def literal_pattern(path: str) -> str:
    """A glob matching exactly *path* (a normalised path) and what lies beneath it.

    Claims name files, not globs: escape glob characters and anchor it so ``README`` does not
    also match ``docs/README``.
    """
    out = "".join("\\" + c if c in "\\[]*?" else c for c in path)
    if out[-1:].isspace():  # gitignore would strip unescaped trailing whitespace
        out = out[:-1] + "\\" + out[-1]
    return "/" + out


# ---------------------------------------------------------------------------------------------
# Automaton matching
# ---------------------------------------------------------------------------------------------


def _seg_match(glob: SegGlob, seg: str) -> bool:
    n = len(glob)
    states = {0}
    _close_star(glob, states)
    for ch in seg:
        o = ord(ch)
        nxt: set[int] = set()
        for k in states:
            if k < n:
                item = glob[k]
                if item is _STAR:
                    nxt.add(k)
                elif _contains(item, o):  # type: ignore[arg-type]
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
        if k < len(glob) and glob[k] is _STAR and k + 1 not in states:
            states.add(k + 1)
            stack.append(k + 1)


def _close_dstar(tokens: tuple[Token, ...], states: set[int]) -> None:
    stack = list(states)
    while stack:
        k = stack.pop()
        if k < len(tokens) and tokens[k] is _DSTAR and k + 1 not in states:
            states.add(k + 1)
            stack.append(k + 1)


def _tokens_match(tokens: tuple[Token, ...], segs: list[str]) -> bool:
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
                if tok is _DSTAR:
                    nxt.add(k)
                elif _seg_match(tok, seg):  # type: ignore[arg-type]
                    nxt.add(k + 1)
        if not nxt:
            return False
        _close_dstar(tokens, nxt)
        states = nxt
    return n in states


class _GlobGroup:
    """Glob patterns sharing a bucket: one alternation regex plus automaton-only members."""

    __slots__ = ("members", "combined", "has_auto")

    def __init__(self, members: list[tuple[int, _Glob]]) -> None:
        self.members: list[tuple[int, _Glob, re.Pattern[str] | None]] = []
        sources: list[str] = []
        for idx, g in sorted(members, key=lambda m: m[0]):
            rx = None
            if g.regex_ok:
                src = _pathspec_regex(g.norm)
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
            return any(_tokens_match(g.tokens, segs) for _, g, _ in self.members)
        if self.combined is not None and self.combined.match(path):
            return True
        for _, g, rx in self.members:
            if rx is None:
                if _tokens_match(g.tokens, segs):
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
            elif _tokens_match(g.tokens, segs):
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
        anchored = "/" in body  # an inner slash anchors (gitignore's rule), as in `_parse`
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
    compiled buckets it actually reaches (issue 6: O(K log N), not O(K x N)).
    """

    __slots__ = ("patterns", "_exact", "_under", "_name_any", "_name_inner", "_beneath", "_buckets", "_deep", "_general")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: tuple[str, ...] = tuple(patterns)
        self._exact: dict[str, int] = {}  # anchored literal: the path itself
        self._under: dict[str, int] = {}  # anchored literal: anything beneath it
        self._name_any: dict[str, int] = {}  # slashless literal: any component
        self._name_inner: dict[str, int] = {}  # slashless literal dir: any directory component
        self._beneath: dict[str, int] = {}  # `dir/**`: anything strictly beneath dir
        grouped: dict[str | None, list[tuple[int, _Glob]]] = {}
        # Simple globs, not parsed yet: literal directory prefix -> [(index, pattern)], and the
        # ones without a literal prefix (unanchored, or a glob first segment), checked for every path.
        # Entries are (index, pattern, needle): see `_needle` (computed when first consulted).
        deep: dict[str, list[tuple[int, str, str | None]] | _GlobGroup] = {}
        general: list[tuple[int, str | _Glob, str]] = []
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
            g = _parse(raw)
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
        self._buckets = {k: _GlobGroup(v) for k, v in grouped.items()}
        self._deep = deep
        # Compiled on first use (the parsed ones too, so there is one group to consult).
        pending = [*general, *((i, g, "") for i, g in parsed_general or [])]
        self._general: list[tuple[int, str | _Glob, str]] | _GlobGroup | None = pending or None

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
        compiled = _GlobGroup([(idx, _parse(raw)) for idx, raw, _ in group])
        self._deep[key] = compiled
        return compiled

    def _general_group(self, path: str) -> _GlobGroup | None:
        group = self._general
        if group is None or isinstance(group, _GlobGroup):
            return group
        if not any(needle in path for _, _, needle in group):
            return None
        compiled = _GlobGroup([(idx, g if isinstance(g, _Glob) else _parse(g)) for idx, g, _ in group])
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
    """One compiled `Matcher` per distinct pattern list in this process (issue 6).

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


# ---------------------------------------------------------------------------------------------
# Overlap: is there a path both patterns cover? Exact intersection of two regular languages by
# reachability in the product of the segment automata, and per segment pair of the char automata.
# ---------------------------------------------------------------------------------------------


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
        if x is _STAR:
            moves.append(((p + 1, q), ""))
            if y is not None and y is not _STAR and y:
                moves.append(((p, q + 1), _pick(y)))  # type: ignore[arg-type]
        if y is _STAR:
            moves.append(((p, q + 1), ""))
            if x is not None and x is not _STAR and x:
                moves.append(((p + 1, q), _pick(x)))  # type: ignore[arg-type]
        if x is not None and y is not None and x is not _STAR and y is not _STAR:
            common = _intersect(x, y)  # type: ignore[arg-type]
            if common:
                moves.append(((p + 1, q + 1), _pick(common)))
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
        if x is _DSTAR:
            moves.append(((i + 1, j), None))
            if y is not None and y is not _DSTAR:
                w = _seg_witness(y, _ANYSEG)  # type: ignore[arg-type]
                if w is not None:
                    moves.append(((i, j + 1), w))
        if y is _DSTAR:
            moves.append(((i, j + 1), None))
            if x is not None and x is not _DSTAR:
                w = _seg_witness(x, _ANYSEG)  # type: ignore[arg-type]
                if w is not None:
                    moves.append(((i + 1, j), w))
        if x is not None and y is not None and x is not _DSTAR and y is not _DSTAR:
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
    segs = _tokens_witness(_parse(a).tokens, _parse(b).tokens)
    return None if segs is None else "/".join(segs)


def globs_overlap(a: str, b: str) -> bool:
    """True iff some path is covered by both globs (exact for gitignore semantics, so sound).

    Note "covers beneath": ``lib/x/*.js`` covers ``lib/x/a.js/test_a.py`` (a directory named
    ``a.js``), so it overlaps ``lib/**/test_*.py``.
    """
    ga, gb = _parse(a), _parse(b)
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


# ---------------------------------------------------------------------------------------------
# Path normalisation
# ---------------------------------------------------------------------------------------------


def _outside(path: str, why: str) -> BadInput:
    return BadInput(f"path {path!r} {why}", _FIX_PATH, code="path_outside_repo")


def _invalid(path: str, why: str) -> BadInput:
    return BadInput(f"path {path!r} {why}", _FIX_PATH, code="invalid_path")


def _lexical_abs(path: str) -> list[str]:
    """Components of an absolute path with '.', '..' and empty parts resolved lexically."""
    parts: list[str] = []
    for c in path.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if parts:
                parts.pop()
        else:
            parts.append(c)
    return parts


def _abs_parts(path: str) -> list[str]:
    return _lexical_abs(path if path.startswith("/") else os.path.abspath(path))


def _realpath(parts: list[str]) -> list[str] | None:
    """Symlink-resolved components; None when the name cannot exist on disk (unencodable)."""
    try:
        return _lexical_abs(os.path.realpath("/" + "/".join(parts)))
    except (UnicodeEncodeError, ValueError, OSError):
        return None


def _relative_to(parts: list[str], root: list[str], original: str) -> list[str]:
    if parts[: len(root)] == root:
        return parts[len(root) :]
    # The root may be spelled through a symlink (/tmp vs /private/tmp): compare real parents.
    real_root = _realpath(root)
    if real_root is not None and parts:
        real_parent = _realpath(parts[:-1])
        if real_parent is not None and real_parent[: len(real_root)] == real_root:
            return real_parent[len(real_root) :] + parts[-1:]
        if _realpath(parts) == real_root:
            return []
    raise _outside(original, "is outside the worktree")


def _check_parents(root: list[str], rel: list[str], original: str) -> None:
    """Refuse a path whose existing parent directories resolve outside the worktree."""
    parents: list[str] = []
    for c in rel[:-1]:
        try:
            os.fsencode(c)
        except UnicodeEncodeError:
            break  # cannot exist on disk, so nothing from here on is a symlink
        parents.append(c)
    if not parents:
        return
    real_root = _realpath(root)
    real_parent = _realpath(root + parents)
    if real_root is None or real_parent is None or real_parent[: len(real_root)] != real_root:
        where = "/" + "/".join(real_parent) if real_parent is not None else "?"
        raise _outside(
            original, f"goes through a symlinked directory that leaves the worktree ({where!r})"
        )


def normalize(path: str, *, worktree_root: str | None = None, cwd: str | None = None) -> str:
    """Return *path* as a normalised repo-relative POSIX path, or raise ``BadInput``.

    Relative paths are taken from *cwd* when both *cwd* and *worktree_root* are given, else from
    the root. With *worktree_root* the parent directories are checked on disk for symlinks that
    leave the worktree.
    """
    if not isinstance(path, str):
        raise BadInput(f"path {path!r} is not a string", _FIX_PATH, code="invalid_path")
    if path == "":
        raise _invalid(path, "is empty")
    if "\0" in path:
        raise _invalid(path, "contains a NUL byte")
    root = _abs_parts(os.fspath(worktree_root)) if worktree_root is not None else None
    if path.startswith("/"):
        if root is None:
            raise _outside(path, "is absolute and no worktree root is known")
        rel = _relative_to(_lexical_abs(path), root, path)
    elif cwd is not None and root is not None:
        rel = _relative_to(_lexical_abs("/".join([*_abs_parts(os.fspath(cwd)), path])), root, path)
    else:
        rel = []
        for c in path.split("/"):
            if c in ("", "."):
                continue
            if c == "..":
                if not rel:
                    raise _outside(path, "climbs out of the repository with '..'")
                rel.pop()
            else:
                rel.append(c)
    if not rel:
        raise _invalid(path, "names the repository root, not a file")
    if any(c.lower() == ".git" for c in rel):
        raise _invalid(path, "is inside git's own directory (.git), which cannot be claimed")
    if rel[0].lower() == ".switchman":
        raise _invalid(path, "is switchman's state directory, which cannot be claimed")
    if root is not None:
        _check_parents(root, rel, path)
    return "/".join(rel)


__all__ = [
    "MAX_GLOB_LEN",
    "Matcher",
    "cached_matcher",
    "glob_sets_overlap",
    "globs_overlap",
    "literal_pattern",
    "normalize",
    "overlap_witness",
    "validate_glob",
]
