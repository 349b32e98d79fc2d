"""Hook install / chain / uninstall with real git: real commits, pushes and worktrees run the scripts.

"Our hook ran" is observed by installing with `interpreter=` a tiny logging script: the installed
hook execs it as `<interp> -c <import switchman.hookrun> <name> args...`, so these tests exercise our
script and git's hook machinery, not the gate logic behind hookrun.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from switchman.errors import BadInput
from switchman.install import (
    HOOK_NAMES,
    MANIFEST_NAME,
    ORIG_SUFFIX,
    hook_status,
    install,
    render_script,
    script_interpreter,
    template_path,
    uninstall,
)
from switchman.repo import locate
from testing.cli import Cli, run_cli
from testing.git import add_worktree, git, write

SYSTEM_PATH = "/usr/bin:/bin"


def make_logger(tmp_path: Path) -> tuple[Path, Path]:
    """An executable standing in for the interpreter: logs argv, cwd and (for stdin hooks) stdin."""
    log = tmp_path / "hook.log"
    interp = tmp_path / "bin" / "fake-python"
    write(
        interp,
        "#!/bin/sh\n"
        f"log='{log}'\n"
        # The hook runs `<interp> -c <code importing switchman.hookrun> NAME args`: log NAME args.
        'case $3 in *"from switchman.hookrun import main"*) ;; *) echo "bad argv: $*" >>"$log"; exit 99 ;; esac\n'
        '[ "$1" = -E ] && shift\n'
        '[ "$1" = -c ] && shift 2\n'
        '{ printf "ours hookrun"; for a in "$@"; do printf " %s" "$a"; done; printf " | pwd=%s\\n" "$PWD"; } >>"$log"\n'
        'case $1 in pre-push|post-rewrite) sed "s/^/ours-stdin /" >>"$log" ;; esac\n'
        "exit ${OURS_EXIT:-0}\n",
    )
    interp.chmod(0o755)
    return interp, log


def foreign_hook(path: Path, log: Path, mode: int = 0o755) -> bytes:
    """A user's own hook: logs argv and stdin, exits with $FOREIGN_EXIT."""
    body = (
        "#!/bin/sh\n# the user's own hook\n"
        f'{{ printf orig; for a in "$@"; do printf " %s" "$a"; done; echo; }} >>\'{log}\'\n'
        f'case ${{0##*/}} in pre-push*) sed "s/^/orig-stdin /" >>\'{log}\' ;; esac\n'
        "exit ${FOREIGN_EXIT:-0}\n"
    ).encode()
    write(path, body)
    path.chmod(mode)
    return body


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def commit(cwd: Path, name: str = "f.txt", check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    write(cwd / name, f"{name} {os.urandom(4).hex()}\n")
    git(cwd, "add", name)
    proc = subprocess.run(
        ["git", "commit", "-q", "-m", f"change {name}"], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, **(env or {})},
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# -- install ----------------------------------------------------------------------------------


def test_install_writes_seven_executable_scripts(repo: Path, tmp_path: Path) -> None:
    interp, log = make_logger(tmp_path)
    result = install(locate(repo), interpreter=str(interp))
    hooks = repo / ".git" / "hooks"
    assert result.hooks_dir == str(hooks)
    assert [h.name for h in result.hooks] == list(HOOK_NAMES) and len(HOOK_NAMES) == 7
    assert {h.action for h in result.hooks} == {"installed"}
    for name in HOOK_NAMES:
        assert mode_of(hooks / name) == 0o755
        assert (hooks / name).read_text() == render_script(name, str(interp))
    assert script_interpreter(render_script("pre-push", str(interp))) == str(interp)
    st = hook_status(locate(repo))
    assert {h.state for h in st.hooks} == {"installed"}
    assert all(h.executable and h.interpreter == str(interp) and h.interpreter_exists for h in st.hooks)
    assert st.hooks_path_scope is None

    commit(repo, env={"SWITCHMAN_NO_SPOOL": "1"})  # post-commit in Python, as before the spool
    got = lines(log)
    assert got[0].startswith(f"ours hookrun pre-commit | pwd={repo}")
    assert got[1].startswith("ours hookrun post-commit")
    # By default post-commit is sh only: it spools (or, in a repo never initialised, does nothing)
    # and never starts the interpreter.
    log.unlink()
    commit(repo)
    assert [g.split(" |")[0] for g in lines(log)] == ["ours hookrun pre-commit"]


def test_reinstall_is_idempotent_and_updates_on_interpreter_change(repo: Path, tmp_path: Path) -> None:
    interp, _ = make_logger(tmp_path)
    paths = locate(repo)
    install(paths, interpreter=str(interp))
    hooks = repo / ".git" / "hooks"
    before = {n: (hooks / n).read_bytes() for n in HOOK_NAMES}
    again = install(paths, interpreter=str(interp))
    assert {h.action for h in again.hooks} == {"unchanged"} and not again.changed
    assert {n: (hooks / n).read_bytes() for n in HOOK_NAMES} == before
    assert not list(hooks.glob(f"*{ORIG_SUFFIX}"))  # never chains its own script

    (hooks / "post-merge").chmod(0o644)
    other = tmp_path / "other-python"
    changed = install(paths, interpreter=str(other))
    assert {h.action for h in changed.hooks} == {"updated"}
    assert script_interpreter((hooks / "pre-commit").read_text()) == str(other)
    assert mode_of(hooks / "post-merge") == 0o755
    st = {h.name: h for h in hook_status(paths).hooks}
    assert st["pre-commit"].state == "installed" and not st["pre-commit"].interpreter_exists

    (hooks / "pre-commit").write_text((hooks / "pre-commit").read_text() + "# edited\n")
    assert {h.name: h for h in hook_status(paths).hooks}["pre-commit"].state == "outdated"


def test_foreign_pre_commit_runs_first_and_its_failure_stops_the_commit(repo: Path, tmp_path: Path) -> None:
    interp, log = make_logger(tmp_path)
    hooks = repo / ".git" / "hooks"
    original = foreign_hook(hooks / "pre-commit", log)
    result = install(locate(repo), interpreter=str(interp))
    actions = {h.name: h for h in result.hooks}
    assert actions["pre-commit"].action == "chained"
    assert actions["pre-commit"].chained == str(hooks / f"pre-commit{ORIG_SUFFIX}")
    assert (hooks / f"pre-commit{ORIG_SUFFIX}").read_bytes() == original
    st = {h.name: h for h in hook_status(locate(repo)).hooks}
    assert st["pre-commit"].chained_exists and st["post-commit"].chained is None

    commit(repo, "a.txt")
    got = lines(log)
    assert got[0] == "orig"
    assert got[1].startswith("ours hookrun pre-commit")

    log.unlink()
    proc = commit(repo, "b.txt", check=False, env={"FOREIGN_EXIT": "3"})
    assert proc.returncode != 0
    assert lines(log) == ["orig"]  # ours did not run, nor did post-commit
    assert "b.txt" not in git(repo, "log", "--name-only", "--format=")

    # Reinstall keeps the chain as it is.
    again = install(locate(repo), interpreter=str(interp))
    assert {h.name: h.action for h in again.hooks}["pre-commit"] == "unchanged"
    assert (hooks / f"pre-commit{ORIG_SUFFIX}").read_bytes() == original


def test_pre_push_argv_and_stdin_reach_both_hooks(repo: Path, tmp_path: Path) -> None:
    interp, log = make_logger(tmp_path)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    foreign_hook(repo / ".git" / "hooks" / "pre-push", log)
    install(locate(repo), interpreter=str(interp))
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "push", "-q", "origin", "main")

    got = lines(log)
    refline = f"refs/heads/main {head} refs/heads/main {'0' * 40}"
    assert got[0] == f"orig origin {remote}"
    assert got[1] == f"orig-stdin {refline}"
    assert got[2].startswith(f"ours hookrun pre-push origin {remote} |")
    assert got[3] == f"ours-stdin {refline}"
    assert git(remote, "rev-parse", "main").strip() == head

    # A failing chained pre-push stops the push before ours runs.
    log.unlink()
    commit(repo, "c.txt")
    log.unlink()
    proc = subprocess.run(
        ["git", "push", "-q", "origin", "main"], cwd=repo, capture_output=True, text=True,
        env={**os.environ, "FOREIGN_EXIT": "1"},
    )
    assert proc.returncode != 0
    assert [x for x in lines(log) if x.startswith("ours")] == []
    assert git(remote, "rev-parse", "main").strip() == head


