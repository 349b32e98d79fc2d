"""Tests for switchman.globs: glob validation, the matcher, the reference automaton and overlap."""

from __future__ import annotations

import random
import subprocess
import sys

import pathspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from switchman.errors import BadInput
from switchman.globs.matcher import Matcher
from switchman.globs.nfa import first_match as reference_first_match
from switchman.globs.nfa import glob_sets_overlap, globs_overlap, overlap_witness, tokens_match
from switchman.globs.syntax import literal_pattern, parse, validate_glob
from testing.errors import code_of

# ---------------------------------------------------------------------------------------------
# validate_glob
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("src/**", "src/**"),
        ("./src/**", "src/**"),
        ("./README.md", "/README.md"),  # "./x" meant the root's x: keep it anchored
        ("/README.md", "/README.md"),
        ("/src/*.py", "src/*.py"),  # the leading slash is redundant with an inner one
        ("src//auth/./x.py", "src/auth/x.py"),
        ("src/", "src/"),
        ("/build/", "/build/"),
        ("*.py", "*.py"),
        ("a**b", "a*b"),
        ("***", "*"),
        ("**/**/**/**/*a*a*a*a*a*", "**/*a*a*a*a*a*"),
        ("x/**/**/y", "x/**/y"),
        ("/**", "**"),
        ("**/", "**/"),
        ("src/** ", "src/**"),
        ("f\\ ", "f\\ "),
        ("f\\  ", "f\\ "),
        ("a[]-c]d", "a[]-c]d"),
        ("[!_]*.py", "[!_]*.py"),
        ("\\#notes", "\\#notes"),
        ("\\!bang", "\\!bang"),
        ("/!bang/x", "/!bang/x"),  # the slash shields "!" from meaning negation
        ("/#hash/x", "/#hash/x"),
    ],
)
def test_validate_glob_normalises(raw: str, want: str) -> None:
    assert validate_glob(raw) == want
    assert validate_glob(want) == want


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "\t\n",
        "a\0b",
        "!src/**",
        "#comment",
        "..",
        "../x",
        "a/../b",
        "a/\\.\\./b",
        "/",
        ".",
        "./",
        "a[bc",
        "a[!]",
        "ab\\",
        "a\\/b",
        "[[:alpha:]]",
        "[a\\]]",
        "[z-a]",
        "[+--]",
        "x" * 4097,
        "a/" * 2049,
    ],
)
def test_validate_glob_refusals(raw: str) -> None:
    assert code_of(validate_glob, raw) == "invalid_glob"


def test_validate_glob_message_names_the_pattern() -> None:
    with pytest.raises(BadInput) as info:
        validate_glob("docs/[oops")
    assert "docs/[oops" in info.value.message
    assert code_of(validate_glob, None) == "invalid_glob"  # type: ignore[arg-type]


def test_max_length_accepted() -> None:
    assert validate_glob("x" * 4096) == "x" * 4096


# ---------------------------------------------------------------------------------------------
# Matcher
# ---------------------------------------------------------------------------------------------

