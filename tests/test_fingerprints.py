"""Content fingerprints (git blob ids) of the changed set, and the per-worktree snapshot diff.

`touch` is not a change; an edit that keeps size and mtime is; the first run and post-checkout
re-baseline silently; one `write_observed` row per newly changed path.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from switchman import fingerprints as fp
from switchman.gates.commit import commit_gate
from switchman.repo import locate
from switchman.store.sqlite import Store
from testing.cli import Cli
from testing.gates import Env, install_hooks
from testing.git import git, write


def hash_object(root: Path, rel: str) -> str:
    return git(root, "hash-object", "--", rel).strip()


# --- changed-set discovery ------------------------------------------------------------------------


def test_blob_id_matches_git(repo: Path) -> None:
    for i, data in enumerate([b"", b"x\n", bytes(range(256)) * 100]):
        write(repo / f"f{i}", data)
        assert fp.blob_id(data) == hash_object(repo, f"f{i}")
        assert fp.file_fingerprint(str(repo), f"f{i}") == hash_object(repo, f"f{i}")


def test_fingerprint_of_symlink_deleted_and_directory(repo: Path) -> None:
    os.symlink("README.md", repo / "link")
    git(repo, "add", "link")
    blob = git(repo, "ls-files", "-s", "link").split()[1]
    assert fp.file_fingerprint(str(repo), "link") == blob
    assert fp.file_fingerprint(str(repo), "missing") == fp.DELETED
    assert fp.file_fingerprint(str(repo), "README.md/under-a-file") == fp.DELETED
    assert fp.file_fingerprint(str(repo), "src") == "directory"


def test_staged_changes_statuses_and_renames(repo: Path) -> None:
    write(repo / "new.txt", "new\n")
    write(repo / "README.md", "changed\n")
    git(repo, "rm", "-q", "docs/guide.md")
    git(repo, "mv", "src/billing/invoice.py", "src/billing/bill.py")
    git(repo, "add", "-A")
    got = {c.path: c for c in fp.staged_changes(str(repo))}
    assert set(got) == {"new.txt", "README.md", "docs/guide.md", "src/billing/bill.py", "src/billing/invoice.py"}
    assert got["new.txt"].fingerprint == hash_object(repo, "new.txt") and got["new.txt"].kind == "staged"
    assert got["docs/guide.md"].fingerprint == fp.DELETED and got["docs/guide.md"].kind == "deleted"
    # A rename is both sides: the new path added, the old one deleted.
    assert got["src/billing/bill.py"].kind == "staged"
    assert got["src/billing/bill.py"].fingerprint == git(repo, "rev-parse", "HEAD:src/billing/invoice.py").strip()
    assert got["src/billing/invoice.py"].kind == "deleted"


def test_staged_changes_before_the_first_commit(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "fresh")
    write(tmp_path / "fresh" / "a.txt", "a\n")
    git(tmp_path / "fresh", "add", "a.txt")
    assert [(c.path, c.kind) for c in fp.staged_changes(str(tmp_path / "fresh"))] == [("a.txt", "staged")]


def test_staged_changes_honour_git_index_file(repo: Path, tmp_path: Path) -> None:
    index = tmp_path / "other-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    subprocess.run(["git", "read-tree", "HEAD"], cwd=repo, env=env, check=True)
    write(repo / "README.md", "changed\n")
    subprocess.run(["git", "add", "README.md"], cwd=repo, env=env, check=True)
    assert fp.staged_changes(str(repo)) == []  # the real index has nothing staged
    assert [c.path for c in fp.staged_changes(str(repo), env)] == ["README.md"]


def test_odd_names_survive(repo: Path) -> None:
    names = [b"sp ace.txt", b"new\nline.txt", b"caf\xe9.txt", b'quo"te\\.txt', "ünï.txt".encode()]
    root = os.fsencode(repo)
    for raw in names:
        with open(os.path.join(root, raw), "wb") as fh:
            fh.write(raw)
    untracked = {c.path: c for c in fp.worktree_changes(str(repo))}
    assert set(untracked) == {os.fsdecode(n) for n in names}
    assert all(c.kind == "untracked" for c in untracked.values())
    assert untracked[os.fsdecode(b"caf\xe9.txt")].fingerprint == fp.blob_id(b"caf\xe9.txt")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    assert {c.path for c in fp.staged_changes(str(repo))} == {os.fsdecode(n) for n in names}


def test_worktree_changes_kinds(repo: Path) -> None:
    write(repo / "README.md", "unstaged\n")
    write(repo / "docs/guide.md", "staged\n")
    git(repo, "add", "docs/guide.md")
    os.unlink(repo / "src/auth/login.py")
    write(repo / "untracked/deep/file.txt", "u\n")
    write(repo / "ignored.log", "i\n")
    write(repo / ".gitignore", "*.log\n")
    got = {c.path: c for c in fp.worktree_changes(str(repo))}
    assert set(got) == {"README.md", "docs/guide.md", "src/auth/login.py", "untracked/deep/file.txt", ".gitignore"}
    assert got["README.md"].kind == "unstaged" and got["README.md"].fingerprint == fp.blob_id(b"unstaged\n")
    assert got["docs/guide.md"].kind == "staged" and got["docs/guide.md"].fingerprint == fp.blob_id(b"staged\n")
    assert got["src/auth/login.py"].fingerprint == fp.DELETED
    assert got["untracked/deep/file.txt"].kind == "untracked"


# --- the snapshot diff, through the commit gate ----------------------------------------------------


def observed(cli: Cli) -> list[tuple[str, str, str]]:
    rows = cli.json("audit", "list", "--event-type", "write_observed", "--limit", "10000")["events"]
    return [(r["file_path"], r["status"], r["reason_code"]) for r in reversed(rows)]


def gate(cli: Cli, wt: Path) -> dict:  # type: ignore[type-arg]
    return cli.json("gate", "commit", cwd=wt)


def test_first_run_baselines_then_one_row_per_new_change(agents: tuple[Path, Path], cli: Cli) -> None:
    a, _ = agents
    tid = cli.ok("task", "add", "t").out.strip()
    cli.ok("claim", tid, "agent-a", "README.md")
    write(a / "README.md", "pre-existing change\n")
    write(a / "docs/guide.md", "pre-existing too\n")
    gate(cli, a)
    assert observed(cli) == []  # first run: silent baseline
    gate(cli, a)
    assert observed(cli) == []  # nothing new
    write(a / "README.md", "edited again\n")
    write(a / "new.txt", "n\n")
    git(a, "add", "new.txt")
    gate(cli, a)
    assert sorted(observed(cli)) == [("README.md", "allowed", "path_claimed"), ("new.txt", "denied", "path_not_claimed")]
    gate(cli, a)
    assert len(observed(cli)) == 2
    # A change reverted to HEAD leaves the changed set; changing it again is new again.
    git(a, "checkout", "--", "docs/guide.md")
    gate(cli, a)
    assert len(observed(cli)) == 2
    write(a / "docs/guide.md", "pre-existing too\n")
    gate(cli, a)
    assert observed(cli)[-1] == ("docs/guide.md", "denied", "path_not_claimed")


def test_touch_is_not_a_change_but_a_same_size_same_mtime_edit_is(agents: tuple[Path, Path], cli: Cli) -> None:
    a, _ = agents
    target = a / "README.md"
    write(target, "version A\n")
    gate(cli, a)  # baseline (README.md changed vs HEAD)
    st = os.stat(target)
    os.utime(target, None)  # touch
    gate(cli, a)
    assert observed(cli) == []
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    gate(cli, a)
    assert observed(cli) == []
    st = os.stat(target)
    target.write_text("version B\n")  # same size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    assert os.stat(target).st_size == st.st_size and os.stat(target).st_mtime_ns == st.st_mtime_ns
    gate(cli, a)
    assert observed(cli) == [("README.md", "denied", "no_active_lease")]
    gate(cli, a)
    assert len(observed(cli)) == 1


def test_same_size_same_mtime_edit_of_a_clean_file(agents: tuple[Path, Path], cli: Cli) -> None:
    a, _ = agents
    gate(cli, a)  # baseline: nothing changed
    target = a / "docs" / "guide.md"
    st = os.stat(target)
    data = target.read_bytes()
    target.write_bytes(data.upper())
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    gate(cli, a)
    assert observed(cli) == [("docs/guide.md", "denied", "no_active_lease")]


def test_snapshot_stores_only_the_changed_set(agents: tuple[Path, Path], cli: Cli, initialised: Path) -> None:
    a, _ = agents
    write(a / "README.md", "x\n")
    gate(cli, a)
    store = Store.open(locate(str(initialised)).state_dir)
    try:
        rows = store.all("SELECT file_path FROM worktree_snapshots WHERE worktree = 'agent-a'")
    finally:
        store.close()
    assert [r["file_path"] for r in rows] == ["README.md"]


def test_commit_forgets_committed_paths_and_checkout_rebaselines(env: Env) -> None:
    a = env.a
    env.lease("agent-a", "README.md", "docs/guide.md")
    write(a / "README.md", "one\n")
    gate(env.cli, a)  # baseline
    git(a, "add", "README.md")
    assert subprocess.run(["git", "commit", "-q", "-m", "c"], cwd=a).returncode == 0
    # Committed: changing it again is a new change.
    write(a / "README.md", "two\n")
    gate(env.cli, a)
    assert observed(env.cli) == [("README.md", "allowed", "path_claimed")]
    # post-checkout re-baselines silently: the carried-over change is not new afterwards.
    write(a / "docs/guide.md", "carried\n")
    git(a, "checkout", "-q", "-b", "elsewhere")
    gate(env.cli, a)
    assert len(observed(env.cli)) == 1
    write(a / "docs/guide.md", "edited after checkout\n")
    gate(env.cli, a)
    assert observed(env.cli)[-1] == ("docs/guide.md", "allowed", "path_claimed")


def test_hook_in_guarded_mode_observes_only_the_staged_set(env: Env) -> None:
    env.mode("agent-a", "guarded")
    env.lease("agent-a", "README.md")
    a = env.a
    write(a / "README.md", "base\n")
    git(a, "add", "README.md")
    env.cli.ok("gate", "commit", cwd=a)  # baseline
    write(a / "README.md", "staged edit\n")
    git(a, "add", "README.md")
    write(a / "docs/guide.md", "unstaged, not looked at by the hook\n")
    assert subprocess.run(["git", "commit", "-q", "-m", "c"], cwd=a, capture_output=True).returncode == 0
    assert observed(env.cli) == [("README.md", "allowed", "path_claimed")]


@pytest.mark.parametrize("framework", [False, True])
def test_strict_under_the_framework_records_no_stash(agents: tuple[Path, Path], cli: Cli, initialised: Path, framework: bool) -> None:
    a, _ = agents
    cli.ok("worktree", "mode", "agent-a", "strict")
    tid = cli.ok("task", "add", "t").out.strip()
    cli.ok("claim", tid, "agent-a", "README.md")
    paths = locate(str(a))
    store = Store.open(paths.state_dir)
    try:
        commit_gate(paths, store)  # baseline
        write(a / "README.md", "claimed\n")
        git(a, "add", "README.md")
        write(a / "docs/guide.md", "unstaged (stashed under pre-commit)\n")
        write(a / "scratch.txt", "untracked\n")
        result = commit_gate(paths, store, framework=framework)
    finally:
        store.close()
    bad = sorted(v.file for v in result.violations)
    assert not result.ok
    if framework:
        assert bad == ["scratch.txt"]
        assert [p for p, _, _ in observed(cli)] == ["README.md"]
    else:
        assert bad == ["docs/guide.md", "scratch.txt"]
        assert sorted(p for p, _, _ in observed(cli)) == ["README.md", "docs/guide.md", "scratch.txt"]


def test_hooks_installed_post_checkout_baseline_on_worktree_add(initialised: Path, cli: Cli) -> None:
    install_hooks(initialised)
    from testing.git import add_worktree

    c = add_worktree(initialised, "agent-c")
    write(c / "README.md", "first change after the checkout\n")
    cli.json("gate", "commit", cwd=c)
    # post-checkout of `worktree add` was the baseline, so this first gate already observes.
    assert observed(cli) == [("README.md", "denied", "no_active_lease")]