def test_uninstall_restores_foreign_hooks_byte_for_byte(repo: Path, tmp_path: Path) -> None:
    interp, log = make_logger(tmp_path)
    hooks = repo / ".git" / "hooks"
    pre_commit = foreign_hook(hooks / "pre-commit", log, 0o750)
    post_merge = foreign_hook(hooks / "post-merge", log, 0o644)  # not executable: git ignores it
    (hooks / "pre-commit.sample").write_text("sample\n")
    paths = locate(repo)
    result = install(paths, interpreter=str(interp))
    assert any("post-merge" in w and "not executable" in w for w in result.warnings)

    commit(repo)
    assert lines(log)[0] == "orig"
    git(repo, "checkout", "-q", "-b", "side")
    commit(repo, "side.txt")
    git(repo, "checkout", "-q", "main")
    log.unlink()
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    assert "orig" not in lines(log)  # the non-executable chained post-merge was not run
    assert any(x.startswith("ours hookrun post-merge") for x in lines(log))

    undone = uninstall(paths)
    actions = {h.name: h.action for h in undone.hooks}
    assert actions["pre-commit"] == actions["post-merge"] == "restored"
    assert actions["pre-push"] == "removed"
    assert (hooks / "pre-commit").read_bytes() == pre_commit and mode_of(hooks / "pre-commit") == 0o750
    assert (hooks / "post-merge").read_bytes() == post_merge and mode_of(hooks / "post-merge") == 0o644
    assert sorted(p.name for p in hooks.iterdir()) == ["post-merge", "pre-commit", "pre-commit.sample"]
    assert not (hooks / MANIFEST_NAME).exists()
    assert {h.action for h in uninstall(paths).hooks} <= {"absent", "foreign"}


