"""fsutil: the one home of the writes a concurrent reader or a kill never sees half done."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from switchman import policy
from switchman.fsutil import atomic_write, create_exclusive
from switchman.store import sqlite_audit


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_exclusive_writes_a_private_file(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        create_exclusive(str(tmp_path / "k"), b"secret\n")
    finally:
        os.umask(old)
    assert (tmp_path / "k").read_bytes() == b"secret\n"
    assert mode_of(tmp_path / "k") == 0o600
    assert os.listdir(tmp_path) == ["k"]  # no temp file left beside it


def test_create_exclusive_never_replaces(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(b"first")
    with pytest.raises(FileExistsError):
        create_exclusive(str(tmp_path / "k"), b"second")
    assert (tmp_path / "k").read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["k"]


def test_create_exclusive_does_not_write_through_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "k").symlink_to(target)
    with pytest.raises(FileExistsError):
        create_exclusive(str(tmp_path / "k"), b"secret")
    assert not target.exists()


def test_the_audit_key_keeps_the_first_one_written(tmp_path: Path) -> None:
    first = sqlite_audit.create_key(str(tmp_path))
    assert sqlite_audit.create_key(str(tmp_path)) == first == sqlite_audit.read_key(str(tmp_path))
    assert mode_of(tmp_path / sqlite_audit.KEY_FILE) == 0o600
    assert os.listdir(tmp_path) == [sqlite_audit.KEY_FILE]


def test_atomic_write_replaces_and_cleans_up(tmp_path: Path) -> None:
    atomic_write(str(tmp_path / "f"), b"one")
    atomic_write(str(tmp_path / "f"), b"two", 0o600)
    assert (tmp_path / "f").read_bytes() == b"two" and mode_of(tmp_path / "f") == 0o600
    assert os.listdir(tmp_path) == ["f"]


def test_policy_save_is_one_atomic_write(tmp_path: Path) -> None:
    policy.save(str(tmp_path), policy.Policy("guarded", ("dist/**",), {"team": "ä"}))
    assert policy.load(str(tmp_path)) == policy.Policy("guarded", ("dist/**",), {"team": "ä"})
    assert os.listdir(tmp_path) == [policy.POLICY_FILE]