MATCH_TABLE = [
    # pattern, path, expected
    ("src", "src", True),
    ("src", "src/a/b.py", True),
    ("src/", "src/a/b.py", True),
    ("src/**", "src/a/b.py", True),
    ("src/", "src", False),
    ("src/**", "src", False),
    ("src", "lib/src/x.py", True),  # slashless: any depth
    ("src/", "lib/src/x.py", True),
    ("/src", "lib/src/x.py", False),
    ("./src", "lib/src/x.py", False),
    ("src/*.py", "src/a.py", True),
    ("src/*.py", "src/a/b.py", False),
    ("src/*.py", "lib/src/a.py", False),
    ("*.py", "a/b.py", True),
    ("*.py", "b.py", True),
    ("*.py", "b.pyc", False),
    ("docs/*.md", "docs/a.md", True),
    ("docs/*.md", "docs/a.txt", False),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/x/y/b/c", True),
    ("a/**/b", "a/xb", False),
    ("**/test_*.py", "x/y/test_a.py", True),
    ("**", "anything/at/all", True),
    ("**/", "top", False),
    ("**/", "d/f", True),
    ("*/", "top", False),
    ("*/", "d/f", True),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("a*c", "a/c", False),
    ("a[bc]d", "acd", True),
    ("a[!b]d", "acd", True),
    ("a[!b]d", "abd", False),
    ("a[!b]d", "a/d", False),  # classes never match '/', as in git
    ("a[+-0]d", "a/d", False),
    ("a[+-0]d", "a.d", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("f\\ ", "f ", True),
    ("/README", "README", True),
    ("/README", "docs/README", False),
    ("README", "docs/README", True),
    ("a/b", "a/b", True),
    ("a/b", "a/bc", False),
    ("a/b", "x/a/b", False),
    ("a/b/", "a/b", False),
    ("a/b/", "a/b/c", True),
    ("**/**/**/**/*a*a*a*a*a*", "q/" + "a" * 5, True),
    ("**/**/**/**/*a*a*a*a*a*", "q/" + "a" * 4, False),
    ("*.py", "a\nb/c.py", True),  # newlines in names: '.' and '$' must not misbehave
    ("a", "a\n", False),
    ("a\n", "a", True),  # trailing whitespace is dropped (gitignore), even a newline
    ("a\nb", "a\nb", True),
    ("x*", "x\udcff", True),
    ("\udcff*", "d/\udcffz", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), MATCH_TABLE)
def test_matcher_table(pattern: str, path: str, expected: bool) -> None:
    m = Matcher([pattern])
    assert m.match(path) is expected
    assert m.first_match(path) == (pattern if expected else None)
    assert tokens_match(parse(pattern).tokens, path.split("/")) is expected


def test_matcher_api() -> None:
    m = Matcher(x for x in ["b/**", "*.py", "b/x.py"])
    assert m.patterns == ("b/**", "*.py", "b/x.py")
    assert bool(m)
    assert not Matcher([])
    assert not Matcher([]).match("a")
    assert Matcher([]).first_match("a") is None
    assert m.first_match("b/x.py") == "b/**"  # earliest pattern wins
    assert Matcher(["b/x.py", "*.py", "b/**"]).first_match("b/x.py") == "b/x.py"
    assert Matcher(["*.md", "b/", "b/*.py"]).first_match("b/x.py") == "b/"
    assert Matcher(["./b/x.py"]).first_match("b/x.py") == "./b/x.py"  # as given
    assert "b/**" in repr(m)


def test_matcher_refuses_bad_patterns() -> None:
    assert code_of(Matcher, ["ok/**", "!neg"]) == "invalid_glob"


def test_literal_pattern() -> None:
    odd = ["README", "src/a[1].py", "we*rd?/x", "trail ", "x/tab\t", "nl\n", "back\\slash", "a/b"]
    for path in [*odd, "!bang/x", "#hash/x", "**", "\udcff/\ud800"]:
        pat = literal_pattern(path)
        assert validate_glob(validate_glob(pat)) == validate_glob(pat)
        m = Matcher([pat])
        assert m.match(path)
        assert m.match(path + "/beneath")
        assert not m.match("other/" + path)
    assert not Matcher([literal_pattern("src/a[1].py")]).match("src/a1.py")


def _imports_after(code: str) -> bool:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint('pathspec' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip() == "True"


def test_pathspec_is_imported_lazily() -> None:
    assert not _imports_after("import switchman.paths, switchman.globs.matcher, switchman.globs.nfa")
    assert not _imports_after(
        "from switchman.globs.matcher import Matcher\n"
        "from switchman.globs.syntax import validate_glob\n"
        "from switchman.paths import normalize\n"
        "m = Matcher(['src/a.py', 'README', 'build/'])\n"
        "assert m.match('src/a.py/x') and m.match('x/README')\n"
        "validate_glob('docs/x.md'); normalize('a/b')"
    )
    assert _imports_after("from switchman.globs.matcher import Matcher\nMatcher(['*.py']).match('a.py')")


def test_pathological_patterns_finish() -> None:
    m = Matcher(["**/**/**/**/*a*a*a*a*a*b", "*a*a*a*a*a*a*a*b", "a/**/b/**/c/**/d/**/e"])
    for path in ["x/" + "a" * 400, "a/" * 200 + "z", "a/b/c/d/" * 50 + "zz", "a" * 400 + "\n"]:
        assert not m.match(path)
        assert m.first_match(path) is None
    assert globs_overlap("**/**/**/**/*a*a*a*a*a*", "x/" + "*a" * 60)


def test_many_patterns_many_paths() -> None:
    rng = random.Random(7)
    dirs = [f"d{i}" for i in range(30)]
    patterns: list[str] = []
    for i in range(2000):
        kind = i % 5
        if kind == 0:
            patterns.append(f"{rng.choice(dirs)}/{rng.choice(dirs)}/f{i % 300}.py")
        elif kind == 1:
            patterns.append(f"{rng.choice(dirs)}/**/t_{i % 300}_*.py")
        elif kind == 2:
            patterns.append(f"*.e{i}")
        elif kind == 3:
            patterns.append(f"{rng.choice(dirs)}/s{i % 300}/")
        else:
            patterns.append(f"**/s{i % 300}/*a*b*c{i}")
    paths = [
        f"{rng.choice(dirs)}/{rng.choice(['s' + str(rng.randrange(300)), rng.choice(dirs)])}/"
        f"{rng.choice(['f', 't_'])}{rng.randrange(300)}{rng.choice(['.py', '_x.py'])}"
        for _ in range(2000)
    ]
    m = Matcher(patterns)
    hits = [p for p in paths if m.match(p)]
    assert hits  # the mix does produce matches
    spot = pathspec.GitIgnoreSpec.from_lines(patterns)
    for p in paths[:200]:
        assert m.match(p) == spot.match_file(p)
        first = m.first_match(p)
        if first is not None:
            assert Matcher([first]).match(p)
            assert not Matcher(patterns[: patterns.index(first)]).match(p)


# ---------------------------------------------------------------------------------------------
# Overlap
# ---------------------------------------------------------------------------------------------

OVERLAP_TABLE = [
    ("src/**", "src/auth/**", True),
    ("src/auth/**", "src/authz/**", False),
    ("docs/*.md", "docs/*.txt", False),
    ("*.py", "src/**", True),
    ("src/a.py", "src/*.py", True),
    ("src", "src/x/y", True),
    ("a/*/c", "a/b/*", True),
    ("lib/**/test_*.py", "lib/x/*.py", True),
    ("lib/x/*.js", "lib/y/**", False),
    ("lib/x/*.js/", "lib/**/test_*.py", True),
    # NOT the brief's False: "lib/x/*.js" covers the directory lib/x/a.js and everything under
    # it, e.g. lib/x/a.js/test_a.py, which lib/**/test_*.py also covers. Soundness wins.
    ("lib/**/test_*.py", "lib/x/*.js", True),
    ("src/a.py", "src/b.py", False),
    ("/README", "docs/README", False),
    ("README", "docs/README", True),
    ("src/", "src", True),
    ("/src/", "src/a", True),
    ("a/b/", "a/b", True),
    ("**", "x", True),
    ("**/", "/x", True),  # x/y
    ("**/", "x", True),  # y/x
    ("**/", "x/y", True),
    ("*.py", "*.md", True),  # a.py/b.md
    ("*.py", "docs/*.txt", True),  # docs/a.txt/b.py
    ("/*.py", "/*.md", False),
    ("/a[!b]c", "/abc", False),
    ("a[!b]c", "abc", True),  # abc/acc: slashless patterns match at any depth
    ("a[!b]c", "a?c", True),
    ("[a-c]x", "[c-e]x", True),
    ("/[a-b]x", "/[c-e]x", False),
    ("x*y*z", "*q*", True),
    ("/x*y", "/*z", False),
    ("a/**/b/**/c", "a/b/c", True),
    ("a/**/b", "a/*/*/c", True),
]


@pytest.mark.parametrize(("a", "b", "expected"), OVERLAP_TABLE)
def test_overlap_table(a: str, b: str, expected: bool) -> None:
    assert globs_overlap(a, b) is expected
    assert globs_overlap(b, a) is expected
    w = overlap_witness(a, b)
    assert (w is not None) is expected
    if w is not None:
        assert Matcher([a]).match(w) and Matcher([b]).match(w)


def test_glob_sets_overlap() -> None:
    mine = ["src/auth/**", "docs/*.md", "*.py"]
    theirs = ["src/**", "docs/*.txt", "lib/x.js", "/setup.cfg"]
    assert glob_sets_overlap(mine, theirs) == [
        ("src/auth/**", "src/**"),
        ("*.py", "src/**"),
        ("*.py", "docs/*.txt"),  # docs/a.txt/b.py: a directory named a.txt
        ("*.py", "lib/x.js"),
        ("*.py", "/setup.cfg"),  # setup.cfg/a.py
    ]
    assert glob_sets_overlap(["/*.md", "/docs/"], ["/*.py", "src/*"]) == []
    assert glob_sets_overlap(iter(mine), iter([])) == []
    assert code_of(glob_sets_overlap, ["ok"], ["../bad"]) == "invalid_glob"


# ---------------------------------------------------------------------------------------------
# Property tests over a tiny alphabet
# ---------------------------------------------------------------------------------------------

SEG_PATTERNS = ["a", "b", "ab", "*", "?", "**", "*.x", "a*"]
SEG_PATHS = ["a", "b", "ab", "ba", "a.x", "b.x", "aa", "c"]


@st.composite
def globs(draw: st.DrawFn) -> str:
    segs = draw(st.lists(st.sampled_from(SEG_PATTERNS), min_size=1, max_size=4))
    lead = draw(st.sampled_from(["", "", "/"]))
    trail = draw(st.sampled_from(["", "", "/"]))
    pattern = lead + "/".join(segs) + trail
    assume(pattern.strip("/") != "")
    return pattern


paths_st = st.lists(st.sampled_from(SEG_PATHS), min_size=1, max_size=5).map("/".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(globs(), globs(), st.lists(paths_st, min_size=1, max_size=25))
def test_overlap_is_sound_and_exact(p: str, q: str, paths: list[str]) -> None:
    mp, mq = Matcher([p]), Matcher([q])
    overlap = globs_overlap(p, q)
    assert overlap == globs_overlap(q, p)
    if any(mp.match(x) and mq.match(x) for x in paths):
        assert overlap, (p, q)
    witness = overlap_witness(p, q)
    assert (witness is not None) == overlap
    if witness is not None:  # exactness: the claimed common path really is common
        assert mp.match(witness) and mq.match(witness), (p, q, witness)


@settings(max_examples=300, deadline=None)
@given(globs(), st.lists(paths_st, min_size=1, max_size=20))
def test_matcher_agrees_with_pathspec_and_automaton(p: str, paths: list[str]) -> None:
    norm = validate_glob(p)
    assert validate_glob(norm) == norm
    spec = pathspec.GitIgnoreSpec.from_lines([norm])
    raw_spec = pathspec.GitIgnoreSpec.from_lines([p.replace("//", "/")])
    tokens = parse(p).tokens
    m = Matcher([p])
    for x in paths:
        want = spec.match_file(x)
        assert m.match(x) == want, (p, norm, x)
        assert tokens_match(tokens, x.split("/")) == want, (p, x)
        if not p.startswith("/") or "/" in p.strip("/"):
            assert raw_spec.match_file(x) == want, (p, x)  # canonicalising kept the meaning


literal_seg = st.sampled_from(["a", "b", "ab", "c"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(literal_seg, min_size=1, max_size=4),
    st.lists(literal_seg, min_size=1, max_size=4),
)
def test_literal_overlap_is_prefix_relation(xs: list[str], ys: list[str]) -> None:
    p, q = "/" + "/".join(xs), "/" + "/".join(ys)  # anchored literals
    overlap = globs_overlap(p, q)
    prefix = xs[: len(ys)] == ys or ys[: len(xs)] == xs
    assert overlap == prefix
    unanchored = "/".join(xs) if len(xs) > 1 else p
    assert globs_overlap(unanchored, q) == prefix


@settings(max_examples=200, deadline=None)
@given(st.lists(globs(), min_size=1, max_size=8), st.lists(paths_st, min_size=1, max_size=15))
def test_multi_pattern_matcher(patterns: list[str], paths: list[str]) -> None:
    m = Matcher(patterns)
    singles = [Matcher([p]) for p in patterns]
    for x in paths:
        hits = [p for p, s in zip(patterns, singles, strict=True) if s.match(x)]
        assert m.match(x) == bool(hits)
        assert m.first_match(x) == (hits[0] if hits else None)


CLASS_SEGS = ["a", "b", "[ab]", "[!a]", "[a-c]*", "\\*", "a?", "*", "**", "[]]"]
CLASS_PATHS = ["a", "b", "c", "ab", "ca", "*", "a*", "]", "d"]


@st.composite
def class_globs(draw: st.DrawFn) -> str:
    segs = draw(st.lists(st.sampled_from(CLASS_SEGS), min_size=1, max_size=3))
    return draw(st.sampled_from(["", "/"])) + "/".join(segs) + draw(st.sampled_from(["", "/"]))


class_paths = st.lists(st.sampled_from(CLASS_PATHS), min_size=1, max_size=4).map("/".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(class_globs(), class_globs(), st.lists(class_paths, min_size=1, max_size=15))
def test_classes_and_escapes(p: str, q: str, paths: list[str]) -> None:
    mp, mq = Matcher([p]), Matcher([q])
    spec = None if "[!" in p else pathspec.GitIgnoreSpec.from_lines([validate_glob(p)])
    for x in paths:
        if spec is not None:  # pathspec lets [!a] match "/"; we follow git there
            assert mp.match(x) == spec.match_file(x), (p, x)
        assert mp.match(x) == tokens_match(parse(p).tokens, x.split("/"))
        if mp.match(x) and mq.match(x):
            assert globs_overlap(p, q), (p, q, x)
    witness = overlap_witness(p, q)
    if witness is not None:
        assert mp.match(witness) and mq.match(witness), (p, q, witness)


# ---------------------------------------------------------------------------------------------
# Differential: the fast matcher against the reference automaton, on pattern sets that reach
# every lane of the matcher (literal dicts, `dir/**`, lazy prefix buckets, parsed globs, the
# general bucket, the automaton-only members) and paths with odd characters.
# ---------------------------------------------------------------------------------------------

DIFF_SEGS = ["a", "b", "ab", "*", "?", "**", "*.x", "a*", "[ab]", "[!a]", "\\*", "a b", "*a*a*a*"]
DIFF_PATHS = ["a", "b", "ab", "ba", "a.x", "b.x", "aa", "c", "*", "a b", "aaa", "a\nb"]


@st.composite
def diff_globs(draw: st.DrawFn) -> str:
    segs = draw(st.lists(st.sampled_from(DIFF_SEGS), min_size=1, max_size=4))
    pattern = draw(st.sampled_from(["", "", "/"])) + "/".join(segs) + draw(st.sampled_from(["", "", "/"]))
    assume(pattern.strip("/") != "")
    return pattern


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(diff_globs(), min_size=1, max_size=12),
    st.lists(st.lists(st.sampled_from(DIFF_PATHS), min_size=1, max_size=5).map("/".join), min_size=1, max_size=15),
)
def test_matcher_agrees_with_the_reference_automaton(patterns: list[str], paths: list[str]) -> None:
    m = Matcher(patterns)
    for x in paths:
        want = reference_first_match(patterns, x)
        assert m.first_match(x) == want, (patterns, x)
        assert m.match(x) == (want is not None), (patterns, x)