def test_a_copy_of_our_script_as_the_chained_hook_cannot_recurse(repo: Path, tmp_path: Path) -> None:
    interp, log = make_logger(tmp_path)
    hooks = repo / ".git" / "hooks"
    install(locate(repo), interpreter=str(interp))
    shutil.copy2(hooks / "pre-commit", hooks / f"pre-commit{ORIG_SUFFIX}")
    commit(repo)
    assert sum(x.startswith("ours hookrun pre-commit") for x in lines(log)) == 2


def test_uninstall_leaves_a_replaced_hook_alone(repo: Path, tmp_path: Path) -> None:
    interp, log = make_logger(tmp_path)
    hooks = repo / ".git" / "hooks"
    install(locate(repo), interpreter=str(interp))
    mine = foreign_hook(hooks / "pre-commit", log)
    assert {h.name: h for h in hook_status(locate(repo)).hooks}["pre-commit"].state == "foreign"
    result = uninstall(locate(repo))
    assert {h.name: h.action for h in result.hooks}["pre-commit"] == "foreign"
    assert any(w.startswith("pre-commit: left alone") for w in result.warnings)
    assert (hooks / "pre-commit").read_bytes() == mine
    assert not (hooks / "post-commit").exists()


def test_reinstall_over_replaced_hook_with_kept_original_is_a_conflict(repo: Path, tmp_path: Path, cli: Cli) -> None:
    interp, log = make_logger(tmp_path)
    hooks = repo / ".git" / "hooks"
    first = foreign_hook(hooks / "pre-commit", log)
    install(locate(repo), interpreter=str(interp))
    second = foreign_hook(hooks / "pre-commit", tmp_path / "other.log")
    result = install(locate(repo), interpreter=str(interp))
    assert {h.name: h.action for h in result.hooks}["pre-commit"] == "conflict" and not result.ok
    assert (hooks / "pre-commit").read_bytes() == second
    assert (hooks / f"pre-commit{ORIG_SUFFIX}").read_bytes() == first
    assert cli("hooks", "install").code == 1


# -- core.hooksPath ---------------------------------------------------------------------------


def test_local_relative_hooks_path_is_honoured_and_warned(repo: Path, tmp_path: Path) -> None:
    interp, log = make_logger(tmp_path)
    git(repo, "config", "core.hooksPath", ".githooks")
    result = install(locate(repo), interpreter=str(interp))
    assert result.hooks_dir == str(repo / ".githooks") and result.hooks_path_scope == "local"
    assert any("worktrees created later" in w for w in result.warnings)
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    commit(repo)
    assert lines(log)[0].startswith("ours hookrun pre-commit")
    assert hook_status(locate(repo)).hooks_path == ".githooks"


def test_local_absolute_hooks_path_is_honoured(repo: Path, tmp_path: Path) -> None:
    interp, log = make_logger(tmp_path)
    shared = tmp_path / "shared-hooks"
    git(repo, "config", "core.hooksPath", str(shared))
    result = install(locate(repo), interpreter=str(interp))
    assert result.hooks_dir == str(shared) and not result.warnings
    assert all(mode_of(shared / n) == 0o755 for n in HOOK_NAMES)
    wt = add_worktree(repo, "agent-a")
    commit(wt)
    assert any(x.startswith(f"ours hookrun pre-commit | pwd={wt}") for x in lines(log))


