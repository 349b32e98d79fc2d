"""Tests for switchman.paths: normalisation, glob validation, the matcher and overlap."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pathspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from switchman.errors import BadInput

# _parse and _tokens_match are internals: the automaton is cross-checked against the matcher.
from switchman.paths import (
    Matcher,
    _parse,
    _tokens_match,
    glob_sets_overlap,
    globs_overlap,
    literal_pattern,
    normalize,
    overlap_witness,
    validate_glob,
)


def code_of(fn, *args, **kwargs) -> str:
    with pytest.raises(BadInput) as info:
        fn(*args, **kwargs)
    assert info.value.exit_code == 2
    assert "\n" not in info.value.message  # one line, even for names with newlines
    assert info.value.fix
    return info.value.code


# ---------------------------------------------------------------------------------------------
# normalize
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("a.py", "a.py"),
        ("./a//b/", "a/b"),
        ("a/x/../b", "a/b"),
        ("a/./b/.", "a/b"),
        ("src/x/../../y", "y"),
        ("dir with space/f ", "dir with space/f "),
        ("back\\slash", "back\\slash"),
        ("a\nb/c\n", "a\nb/c\n"),
        ("caf\udce9/\udcff.txt", "caf\udce9/\udcff.txt"),
        ("lone\ud800", "lone\ud800"),
        ("sub/.gitignore", "sub/.gitignore"),
        ("x/.switchman/y", "x/.switchman/y"),
    ],
)
def test_normalize_lexical(raw: str, want: str) -> None:
    assert normalize(raw) == want


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "invalid_path"),
        (".", "invalid_path"),
        ("./", "invalid_path"),
        ("a/..", "invalid_path"),
        ("a\0b", "invalid_path"),
        (".git", "invalid_path"),
        (".git/config", "invalid_path"),
        ("./.git/hooks/pre-commit", "invalid_path"),
        (".GIT/x", "invalid_path"),
        ("sub/.git/x", "invalid_path"),
        (".switchman", "invalid_path"),
        (".switchman/state.db", "invalid_path"),
        ("../x", "path_outside_repo"),
        ("a/../../x", "path_outside_repo"),
        ("/etc/passwd", "path_outside_repo"),
    ],
)
def test_normalize_refusals(raw: str, code: str) -> None:
    assert code_of(normalize, raw) == code


def test_normalize_non_str() -> None:
    assert code_of(normalize, b"a.py") == "invalid_path"  # type: ignore[arg-type]


def test_normalize_message_names_the_path() -> None:
    with pytest.raises(BadInput) as info:
        normalize("../secret\nfile")
    assert "secret\\nfile" in info.value.message


@pytest.fixture
def worktree(tmp_path):
    root = tmp_path / "wt"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "x.py").write_text("")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.py").write_text("")
    return root, outside


def test_absolute_inside_root_is_made_relative(worktree) -> None:
    root, _ = worktree
    assert normalize(str(root / "src" / "pkg" / "x.py"), worktree_root=str(root)) == "src/pkg/x.py"
    assert normalize(str(root) + "//src/./pkg/../a.py", worktree_root=str(root)) == "src/a.py"


def test_absolute_outside_root_refused(worktree) -> None:
    root, outside = worktree
    assert code_of(normalize, str(outside / "f.py"), worktree_root=str(root)) == "path_outside_repo"
    assert code_of(normalize, str(root) + "/../outside/f.py", worktree_root=str(root)) == (
        "path_outside_repo"
    )
    # a sibling whose name merely starts with the root's name
    assert code_of(normalize, str(root) + "x/f.py", worktree_root=str(root)) == "path_outside_repo"
    assert code_of(normalize, str(root), worktree_root=str(root)) == "invalid_path"


def test_absolute_without_root_refused() -> None:
    assert code_of(normalize, "/repo/a.py") == "path_outside_repo"


def test_cwd_relative(worktree) -> None:
    root, _ = worktree
    src = str(root / "src")
    assert normalize("x.py", worktree_root=str(root), cwd=src) == "src/x.py"
    assert normalize("pkg/../y.py", worktree_root=str(root), cwd=src) == "src/y.py"
    assert normalize("../top.py", worktree_root=str(root), cwd=src) == "top.py"
    assert normalize("./", worktree_root=str(root), cwd=src) == "src"
    assert code_of(normalize, "../../x", worktree_root=str(root), cwd=src) == "path_outside_repo"
    # without a root, cwd is ignored: relative to the root
    assert normalize("x.py", cwd=src) == "x.py"


def test_symlinked_directory_leaving_the_worktree(worktree) -> None:
    root, outside = worktree
    os.symlink(outside, root / "link")
    os.symlink(outside, root / "src" / "deep")
    r = str(root)
    assert code_of(normalize, "link/f.py", worktree_root=r) == "path_outside_repo"
    assert code_of(normalize, "link/new/dir/f.py", worktree_root=r) == "path_outside_repo"
    assert code_of(normalize, "src/deep/f.py", worktree_root=r) == "path_outside_repo"
    assert code_of(normalize, str(root / "link" / "f.py"), worktree_root=r) == "path_outside_repo"
    assert code_of(normalize, "f.py", worktree_root=r, cwd=str(root / "link")) == (
        "path_outside_repo"
    )
    # the last component may itself be a symlink: git tracks links as files
    assert normalize("link", worktree_root=r) == "link"
    assert normalize("src/deep", worktree_root=r) == "src/deep"
    # without a root nothing is resolved on disk
    assert normalize("link/f.py") == "link/f.py"


def test_symlink_inside_the_worktree_is_fine(worktree) -> None:
    root, _ = worktree
    os.symlink(root / "src", root / "alias")
    assert normalize("alias/pkg/x.py", worktree_root=str(root)) == "alias/pkg/x.py"


def test_root_spelled_through_a_symlink(worktree, tmp_path) -> None:
    root, _ = worktree
    os.symlink(root, tmp_path / "rootlink")
    via = str(tmp_path / "rootlink")
    assert normalize(str(root / "src" / "a.py"), worktree_root=via) == "src/a.py"
    assert normalize(via + "/src/a.py", worktree_root=str(root)) == "src/a.py"
    assert normalize("a.py", worktree_root=str(root), cwd=via + "/src") == "src/a.py"


def test_odd_names_on_disk(worktree) -> None:
    root, _ = worktree
    name = os.fsdecode(b"caf\xe9")  # non-UTF-8 byte -> lone surrogate
    os.mkdir(os.fsencode(root) + b"/caf\xe9")
    os.mkdir(root / "new\nline")
    r = str(root)
    assert normalize(f"{name}/f.txt", worktree_root=r) == f"{name}/f.txt"
    assert normalize("new\nline/f\n.txt", worktree_root=r) == "new\nline/f\n.txt"
    # unencodable (not from surrogateescape): cannot exist on disk, must not crash
    assert normalize("\ud800/x\ud800/f", worktree_root=r) == "\ud800/x\ud800/f"
    assert normalize(str(root / "\ud800" / "f"), worktree_root=r) == "\ud800/f"


def _path_text() -> st.SearchStrategy[str]:
    parts = st.sampled_from(["a", "b", "/", ".", "..", " ", "\n", "\udcff", "\ud800", "é"])
    return st.lists(parts, max_size=14).map("".join)


@settings(max_examples=300, deadline=None)
@given(_path_text())
def test_normalize_properties(raw: str) -> None:
    try:
        out = normalize(raw)
    except BadInput as exc:
        assert exc.code in {"invalid_path", "path_outside_repo"}
        return
    assert out and not out.startswith("/") and not out.endswith("/")
    for part in out.split("/"):
        assert part not in ("", ".", "..")
    assert normalize(out) == out


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
    assert _tokens_match(_parse(pattern).tokens, path.split("/")) is expected


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
    assert not _imports_after("import switchman.paths")
    assert not _imports_after(
        "from switchman.paths import Matcher, validate_glob, normalize\n"
        "m = Matcher(['src/a.py', 'README', 'build/'])\n"
        "assert m.match('src/a.py/x') and m.match('x/README')\n"
        "validate_glob('docs/x.md'); normalize('a/b')"
    )
    assert _imports_after("from switchman.paths import Matcher\nMatcher(['*.py']).match('a.py')")


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
    tokens = _parse(p).tokens
    m = Matcher([p])
    for x in paths:
        want = spec.match_file(x)
        assert m.match(x) == want, (p, norm, x)
        assert _tokens_match(tokens, x.split("/")) == want, (p, x)
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
        assert mp.match(x) == _tokens_match(_parse(p).tokens, x.split("/"))
        if mp.match(x) and mq.match(x):
            assert globs_overlap(p, q), (p, q, x)
    witness = overlap_witness(p, q)
    if witness is not None:
        assert mp.match(witness) and mq.match(witness), (p, q, witness)
