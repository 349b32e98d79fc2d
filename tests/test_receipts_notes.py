"""Receipts: the notes ref under concurrency, batched reads, and merging a fetched notes commit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from switchman.receipts import notes
from testing.git import git


def make_commits(root: Path, n: int) -> list[str]:
    """n commits on a side branch in one fast-import (cheap, and real commits for notes)."""
    stream = []
    for i in range(n):
        body = f"c{i}".encode()
        stream.append(
            b"commit refs/heads/many\nmark :%d\ncommitter T <t@x> %d +0000\ndata %d\n%s\n%sM 100644 inline f\ndata %d\n%s\n\n"
            % (i + 1, 1_700_000_000 + i, len(body), body, (b"from :%d\n" % i) if i else b"", len(body), body)
        )
    git(root, "fast-import", "--quiet", input=b"".join(stream))
    return git(root, "rev-list", "--reverse", "many").split()


def test_append_read_and_dedupe(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    assert notes.read_all(str(repo)) == {}
    first = notes.append(repo, {head: ["{\"b\":1}"]})
    assert first == git(repo, "rev-parse", notes.REF).strip()
    assert notes.read_all(str(repo)) == {head: ['{"b":1}']}
    assert notes.append(repo, {head: ['{"b":1}']}) == first  # identical line: nothing written
    notes.append(repo, {head: ['{"a":2}', '{"b":1}']})
    assert notes.read_all(str(repo)) == {head: ['{"a":2}', '{"b":1}']}  # sorted, each once
    assert git(repo, "notes", "--ref", notes.REF, "show", head) == '{"a":2}\n{"b":1}\n'
    assert git(repo, "rev-parse", "--verify", "-q", "refs/switchman/receipts-import", check=False) == ""


def test_append_keeps_a_note_written_by_git_notes(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "notes", "--ref", notes.REF, "add", "-m", "by hand", head)
    notes.append(repo, {head: ["receipt"]})
    assert notes.read_all(str(repo))[head] == ["by hand", "receipt"]


WORKER = """
import sys
from switchman.receipts import notes
root, me, *commits = sys.argv[1:]
for i, c in enumerate(commits):
    notes.append(root, {c: [f"worker {me} line {i}"]})
"""


def test_eight_concurrent_writers_lose_nothing(repo: Path) -> None:
    commits = make_commits(repo, 3)
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(repo), str(w), *commits])
        for w in range(8)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0] * 8
    got = notes.read_all(str(repo))
    assert set(got) == set(commits)
    lines = sorted(line for ls in got.values() for line in ls)
    assert lines == sorted(f"worker {w} line {i}" for w in range(8) for i in range(3))
    for i, c in enumerate(commits):  # each commit's note holds every worker's line for it
        assert got[c] == sorted(f"worker {w} line {i}" for w in range(8))


def test_read_all_in_a_constant_number_of_processes_with_fanout(repo: Path) -> None:
    commits = make_commits(repo, 300)  # > 256 notes: fast-import fans the tree out
    notes.append(repo, {c: [f"r{i}"] for i, c in enumerate(commits)})
    assert "/" in git(repo, "ls-tree", "-r", "--name-only", notes.REF).splitlines()[0]
    got = notes.read_all(str(repo))
    assert len(got) == 300 and got[commits[42]] == ["r42"]
    # Appending under a fanned-out tree finds the existing note (no second note for the commit).
    notes.append(repo, {commits[42]: ["more"]})
    assert notes.read_all(str(repo))[commits[42]] == ["more", "r42"]
    assert len(git(repo, "notes", "--ref", notes.REF, "list").splitlines()) == 300


def test_merge_into_unions_and_fast_forwards_the_remote(repo: Path, tmp_path: Path) -> None:
    commits = make_commits(repo, 3)
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    notes.append(repo, {commits[0]: ["local"], commits[1]: ["both"]})
    git(repo, "push", "-q", str(remote), notes.REF)

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    git(clone, "fetch", "-q", "origin", f"{notes.REF}:{notes.REF}")
    notes.append(clone, {commits[1]: ["theirs"], commits[2]: ["theirs too"]})
    git(clone, "push", "-q", "origin", notes.REF)

    notes.append(repo, {commits[0]: ["local 2"]})  # diverged from the remote now
    rejected = subprocess.run(["git", "push", "-q", str(remote), notes.REF], cwd=repo, capture_output=True)
    assert rejected.returncode != 0  # a plain push of diverged notes is refused (non-fast-forward)

    git(repo, "fetch", "-q", str(remote), f"{notes.REF}:refs/notes/switchman-remote")
    theirs = git(repo, "rev-parse", "refs/notes/switchman-remote").strip()
    merged = notes.merge_into(repo, "refs/notes/switchman-remote")
    assert git(repo, "merge-base", "--is-ancestor", theirs, merged, check=False) == ""
    assert notes.read_all(str(repo)) == {
        commits[0]: ["local", "local 2"],
        commits[1]: ["both", "theirs"],
        commits[2]: ["theirs too"],
    }
    git(repo, "push", "-q", str(remote), notes.REF)  # a fast-forward now
    assert notes.read_all(str(remote)) == notes.read_all(str(repo))
    # Merging again changes nothing; a remote behind us is already contained.
    assert notes.merge_into(repo, theirs) == merged


def test_merge_into_adopts_when_there_is_nothing_local(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    notes.append(repo, {head: ["x"]}, ref="refs/notes/elsewhere")
    other = git(repo, "rev-parse", "refs/notes/elsewhere").strip()
    assert notes.merge_into(repo, other) == other
    assert notes.read_all(str(repo)) == {head: ["x"]}


def test_lines_must_be_single_lines(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    with pytest.raises(ValueError):
        notes.append(repo, {head: ["two\nlines"]})
    with pytest.raises(ValueError):
        notes.append(repo, {"HEAD": ["x"]})
