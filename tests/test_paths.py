"""Tests for switchman.paths: normalisation."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchman.errors import BadInput
from switchman.paths import normalize
from testing.errors import code_of

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
