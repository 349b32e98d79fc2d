"""What a glob is: parsing, validation and the canonical form (SPEC §4).

Globs follow gitignore, as ``pathspec`` compiles it, anchored at the repository root:
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

A parsed pattern carries its tokens for the reference automaton (`globs.nfa`): a tuple of segment
globs (each a tuple of `STAR` or a character set) and `DSTAR` (zero or more whole segments) that
must match the whole path; "covers beneath" is made explicit by a trailing `DSTAR`.
``pathspec`` (slow to import) is imported only when a pattern with glob characters is checked
against what pathspec accepts.
"""

from __future__ import annotations

from functools import lru_cache

from ..errors import BadInput
from .charset import ANY, SLASH, CharSet, complement, contains, intersect, merge, single

MAX_GLOB_LEN = 4096

_FIX_GLOB = "use a gitignore-style glob relative to the repository root, e.g. 'src/**' or '*.py'"

STAR = "*"
DSTAR = "**"
ANYSEG: tuple[object, ...] = (STAR,)

SegGlob = tuple[object, ...]  # items: STAR or CharSet
Token = object  # SegGlob or DSTAR


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
    cs = merge(ranges)
    if negate:
        cs = complement(cs)
    leaks_slash = contains(cs, SLASH)
    return intersect(cs, ANY), leaks_slash, j + 1


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
            items.append(single(seg[i + 1]))
            literal = False
            i += 2
        elif c == "*":
            while i < n and seg[i] == "*":
                i += 1
            text.append("*")
            items.append(STAR)
            stars += 1
            literal = False
        elif c == "?":
            text.append("?")
            items.append(ANY)
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
            items.append(single(c))
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


class Glob:
    """A parsed pattern (a plain class: importing ``dataclasses`` would slow hook start-up)."""

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


def parse(pattern: str) -> Glob:
    if not isinstance(pattern, str):
        raise BadInput(f"bad glob {pattern!r}: not a string", _FIX_GLOB, code="invalid_glob")
    return _parse_str(pattern)


def parse_unvalidated(pattern: str) -> Glob:
    """`parse` without asking pathspec whether it accepts the pattern (which imports it, ~15 ms):
    for the simple patterns `globs.matcher` classifies, which it always accepts, judged by the
    automaton alone (`Matcher(..., automaton=True)`)."""
    return _parse_tokens(pattern)


@lru_cache(maxsize=8192)
def _parse_str(pattern: str) -> Glob:
    parsed = _parse_tokens(pattern)
    if parsed.literal is None and parsed.regex_ok:
        try:
            pathspec_regex(parsed.norm)  # refuse what pathspec refuses
        except ValueError as exc:
            raise _bad_glob(pattern, str(exc)) from exc
    return parsed


@lru_cache(maxsize=8192)
def _parse_tokens(pattern: str) -> Glob:
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
        tokens = [ANYSEG, ANYSEG, DSTAR] if dir_only else [ANYSEG, DSTAR]
    else:
        last = len(work) - 1
        for k, (s, g) in enumerate(work):
            if s == "**":
                if k == last and k > 0:
                    tokens += [ANYSEG, DSTAR]  # trailing "/**": at least one more segment
                else:
                    tokens.append(DSTAR)
                    quantifiers += 1  # "(?:.+/)?" or "(?:/.+)?" in pathspec's regex
            else:
                tokens.append(g)
        if tokens[-1] is not DSTAR:
            tokens.append(DSTAR)  # a match covers everything beneath it
    # A trailing escaped non-space whitespace would be stripped again by pathspec.
    tail_ok = not (len(norm) >= 2 and norm[-1].isspace() and norm[-1] != " ")
    return Glob(
        norm=norm,
        literal=literal_text,
        anchored=anchored,
        dir_only=dir_only,
        first=first,
        tokens=tuple(tokens),
        regex_ok=quantifiers < 3 and not leaks and tail_ok,
    )


@lru_cache(maxsize=8192)
def pathspec_regex(norm: str) -> str:
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
    return parse(pattern).norm


def literal_pattern(path: str) -> str:
    """A glob matching exactly *path* (a normalised path) and what lies beneath it.

    Claims name files, not globs: escape glob characters and anchor it so ``README`` does not
    also match ``docs/README``.
    """
    out = "".join("\\" + c if c in "\\[]*?" else c for c in path)
    if out[-1:].isspace():  # gitignore would strip unescaped trailing whitespace
        out = out[:-1] + "\\" + out[-1]
    return "/" + out
