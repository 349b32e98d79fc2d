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