def test_global_hooks_path_is_refused_unless_forced(repo: Path, tmp_path: Path, cli: Cli) -> None:
    interp, _ = make_logger(tmp_path)
    global_dir = tmp_path / "global-hooks"
    git(repo, "config", "--global", "core.hooksPath", str(global_dir))
    with pytest.raises(BadInput) as exc:
        install(locate(repo), interpreter=str(interp))
    assert exc.value.exit_code == 2
    res = cli("hooks", "install")
    assert res.code == 2 and "--force" in res.err and len(res.err.strip().splitlines()) == 1
    assert not global_dir.exists()

    forced = install(locate(repo), force=True, interpreter=str(interp))
    assert forced.hooks_dir == str(global_dir) and forced.hooks_path_scope == "global"
    assert any("global" in w for w in forced.warnings)
    assert (global_dir / "pre-commit").exists()


# -- worktrees and fallbacks ------------------------------------------------------------------


def test_worktree_created_after_install_runs_the_hooks(repo: Path, tmp_path: Path) -> None:
    interp, log = make_logger(tmp_path)
    install(locate(repo), interpreter=str(interp))
    wt = add_worktree(repo, "agent-b")
    log.unlink(missing_ok=True)  # post-checkout of `worktree add`
    commit(wt, env={"SWITCHMAN_NO_SPOOL": "1"})
    got = lines(log)
    assert got[0] == f"ours hookrun pre-commit | pwd={wt}"
    assert got[1] == f"ours hookrun post-commit | pwd={wt}"


def _fake_cli(tmp_path: Path, log: Path) -> Path:
    bindir = tmp_path / "pathbin"
    write(bindir / "switchman-hook", f'#!/bin/sh\n{{ printf path-cli; printf " %s" "$@"; echo; }} >>\'{log}\'\n')
    (bindir / "switchman-hook").chmod(0o755)
    return bindir


@pytest.fixture
def bare_path() -> str:
    if shutil.which("switchman-hook", path=SYSTEM_PATH):
        pytest.skip("switchman-hook is installed system-wide")
    return SYSTEM_PATH


def test_missing_interpreter_falls_back_to_switchman_hook_on_path(repo: Path, tmp_path: Path, bare_path: str) -> None:
    log = tmp_path / "hook.log"
    install(locate(repo), interpreter=str(tmp_path / "gone" / "python"))
    bindir = _fake_cli(tmp_path, log)
    commit(repo, env={"PATH": f"{bindir}:{bare_path}", "SWITCHMAN_NO_SPOOL": "1"})
    assert lines(log)[:2] == ["path-cli hook pre-commit", "path-cli hook post-commit"]


def test_no_interpreter_and_no_cli_refuses_in_an_initialised_repo(repo: Path, tmp_path: Path, bare_path: str) -> None:
    install(locate(repo), interpreter=str(tmp_path / "gone" / "python"))
    (repo / ".switchman").mkdir()
    proc = commit(repo, check=False, env={"PATH": bare_path})
    assert proc.returncode != 0
    assert "pip install switchman-hook" in proc.stderr and "hooks install" in proc.stderr
    assert "f.txt" not in git(repo, "log", "--name-only", "--format=")


def test_no_interpreter_and_no_cli_is_silent_without_state(repo: Path, tmp_path: Path, bare_path: str) -> None:
    install(locate(repo), interpreter=str(tmp_path / "gone" / "python"))
    proc = commit(repo, check=False, env={"PATH": bare_path})
    assert proc.returncode == 0 and proc.stderr == ""


def test_bare_repository_state_dir_is_checked_by_the_script(tmp_path: Path, bare_path: str) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    result = install(locate(bare), interpreter=str(tmp_path / "gone"))
    assert result.hooks_dir == str(bare / "hooks")
    def run(hook: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bare / "hooks" / hook), *args], cwd=bare, capture_output=True, text=True,
            input="", env={**os.environ, "PATH": bare_path},
        )

    assert run("post-merge", "0").returncode == 0
    assert run("pre-push", "origin", "url").returncode == 0
    (bare / "switchman").mkdir()
    # Managed: a gating hook refuses; a recording hook warns and never fails git.
    refused = run("pre-push", "origin", "url")
    assert refused.returncode == 1 and "error: switchman pre-push hook" in refused.stderr
    warned = run("post-merge", "0")
    assert warned.returncode == 0 and "not recorded" in warned.stderr


# -- CLI --------------------------------------------------------------------------------------


