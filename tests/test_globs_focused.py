"""`FocusedMatcher` (what `check` judges scopes with) against the reference it stands in for:
`Matcher` over the same patterns, for the paths it was built for and for any other path, and
`candidates` never leaving out a pattern that matches one of its paths; `Matcher(automaton=True)`
(what it judges the candidates with) against the regex-compiling `Matcher`, and the pathspec
check it skips for simple patterns never refusing one."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchman.errors import BadInput
from switchman.globs.matcher import _SIMPLE, FocusedMatcher, Matcher, _all_simple, candidates
from switchman.globs.syntax import parse, parse_unvalidated

# Simple segments (the fast classification) and others: classes, escapes, dots, odd characters.
SEGS = ["a", "b", "ab", "a.x", "*", "?", "**", "*.x", "a*", "b?", "[ab]", "\\*", ".", "..", "", "a b", "é", "a\nb"]
PATH_SEGS = ["a", "b", "ab", "ba", "a.x", "b.x", "aa", "c", "a b", "é"]
# Simple patterns only: the ones `candidates` prunes (most draws leave some out).
SIMPLE_SEGS = ["a", "b", "ab", "c", "x.py", "*", "?", "**", "*.py", "a*", "b?"]
SIMPLE_PATH_SEGS = ["a", "b", "ab", "ba", "c", "x.py", "y.py", "aa"]


def patterns(segs: list[str] = SEGS) -> st.SearchStrategy[str]:
    ends = st.sampled_from(["", "", "/"])
    return st.tuples(ends, st.lists(st.sampled_from(segs), min_size=1, max_size=4), ends).map(
        lambda t: t[0] + "/".join(t[1]) + t[2]
    )


paths_st = st.lists(st.sampled_from(PATH_SEGS), min_size=1, max_size=5).map("/".join)
simple_paths_st = st.lists(st.sampled_from(SIMPLE_PATH_SEGS), min_size=1, max_size=5).map("/".join)


def built(cls: type, *args: object) -> object:
    try:
        return cls(*args)
    except BadInput as exc:
        return ("BadInput", exc.code)


def same_answers(pats: list[str], known: list[str], others: list[str]) -> None:
    whole = built(Matcher, pats)
    focused = built(FocusedMatcher, pats, known)
    if not isinstance(whole, Matcher):  # a bad pattern is refused by both, the same way
        assert focused == whole
        return
    assert isinstance(focused, FocusedMatcher) and bool(focused) == bool(whole)
    for path in [*known, *others]:
        assert focused.first_match(path) == whole.first_match(path), (pats, known, path)
        assert focused.match(path) == whole.match(path), (pats, known, path)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(patterns(), max_size=10), st.lists(paths_st, min_size=1, max_size=6), st.lists(paths_st, max_size=6))
def test_focused_answers_as_the_whole_matcher(pats: list[str], known: list[str], others: list[str]) -> None:
    same_answers(pats, known, others)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(patterns(SIMPLE_SEGS), max_size=12),
    st.lists(simple_paths_st, min_size=1, max_size=4),
    st.lists(simple_paths_st, max_size=4),
)
def test_focused_answers_as_the_whole_matcher_on_simple_patterns(pats: list[str], known: list[str], others: list[str]) -> None:
    same_answers(pats, known, others)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.lists(patterns(), min_size=1, max_size=10), st.lists(patterns(SIMPLE_SEGS), min_size=1, max_size=10)),
    st.lists(st.one_of(paths_st, simple_paths_st), min_size=1, max_size=6),
)
def test_candidates_keep_every_pattern_that_matches(pats: list[str], paths: list[str]) -> None:
    kept = candidates(pats, paths)
    if kept is None:
        return  # not all simple: the whole matcher judges them
    assert kept == [p for p in pats if p in kept]  # a subsequence, in order
    for p in pats:
        m = Matcher([p])
        if any(m.match(x) for x in paths):
            assert p in kept, (p, paths)


@pytest.mark.parametrize(
    ("pats", "paths", "want"),
    [
        (["src/a/**", "src/b/*.py", "*.md", "docs/", "/top", "src/a/x.py"], ["src/a/x.py"], ["src/a/**", "*.md", "docs/", "src/a/x.py"]),
        (["src/a*/x", "src/b"], ["src/ab/x"], ["src/a*/x"]),
        (["**/x", "/a", "a/b/"], ["c/x"], ["**/x"]),
        (["src/[ab]"], ["src/a"], None),  # a class: not simple
        (["src/..", "x"], ["x"], None),  # a dot segment: refused by the whole matcher
        (["a\nb"], ["a"], None),  # a newline inside a pattern
        ([], ["a"], []),
    ],
)
def test_candidates_table(pats: list[str], paths: list[str], want: list[str] | None) -> None:
    assert candidates(pats, paths) == want


def test_a_path_not_known_in_advance_gets_the_whole_matcher() -> None:
    pats = ["src/a/**", "src/b/*.py"]
    focused = FocusedMatcher(pats, ["src/a/x.py"])
    assert focused.first_match("src/a/x.py") == "src/a/**"
    assert focused.first_match("src/b/y.py") == "src/b/*.py"  # left out of the few, still found
    assert not FocusedMatcher([], ["a"]) and FocusedMatcher([], ["a"]).first_match("a") is None


def test_many_scopes_of_the_shapes_agents_reserve() -> None:
    shapes = ("src/m{m}/d{d}/s{k}/**", "src/m{m}/d{d}/*.txt", "src/m{m}/d{d}/gen_{k}_*.py", "docs/m{m}/d{d}/**/*.md", "tests/m{m}/test_d{d}_{k}?.py")
    pats = [shapes[i % 5].format(m=i // 100, d=(i // 5) % 20, k=i % 3) for i in range(2000)] + ["*.generated", "/README.md", "build/"]
    paths = [
        f"{top}/m{m}/d{d}/{name}"
        for top in ("src", "docs", "tests")
        for m in (0, 7, 19, 25)
        for d in (0, 3, 19)
        for name in ("s0/x.py", "s2/a/b.md", "f.txt", "gen_1_x.py", "gen_9_x.py", "test_d3_1a.py", "x/y/z.md", "a.generated", "build/o", "README.md")
    ]
    whole = Matcher(pats)
    for i in range(0, len(paths), 7):
        known = paths[i : i + 7]
        focused = FocusedMatcher(pats, known)
        assert [focused.first_match(p) for p in known] == [whole.first_match(p) for p in known]
    assert any(whole.first_match(p) for p in paths) and not all(whole.first_match(p) for p in paths)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.lists(patterns(), max_size=8), st.lists(patterns(SIMPLE_SEGS), max_size=8)),
    st.lists(st.one_of(paths_st, simple_paths_st), min_size=1, max_size=8),
)
def test_automaton_matcher_answers_as_the_regex_one(pats: list[str], paths: list[str]) -> None:
    whole = built(Matcher, pats)
    if not isinstance(whole, Matcher):
        return
    auto = Matcher(pats, automaton=True)
    for path in paths:
        assert auto.first_match(path) == whole.first_match(path), (pats, path)
        assert auto.match(path) == whole.match(path), (pats, path)


@settings(max_examples=500, deadline=None)
@given(patterns(SIMPLE_SEGS + ["a.b", "x-y", "~", "+", "=", ",", "@", "%", "_"]))
def test_simple_patterns_parse_the_same_without_pathspec(p: str) -> None:
    if _SIMPLE.fullmatch(p) is None:
        return
    g = parse(p)  # pathspec accepts every simple pattern (parse would raise otherwise)
    u = parse_unvalidated(p)
    assert [getattr(u, k) for k in g.__slots__] == [getattr(g, k) for k in g.__slots__]


def test_focused_matcher_never_imports_pathspec_for_simple_globs() -> None:
    code = (
        "import sys\n"
        "from switchman.globs.matcher import FocusedMatcher\n"
        "m = FocusedMatcher(['src/a/*.py', 'src/b/gen_?.py', '*.md', 'docs/**/x'], ['src/a/x.py', 'src/b/gen_1.py', 'docs/q/x'])\n"
        "assert m.first_match('src/a/x.py') == 'src/a/*.py' and m.first_match('src/b/gen_1.py') == 'src/b/gen_?.py'\n"
        "assert m.first_match('docs/q/x') == 'docs/**/x'\n"
        "print('pathspec' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.text(alphabet="ab./*?-_ é[\\", max_size=8), min_size=1, max_size=6))
def test_all_simple_is_simple_line_by_line(pats: list[str]) -> None:
    assert _all_simple("\n".join(pats)) == all(_SIMPLE.fullmatch(p) is not None for p in pats), pats


@pytest.mark.parametrize(
    "pats",
    [["a"], ["/a/"], ["a", "/"], ["a//b"], [""], ["a", ""], ["./a"], ["a/."], ["a/../b"], [".."], ["..a", "a.."], ["/.x"], ["a b"], ["é"], ["a/", "/b"]],
)
def test_all_simple_table(pats: list[str]) -> None:
    assert _all_simple("\n".join(pats)) == all(_SIMPLE.fullmatch(p) is not None for p in pats)
