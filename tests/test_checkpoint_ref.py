"""The direct loose-object/ref reader and writer (`checkpoint.ref.FilesRepo`) against git itself.

It exists only for speed (a checkpointing hook saves two git processes), so whatever it writes
must read back identically through `git cat-file`, and whatever it reads must be what
`git rev-parse` / `git cat-file` answer, loose or packed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from switchman.checkpoint import ref
from switchman.checkpoint.ref import REF, FilesRepo
from switchman.repo import git_env

SAMPLES = [
    b"",
    b"switchman-hook/abc\n8\nAAAA\n\n\xe2\x80\x94 switchman-hook/abc c2ln\n",
    "unicode: \u00e9\u2014\U0001f600\n".encode(),
    bytes(range(256)) * 40,
]


def _out(cwd: Path, *args: str, input: bytes | None = None) -> str:
    return _git(cwd, *args, input=input).decode()


def _git(cwd: Path, *args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=True).stdout


@pytest.fixture
def plain(tmp_path: Path) -> tuple[Path, FilesRepo]:
    root = tmp_path / "r"
    _git(tmp_path, "init", "-q", str(root))
    repo = FilesRepo.at(str(root))
    assert repo is not None
    return root, repo


@pytest.mark.parametrize("data", SAMPLES)
def test_written_blob_reads_back_through_git(plain: tuple[Path, FilesRepo], data: bytes) -> None:
    root, repo = plain
    oid = repo.write_blob(data)
    assert oid == _git(root, "hash-object", "--stdin", input=data).decode().strip()
    assert _git(root, "cat-file", "-t", oid) == b"blob\n"
    assert _git(root, "cat-file", "blob", oid) == data
    _git(root, "fsck", "--no-dangling", "--strict")
    assert repo.write_blob(data) == oid  # idempotent, like git


@pytest.mark.parametrize("packed", [False, True])
def test_ref_reads_match_git(plain: tuple[Path, FilesRepo], packed: bool) -> None:
    root, repo = plain
    env = git_env(for_other_worktree=True)
    assert repo.ref_oid(REF) is None and ref.read_ref(str(root), env) is None
    text = "switchman-hook/x\n1\nAAAA\n"
    oid = ref.write_blob(str(root), text.encode(), env)
    assert ref.compare_and_swap(str(root), oid, None, "test", env)
    assert not ref.compare_and_swap(str(root), oid, None, "test again", env)  # CAS: it exists now
    if packed:
        _git(root, "pack-refs", "--all")
        assert not (root / ".git" / REF).exists()
    assert repo.ref_oid(REF) == _git(root, "rev-parse", REF).decode().strip() == oid
    assert repo.read_object(oid) == _git(root, "cat-file", "blob", oid).decode()
    assert ref.read_ref(str(root), env) == ref.cat_batch(str(root), [REF], env)[0] == (oid, text)
    reflog, has = ref.reflog_oids(str(root / ".git"))
    assert has and reflog == [oid]


def test_packed_object_falls_back_to_git(plain: tuple[Path, FilesRepo]) -> None:
    root, repo = plain
    env = git_env(for_other_worktree=True)
    oid = ref.write_blob(str(root), b"packed note\n", env)
    assert ref.compare_and_swap(str(root), oid, None, "test", env)
    _git(root, "repack", "-adq")
    _git(root, "prune-packed")
    assert repo.read_object(oid) is None  # no longer loose
    assert ref.read_ref(str(root), env) == (oid, "packed note\n")


def test_move_ref_is_git_s_own_compare_and_swap(repo: Path) -> None:
    """The in-process ref move honours git's lock file, checks the old value, keeps a reflog."""
    files = FilesRepo.at(str(repo))
    assert files is not None
    a = _out(repo, "hash-object", "-w", "--stdin", input=b"a\n").strip()
    b = _out(repo, "hash-object", "-w", "--stdin", input=b"b\n").strip()
    assert files.move_ref(REF, a, None, "first") is True
    assert files.move_ref(REF, b, None, "must exist-check") is False  # it exists now
    assert files.move_ref(REF, b, b, "wrong old") is False
    lock = repo / ".git" / (REF + ".lock")
    lock.write_text("")  # a git update-ref in flight
    assert files.move_ref(REF, b, a, "locked") is False
    lock.unlink()
    _out(repo, "pack-refs", "--all")  # now only in packed-refs
    assert files.move_ref(REF, b, a, "second") is True
    assert _out(repo, "rev-parse", REF).strip() == b
    log = (repo / ".git" / "logs" / REF).read_text().splitlines()  # `git reflog` walks commits only
    assert [ln.split("\t")[1] for ln in log] == ["first", "second"]
    assert log[1].split()[:2] == [a, b]
    assert _out(repo, "update-ref", REF, a, b) == ""  # and git takes it from there