def test_console_script_install_status_and_audit(repo: Path) -> None:
    assert run_cli("init", cwd=repo).code == 0
    res = run_cli("hooks", "install", "--json", cwd=repo)
    assert res.code == 0, res.err
    data = res.json
    assert data["ok"] is True and data["hooks_dir"] == str(repo / ".git" / "hooks")
    assert [h["action"] for h in data["hooks"]] == ["installed"] * 7
    assert os.path.isabs(data["interpreter"])

    status = run_cli("hooks", "status", "--json", cwd=repo).json
    assert [h["state"] for h in status["hooks"]] == ["installed"] * 7
    assert status["hooks_path_scope"] is None and status["interpreter"] == data["interpreter"]
    human = run_cli("hooks", "status", cwd=repo)
    assert human.code == 0 and "pre-push" in human.out and "installed" in human.out

    assert run_cli("hooks", "install", "--json", cwd=repo).json["hooks"][0]["action"] == "unchanged"
    rows = run_cli("audit", "list", "--event-type", "hooks_installed", "--json", cwd=repo).json["events"]
    assert len(rows) == 1  # the unchanged reinstall appended nothing
    details = rows[0]["details"]
    details = details if isinstance(details, dict) else json.loads(details)
    assert details["hooks_dir"] == data["hooks_dir"] and details["hooks"] == list(HOOK_NAMES)
    assert details["chained"] == []

    undone = run_cli("hooks", "uninstall", "--json", cwd=repo)
    assert undone.code == 0 and {h["action"] for h in undone.json["hooks"]} == {"removed"}
    rows = run_cli("audit", "list", "--event-type", "hooks_uninstalled", "--json", cwd=repo).json["events"]
    assert len(rows) == 1
    assert run_cli("audit", "verify", cwd=repo).code == 0


def test_init_install_hooks(repo: Path, cli: Cli) -> None:
    res = cli.ok("init", "--install-hooks")
    assert f"hooks installed in {repo / '.git' / 'hooks'}" in res.out
    assert (repo / ".git" / "hooks" / "pre-commit").exists()


def test_hidden_hook_command_passes_argv_through(repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    seen: list[list[str]] = []
    fake = types.ModuleType("switchman.hookrun")
    fake.main = lambda argv: seen.append(argv) or 5  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "switchman.hookrun", fake)
    res = cli("hook", "pre-push", "origin", "--help", "-x")
    assert res.code == 5 and seen == [["pre-push", "origin", "--help", "-x"]]
    listed = [ln.split()[0] for ln in cli.ok("--help").out.split("Commands:")[1].splitlines() if ln.strip()]
    assert "hooks" in listed and "hook" not in listed


# -- packaging --------------------------------------------------------------------------------


def test_pyproject_lists_every_package() -> None:
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(root).parts) for p in (root / "switchman").rglob("__init__.py")
    }
    assert found | {"switchman._hooks"} == listed
    assert Path(template_path()) == root / "hooks" / "hook.sh"


@pytest.mark.slow
def test_build_ships_the_template(tmp_path: Path) -> None:
    """setuptools' build_py (what goes into the wheel) maps hooks/ to switchman/_hooks/.

    Built from a copy of the tree, so the checkout is never written to.
    """
    from testing.build import ROOT as root
    from testing.build import build_py

    out = build_py(tmp_path)
    assert (out / "switchman" / "_hooks" / "hook.sh").read_bytes() == (root / "hooks" / "hook.sh").read_bytes()
    assert (out / "switchman" / "install.py").exists() and (out / "switchman" / "store" / "__init__.py").exists()


def test_a_manager_rewriting_a_chained_hook_is_rechained_and_nothing_is_lost(repo: Path, tmp_path: Path) -> None:
    interp, log = make_logger(tmp_path)
    hooks = repo / ".git" / "hooks"
    v1 = b"#!/bin/sh\ncall_lefthook() { :; }\necho v1 >>'" + str(log).encode() + b"'\n"
    write(hooks / "pre-commit", v1)
    (hooks / "pre-commit").chmod(0o755)
    install(locate(repo), interpreter=str(interp))
    v2 = v1.replace(b"v1", b"v2")
    write(hooks / "pre-commit", v2)  # the manager re-synced its hook over ours
    result = install(locate(repo), interpreter=str(interp))
    assert {h.name: h.action for h in result.hooks}["pre-commit"] == "rechained" and result.ok
    assert (hooks / f"pre-commit{ORIG_SUFFIX}").read_bytes() == v2
    assert (hooks / f"pre-commit{ORIG_SUFFIX}~1").read_bytes() == v1
    assert any("kept as pre-commit.switchman-orig~1" in w for w in result.warnings)
    commit(repo)
    assert "v2" in lines(log) and "v1" not in lines(log)
