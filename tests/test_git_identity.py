"""Which git runs, in which worktree, over which objects (SPEC §10): attacks beyond test_provenance.

Real git, real linked worktrees, the installed hooks, a local bare remote. agent-a leases
src/auth/**, agent-b holds docs/guide.md, both guarded; agent-a tries to commit or push
docs/guide.md anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from switchman import repo as repomod
from testing.gates import Env, commit, head, run_git
from testing.git import git, write

from .test_provenance import guarded_pair, push, remote_branches, sneak

pytestmark = pytest.mark.slow


def _stand_in_for_head(wt: Path) -> str:
    """A commit with the index's tree standing in for HEAD: diff-index HEAD then sees nothing."""
    tree = git(wt, "write-tree").strip()
    return git(wt, "commit-tree", tree, "-p", "HEAD", "-m", "stand-in").strip()


def test_a_replaced_head_does_not_hide_staged_changes_from_the_commit_gate(env: Env) -> None:
    guarded_pair(env)
    env.change(env.a, "docs/guide.md", "taken\n")
    git(env.a, "replace", "HEAD", _stand_in_for_head(env.a))
    res = commit(env.a, "hidden by a replace ref")
    assert res.code != 0 and "path_claimed_by_other_lease" in res.err


def test_core_use_replace_refs_cannot_turn_replace_objects_back_on(env: Env) -> None:
    # git 2.39 lets a repository's core.useReplaceRefs=true beat GIT_NO_REPLACE_OBJECTS.
    guarded_pair(env)
    git(env.root, "config", "core.useReplaceRefs", "true")
    env.change(env.a, "docs/guide.md", "taken\n")
    git(env.a, "replace", "HEAD", _stand_in_for_head(env.a))
    res = commit(env.a, "hidden", env={"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.useReplaceRefs", "GIT_CONFIG_VALUE_0": "true"})
    assert res.code != 0 and "path_claimed_by_other_lease" in res.err


def test_grafts_do_not_hide_commits_from_the_push_gate(env: Env) -> None:
    guarded_pair(env)
    env.remote()
    base = head(env.a)
    sneak(env, env.a)
    env.change(env.a, "src/auth/login.py", "gated on top\n")
    assert commit(env.a, "gated").code == 0
    grafts = Path(git(env.a, "rev-parse", "--git-common-dir").strip(), "info", "grafts")
    if not grafts.is_absolute():
        grafts = env.a / grafts
    grafts.parent.mkdir(parents=True, exist_ok=True)
    grafts.write_text(f"{head(env.a)} {base}\n")  # the tip's parent "is" the base
    code, _ = push(env, env.a, "agent-a")
    # git's own pack honours the graft (a receiving remote then finds the pack incomplete): the
    # gate walks the real parents and refuses first.
    assert code != 0 and remote_branches(env) == ""
    gate = env.last("push_gate")
    assert gate["status"] == "denied" and gate["details"]["commits"] == 2


def test_a_planted_path_git_cannot_swap_the_git_the_hooks_run(env: Env, tmp_path: Path) -> None:
    # A `git` first on PATH that wraps the real one but hides every change from the hooks. (git
    # puts its own exec path before it on the hook's PATH, so this guards the resolution order.)
    guarded_pair(env)
    real = git(env.a, "--exec-path").strip() + "/git"
    real = real if os.path.exists(real) else "/usr/bin/git"
    evil = tmp_path / "evil-bin"
    evil.mkdir()
    (evil / "git").write_text(
        f'#!/bin/sh\ncase " $* " in *" diff-index "*|*" diff "*) exit 0 ;; esac\nexec {real} "$@"\n'
    )
    (evil / "git").chmod(0o755)
    env.change(env.a, "docs/guide.md", "taken\n")
    planted = {"PATH": f"{evil}{os.pathsep}{os.environ['PATH']}"}
    res = run_git(env.a, "commit", "-q", "-m", "x", env=planted)
    assert res.code != 0 and "path_claimed_by_other_lease" in res.err


def test_an_edited_gitdir_file_cannot_borrow_another_worktrees_lease(env: Env) -> None:
    # agent-a's git dir is made to name agent-b's worktree: nothing names agent-a's git dir back.
    guarded_pair(env)
    env.change(env.a, "src/auth/login.py", "gated\n")
    assert commit(env.a, "gated").code == 0  # agent-a's hooks now know it is guarded
    git_dir = Path(git(env.a, "rev-parse", "--absolute-git-dir").strip())
    (git_dir / "gitdir").write_text(f"{env.b / '.git'}\n")
    env.change(env.a, "docs/guide.md", "taken\n")
    res = run_git(env.a, f"--work-tree={env.b}", "commit", "-q", "-m", "borrowed")
    assert res.code != 0
    assert "path_claimed_by_other_lease" in res.err or "worktree" in res.err
    assert env.count("commit_recorded") == 0 or env.last("commit_recorded")["worktree"] != "agent-b"


def test_a_git_dir_flag_commits_as_the_worktree_whose_git_dir_it_is(env: Env) -> None:
    # Run from agent-a's directory into agent-b's git dir: the commit lands on agent-b's branch,
    # so it is agent-b's, judged by agent-b's lease (docs/guide.md is agent-b's to change).
    guarded_pair(env)
    b_git_dir = git(env.b, "rev-parse", "--absolute-git-dir").strip()
    write(env.a / "docs" / "guide.md", "b's own\n")
    git(env.a, f"--git-dir={b_git_dir}", "--work-tree=.", "add", "docs/guide.md")
    res = run_git(env.a, f"--git-dir={b_git_dir}", "--work-tree=.", "commit", "-q", "-m", "via b's git dir")
    assert res.code == 0, res.err
    assert env.last("commit_gate")["worktree"] == "agent-b"
    assert env.last("commit_recorded")["worktree"] == "agent-b"


def test_worktree_identity_is_read_from_files_not_git(env: Env) -> None:
    paths = repomod.locate(str(env.a))
    assert paths.worktree == os.path.realpath(env.a)
    main = repomod.locate(str(env.root))
    assert main.worktree == os.path.realpath(env.root)


def test_a_missing_directory_is_not_reported_as_missing_git(tmp_path: Path) -> None:
    from switchman.errors import EnvironmentProblem

    with pytest.raises(EnvironmentProblem) as info:
        repomod.run_git(["status"], tmp_path / "gone")
    assert "not found on PATH" not in info.value.message and "directory not found" in info.value.message


def test_the_git_on_path_skips_the_exec_path_and_relative_entries(tmp_path: Path) -> None:
    planted = tmp_path / "exec"
    planted.mkdir()
    (planted / "git").write_text("#!/bin/sh\nexit 0\n")
    (planted / "git").chmod(0o755)
    environ = {"PATH": os.pathsep.join([".", str(planted), os.environ["PATH"]]), "GIT_EXEC_PATH": str(planted)}
    found = repomod._git_from_path(environ)
    assert found is not None and os.path.dirname(found) != str(planted) and os.path.isabs(found)


def test_a_code_commit_parked_under_a_notes_ref_is_judged_when_pushed_to_a_branch(env: Env) -> None:
    guarded_pair(env)
    env.remote()
    sha = sneak(env, env.a)
    code, err = push(env, env.a, f"{sha}:refs/notes/parked")  # notes namespaces are not judged
    assert code == 0, err
    ranges = env.last("push_gate")["details"]["ranges"]
    assert ranges[0]["skipped"] == "notes_ref"
    code, _ = push(env, env.a, "agent-a")  # the remote "has" it, under refs/notes: no exemption
    assert code != 0 and remote_branches(env) == ""
