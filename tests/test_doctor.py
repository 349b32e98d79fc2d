"""`doctor`: each check fails on a broken setup (with its fix) and passes once the fix is applied.

Real git, real worktrees, real hooks; doctor runs in-process through the CLI (`Cli`), so its own
subprocesses (git, the hook-script probe) see the isolated environment of the `isolated_git` fixture (testing.env.isolate).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from switchman.doctor.checks import CHECK_IDS
from switchman.doctor.probe import PROBE_ENV, PROBE_PREFIX
from switchman.install import install
from switchman.repo import locate
from testing.cli import Cli, run_cli
from testing.git import add_worktree, git, write

SH = "/bin/sh"


# -- helpers ----------------------------------------------------------------------------------


def doctor(cli: Cli, *args: str, cwd: Path | None = None) -> tuple[int, dict[str, Any]]:
    res = cli("doctor", "--json", *args, cwd=cwd)
    assert res.code in (0, 1), res.err
    doc = res.json
    assert doc["ok"] is (res.code == 0)
    assert doc["health"] in ("healthy", "attention", "blocked")
    for c in doc["checks"]:
        assert c["id"] in CHECK_IDS and c["status"] in ("ok", "warn", "fail"), c
        assert "\n" not in c["detail"] and "\n" not in c["fix"], c
    ids = [c["id"] for c in doc["checks"]]
    assert len(ids) == len(set(ids)), ids
    return res.code, doc


def check(doc: dict[str, Any], check_id: str) -> dict[str, Any]:
    found = [c for c in doc["checks"] if c["id"] == check_id]
    assert found, f"no {check_id} check in {[c['id'] for c in doc['checks']]}"
    return found[0]


def assert_broken(cli: Cli, check_id: str, status: str = "fail", *needles: str, cwd: Path | None = None) -> dict[str, Any]:
    """`check_id` reports `status` with a fix; a fail blocks (exit 1), a warn only asks attention."""
    code, doc = doctor(cli, cwd=cwd)
    c = check(doc, check_id)
    assert c["status"] == status, c
    assert c["fix"].strip(), c
    for needle in needles:
        assert needle in c["detail"] or needle in c["fix"], (needle, c)
    if status == "fail":
        assert code == 1 and doc["health"] == "blocked"
    else:
        assert doc["health"] in ("attention", "blocked")
    return c


def assert_ok(cli: Cli, *check_ids: str, cwd: Path | None = None) -> dict[str, Any]:
    _, doc = doctor(cli, cwd=cwd)
    for cid in check_ids:
        assert check(doc, cid)["status"] == "ok", check(doc, cid)
    return doc


def run_fix(fix: str, cwd: Path) -> None:
    """Run a doctor fix exactly as printed (a shell command line)."""
    proc = subprocess.run([SH, "-c", fix], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"fix {fix!r} failed: {proc.stdout}{proc.stderr}"


def hooks_dir(root: Path) -> Path:
    return Path(locate(root).hooks_dir)


def key_file(root: Path) -> Path:
    return root / ".switchman" / "audit.key"


def db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / ".switchman" / "switchman.db", isolation_level=None)


def new_task(cli: Cli, task_id: str, *spec: str) -> None:
    cli.ok("task", "add", task_id, "--id", task_id)
    if spec:
        cli.ok("task", "spec", task_id, *spec)


@pytest.fixture
def protected(agents: tuple[Path, Path], cli: Cli, repo: Path) -> tuple[Path, Path]:
    """Initialised, hooks installed, two registered linked worktrees: a healthy repo."""
    cli.ok("hooks", "install")
    return agents


# -- healthy, read-only, exit codes -------------------------------------------------------------


def test_healthy_repo_is_healthy_and_exits_0(protected: tuple[Path, Path], cli: Cli) -> None:
    code, doc = doctor(cli)
    bad = [c for c in doc["checks"] if c["status"] != "ok"]
    assert code == 0 and doc == {**doc, "ok": True, "health": "healthy"}, bad
    assert not bad
    ids = {c["id"] for c in doc["checks"]}
    assert ids >= set(CHECK_IDS) - {"checkpoint", "server", "server_key"}
    assert not ids & {"server", "server_key"}  # PostgreSQL's checks: not reported on SQLite
    assert "3 worktree(s)" in check(doc, "hooks_fire")["detail"]
    human = cli("doctor")
    assert human.code == 0
    assert human.out.strip().splitlines()[-1].startswith("health: healthy")
    assert "hooks_fire" in human.out and "fix:" not in human.out


def test_not_initialised_fails_state_dir(repo: Path, cli: Cli) -> None:
    c = assert_broken(cli, "state_dir", "fail")
    assert c["fix"] == "switchman-hook init"
    cli.ok("init")
    assert_ok(cli, "state_dir", "key", "schema")


def test_not_a_repo_is_an_environment_error(tmp_path: Path) -> None:
    res = run_cli("doctor", cwd=tmp_path)
    assert res.code == 3 and res.err.startswith("error: not a git repository")


def snapshot(*roots: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mode of every file under the given dirs (SQLite's -shm index excluded)."""
    out: dict[str, tuple[bytes, int]] = {}
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for name in names:
                p = os.path.join(dirpath, name)
                if name.endswith("-shm"):
                    continue
                out[p] = (Path(p).read_bytes(), os.lstat(p).st_mode)
    return out


def test_doctor_is_read_only(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    a, _ = protected
    # Some state to look at, including failing checks: a stale lease and a non-executable hook.
    new_task(cli, "t1", "--allowed-path", "src/auth/**")
    lease = cli.json("lease", "acquire", "t1", "agent-a")["lease"]["id"]
    with db(repo) as conn:
        conn.execute("UPDATE leases SET heartbeat_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", (lease,))
    write(a / "src" / "auth" / "login.py", "changed\n")
    (hooks_dir(repo) / "post-merge").chmod(0o644)
    dbfile = repo / ".switchman" / "switchman.db"
    before_db = hashlib.sha256(dbfile.read_bytes()).hexdigest()
    with db(repo) as conn:
        rows_before = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    before = snapshot(repo / ".switchman", hooks_dir(repo), repo / ".git" / "info", repo / ".git" / "worktrees")
    index_before = (repo / ".git" / "index").read_bytes()
    for args in ((), ("--json",)):
        res = cli("doctor", *args)
        assert res.code == 1
    res = cli("doctor", cwd=a)
    assert res.code == 1
    after = snapshot(repo / ".switchman", hooks_dir(repo), repo / ".git" / "info", repo / ".git" / "worktrees")
    assert hashlib.sha256(dbfile.read_bytes()).hexdigest() == before_db
    for path, value in before.items():
        assert after.get(path) == value, f"doctor changed {path}"
    for path in set(after) - set(before):  # only SQLite's own empty WAL may appear
        assert path.endswith("-wal") and after[path][0] == b"", path
    assert (repo / ".git" / "index").read_bytes() == index_before
    with db(repo) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == rows_before
    assert (a / "src" / "auth" / "login.py").read_text() == "changed\n"


# -- hooks --------------------------------------------------------------------------------------


def test_hooks_missing(agents: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    c = assert_broken(cli, "hooks_installed", "fail", "missing: pre-commit")
    assert c["fix"] == "switchman-hook hooks install"
    fire = assert_broken(cli, "hooks_fire", "fail", "no pre-commit hook")
    assert "3 of 3 worktree(s) — main, agent-a, agent-b: git finds no pre-commit hook" in fire["detail"]
    run_fix(c["fix"], repo)
    assert_ok(cli, "hooks_installed", "hooks_fire", "hooks_interpreter", "hooks_executable")


def test_foreign_hook(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    pre = hooks_dir(repo) / "pre-commit"
    write(pre, "#!/bin/sh\nexit 0\n")
    pre.chmod(0o755)
    c = assert_broken(cli, "hooks_installed", "fail", "foreign: pre-commit")
    assert_broken(cli, "hooks_fire", "fail", "is not switchman's hook")
    run_fix(c["fix"], repo)
    doc = assert_ok(cli, "hooks_installed", "hooks_fire", "hooks_chained")
    assert "1 chained" in check(doc, "hooks_chained")["detail"]


def test_stale_interpreter(protected: tuple[Path, Path], cli: Cli, repo: Path, tmp_path: Path) -> None:
    gone = tmp_path / "old-venv" / "bin" / "python"
    install(locate(repo), interpreter=str(gone))
    c = assert_broken(cli, "hooks_interpreter", "fail", str(gone), "does not exist")
    run_fix(c["fix"], repo)
    assert_ok(cli, "hooks_interpreter", "hooks_fire")


def test_interpreter_that_cannot_import_switchman(protected: tuple[Path, Path], cli: Cli, repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "bin" / "python"
    write(other, "#!/bin/sh\necho 'ModuleNotFoundError: No module named switchman' >&2\nexit 1\n")
    other.chmod(0o755)
    install(locate(repo), interpreter=str(other))
    assert_broken(cli, "hooks_interpreter", "fail", "cannot import switchman.hookrun")
    assert_broken(cli, "hooks_fire", "fail", "fails before reaching switchman")
    res = cli("doctor", "--fix")
    assert res.code == 0, res.out
    assert "fixed: reinstalled hooks" in res.out


def test_hook_not_executable(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    (hooks_dir(repo) / "pre-commit").chmod(0o644)
    c = assert_broken(cli, "hooks_executable", "fail", "pre-commit")
    assert_broken(cli, "hooks_fire", "fail", "not executable")
    run_fix(c["fix"], repo)
    assert_ok(cli, "hooks_executable", "hooks_fire")


def test_chained_hook_vanished(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    pre = hooks_dir(repo) / "pre-commit"
    cli.ok("hooks", "uninstall")
    write(pre, "#!/bin/sh\nexit 0\n")
    pre.chmod(0o755)
    cli.ok("hooks", "install")
    assert_ok(cli, "hooks_chained")
    (hooks_dir(repo) / "pre-commit.switchman-orig").unlink()
    c = assert_broken(cli, "hooks_chained", "fail", "pre-commit → pre-commit.switchman-orig")
    run_fix(c["fix"].split("or accept the loss: ", 1)[1], repo)
    assert_ok(cli, "hooks_chained")


def test_probe_never_runs_the_chained_hook(protected: tuple[Path, Path], cli: Cli, repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "foreign-ran"
    cli.ok("hooks", "uninstall")
    pre = hooks_dir(repo) / "pre-commit"
    write(pre, f"#!/bin/sh\ntouch '{marker}'\nexit 0\n")
    pre.chmod(0o755)
    cli.ok("hooks", "install")
    assert_ok(cli, "hooks_fire")
    assert not marker.exists()


def test_hooks_path_global_elsewhere(protected: tuple[Path, Path], cli: Cli, repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "global-hooks"
    elsewhere.mkdir()
    git(repo, "config", "--global", "core.hooksPath", str(elsewhere))
    c = assert_broken(cli, "hooks_path", "fail", "global", str(elsewhere))
    assert_broken(cli, "hooks_installed", "fail", "missing")
    assert_broken(cli, "hooks_fire", "fail")
    run_fix(c["fix"], repo)
    doc = assert_ok(cli, "hooks_path", "hooks_installed", "hooks_fire")
    assert "(local)" in check(doc, "hooks_path")["detail"]


def test_hooks_path_husky_relative_missing_in_a_worktree(initialised: Path, cli: Cli, repo: Path) -> None:
    git(repo, "config", "core.hooksPath", ".husky/_")
    (repo / ".husky" / "_").mkdir(parents=True)
    cli.ok("hooks", "install")
    late = add_worktree(repo, "agent-late")
    cli.ok("worktree", "sync")
    c = assert_broken(cli, "hooks_path", "fail", str(late))
    assert_broken(cli, "hooks_fire", "fail", "agent-late: git finds no pre-commit hook")
    assert c["fix"] == f"switchman-hook -C {late} hooks install"
    run_fix(c["fix"], repo)
    assert_ok(cli, "hooks_path", "hooks_fire", "hooks_installed")


# -- full probe protocol (a hookrun that honours SWITCHMAN_DOCTOR_PROBE) ---------------------------


PROBE_INTERP = """#!{python}
# Stands in for an interpreter whose switchman.hookrun honours the doctor probe (see doctor/probe.py).
import json, os, sys
log = {log!r}
args = sys.argv[1:]
if args[:1] == ["-E"]:
    args = args[1:]
code, rest = args[1], args[2:]
if "PROBE_ENV" in code:  # doctor's import check
    print(json.dumps({{"version": {version!r}, "file": "fake", "probe": {probe_env!r}}}))
    sys.exit(0)
with open(log, "a") as fh:
    fh.write(json.dumps({{"argv": rest, "cwd": os.getcwd(), "probe": os.environ.get({probe_env!r}),
                         "index": os.environ.get("GIT_INDEX_FILE")}}) + "\\n")
if os.environ.get({probe_env!r}) != "1":
    sys.exit(99)  # would run the gate: doctor must never get here
sys.path.insert(0, {src!r})
from switchman.repo import locate
p = locate()
state = os.environ.get("FAKE_STATE_DIR") or p.state_dir
print({prefix!r} + json.dumps({{"hook": rest[0], "toplevel": p.toplevel, "state_dir": state, "managed": True}}))
sys.exit(int(os.environ.get("FAKE_PROBE_EXIT", "0")))
"""


def probe_interpreter(tmp_path: Path) -> tuple[Path, Path]:
    """A fake interpreter for the installed hooks that speaks doctor's probe protocol."""
    from switchman import __version__

    log = tmp_path / "probe.log"
    interp = tmp_path / "probe-bin" / "python"
    src = str(Path(__file__).resolve().parent.parent)
    write(interp, PROBE_INTERP.format(python=sys.executable, log=str(log), version=__version__, src=src, prefix=PROBE_PREFIX, probe_env=PROBE_ENV))
    interp.chmod(0o755)
    return interp, log


def test_probe_answers_in_every_worktree_without_running_the_gate(
    protected: tuple[Path, Path], cli: Cli, repo: Path, tmp_path: Path
) -> None:
    import json

    interp, log = probe_interpreter(tmp_path)
    install(locate(repo), interpreter=str(interp))
    doc = assert_ok(cli, "hooks_fire", "hooks_interpreter")
    assert "scratch" not in check(doc, "hooks_fire")["detail"]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    a, b = protected
    assert sorted(c["cwd"] for c in calls) == sorted([str(repo), str(a), str(b)])
    for c in calls:
        assert c["argv"] == ["pre-commit"] and c["probe"] == "1"
        assert c["index"] and not c["index"].startswith(str(repo)), c  # a throwaway copy


def test_probe_wrong_answer_fails(protected: tuple[Path, Path], cli: Cli, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    interp, _ = probe_interpreter(tmp_path)
    install(locate(repo), interpreter=str(interp))
    monkeypatch.setenv("FAKE_STATE_DIR", str(tmp_path / "elsewhere"))
    assert_broken(cli, "hooks_fire", "fail", "it looks at")
    monkeypatch.delenv("FAKE_STATE_DIR")
    monkeypatch.setenv("FAKE_PROBE_EXIT", "3")
    assert_broken(cli, "hooks_fire", "fail", "did not answer the probe")


# -- key, exclude, store, audit -------------------------------------------------------------------


def test_key_mode_0644(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    key_file(repo).chmod(0o644)
    c = assert_broken(cli, "key_mode", "fail", "0644")
    assert c["fix"] == f"chmod 600 {key_file(repo)}"
    run_fix(c["fix"], repo)
    assert_ok(cli, "key_mode")
    assert stat.S_IMODE(key_file(repo).stat().st_mode) == 0o600


def test_key_tracked(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    git(repo, "add", "-f", ".switchman/audit.key")
    c = assert_broken(cli, "key_tracked", "fail", ".switchman/audit.key")
    run_fix(c["fix"], repo)
    assert_ok(cli, "key_tracked", "key_history")
    assert key_file(repo).exists()


def test_key_committed_in_history(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "leak")
    git(repo, "add", "-f", ".switchman/audit.key")
    git(repo, "commit", "-q", "--no-verify", "-m", "oops")
    git(repo, "rm", "-q", "--cached", ".switchman/audit.key")
    git(repo, "commit", "-q", "--no-verify", "-m", "untrack")
    git(repo, "checkout", "-q", "main")
    assert_ok(cli, "key_tracked")
    c = assert_broken(cli, "key_history", "fail", "in 2 commit(s)", "filter-repo")
    # The real fix rewrites history with git filter-repo; dropping the only branch that holds it
    # is the same outcome for `git log --all`.
    git(repo, "branch", "-q", "-D", "leak")
    assert_ok(cli, "key_history")
    assert c["fix"].startswith("cp -p ")


def test_state_dir_not_excluded(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    exclude = repo / ".git" / "info" / "exclude"
    exclude.write_text("".join(ln for ln in exclude.read_text().splitlines(True) if "switchman" not in ln))
    c = assert_broken(cli, "excluded", "fail", "not ignored")
    res = cli("doctor", "--json", "--fix")
    assert res.code == 0
    assert any("exclude" in f for f in res.json["fixed"])
    assert_ok(cli, "excluded")
    assert c["fix"] == "switchman-hook doctor --fix"


def test_fix_applies_all_safe_fixes(agents: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    key_file(repo).chmod(0o640)
    exclude = repo / ".git" / "info" / "exclude"
    exclude.write_text("")
    code, _ = doctor(cli)
    assert code == 1
    res = cli("doctor", "--fix")
    assert res.code == 0, res.out
    assert [ln for ln in res.out.splitlines() if ln.startswith("fixed: ")] == [
        f"fixed: chmod 600 {key_file(repo)}",
        f"fixed: added /.switchman/ to {exclude}",
        *[ln for ln in res.out.splitlines() if ln.startswith("fixed: reinstalled hooks")],
    ]
    assert "health: healthy" in res.out


def test_tampered_audit_row(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    with db(repo) as conn:
        original = conn.execute("SELECT details FROM audit_log WHERE sequence = 2").fetchone()[0]
        conn.execute("UPDATE audit_log SET details = '{\"forged\":true}' WHERE sequence = 2")
    c = assert_broken(cli, "audit_chain", "fail", "entry_hash_mismatch", "sequence 2")
    assert "audit verify" in c["fix"]
    with db(repo) as conn:  # "restore from a backup"
        conn.execute("UPDATE audit_log SET details = ? WHERE sequence = 2", (original,))
    assert_ok(cli, "audit_chain")


def test_missing_key_with_rows(protected: tuple[Path, Path], cli: Cli, repo: Path, tmp_path: Path) -> None:
    saved = tmp_path / "key.bak"
    key_file(repo).rename(saved)
    c = assert_broken(cli, "key", "fail", "key_missing")
    assert_broken(cli, "audit_chain", "fail", "key_missing")
    assert "restore" in c["fix"]
    saved.rename(key_file(repo))
    assert_ok(cli, "key", "audit_chain")


def test_older_schema_warns(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    with db(repo) as conn:
        conn.execute("PRAGMA user_version = 2")
    c = assert_broken(cli, "schema", "warn", "older")
    run_fix(c["fix"], repo)
    assert_ok(cli, "schema")


def test_corrupt_database(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    (repo / ".switchman" / "switchman.db").write_bytes(b"not a database at all" * 100)
    code, doc = doctor(cli)
    assert code == 1
    c = check(doc, "integrity")
    assert c["status"] == "fail" and c["fix"]


def test_malformed_policy(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    policy = repo / ".switchman" / "enforcement.json"
    good = policy.read_text()
    policy.write_text('{"default_mode": "guarded",\n  oops}\n')
    assert_broken(cli, "policy", "fail", "line 2")
    policy.write_text(good)
    assert_ok(cli, "policy")


# -- coordination state ---------------------------------------------------------------------------


def test_stale_lease(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    new_task(cli, "t1", "--allowed-path", "src/auth/**")
    lease = cli.json("lease", "acquire", "t1", "agent-a")["lease"]["id"]
    assert_ok(cli, "stale_leases")
    with db(repo) as conn:
        conn.execute("UPDATE leases SET heartbeat_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", (lease,))
    c = assert_broken(cli, "stale_leases", "warn", lease)
    assert c["fix"] == "switchman-hook lease reap"
    run_fix(c["fix"], repo)
    assert_ok(cli, "stale_leases")


def test_vanished_worktree(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    _, b = protected
    new_task(cli, "t2", "--allowed-path", "src/billing/**")
    lease = cli.json("lease", "acquire", "t2", "agent-b")["lease"]["id"]
    cli.ok("claim", "t2", "agent-b", "src/billing/invoice.py")
    subprocess.run(["rm", "-rf", str(b)], check=True)
    c = assert_broken(cli, "orphaned_leases", "fail", lease, "agent-b")
    w = assert_broken(cli, "worktrees", "warn", "agent-b", "prunable")
    assert_ok(cli, "hooks_fire")  # the vanished worktree is not probed
    run_fix(c["fix"], repo)
    run_fix(w["fix"], repo)
    doc = assert_ok(cli, "orphaned_leases", "worktrees")
    assert "1 registration(s) of removed worktrees" in check(doc, "worktrees")["detail"]
    assert cli.json("task", "show", "t2")["task"]["status"] == "pending"


def test_unregistered_worktree(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    late = repo.parent / "agent-c"  # made with hooks off: post-checkout would register it
    git(repo, "-c", "core.hooksPath=/dev/null", "worktree", "add", "-q", "-b", "agent-c", str(late))
    c = assert_broken(cli, "worktrees", "warn", str(late), "not registered")
    run_fix(c["fix"], repo)
    assert_ok(cli, "worktrees")


def test_non_compliant_worktree_lists_its_files(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    a, _ = protected
    new_task(cli, "auth", "--allowed-path", "src/auth/**")
    cli.ok("lease", "acquire", "auth", "agent-a")
    write(a / "src" / "billing" / "invoice.py", "TOTAL = 2\n")
    git(a, "commit", "-q", "--no-verify", "-am", "sneak a billing change past the gate")
    c = assert_broken(cli, "non_compliant", "warn", "agent-a", "src/billing/invoice.py", "skipped the gate")
    assert c["fix"] == f"switchman-hook -C {a} gate commit"
    # SPEC §10: a bypass stays visible while its commit is on a local branch, whatever gate runs
    # after it; once the commit is gone from every branch the gate's run clears it.
    run_fix(c["fix"], repo)
    assert_broken(cli, "non_compliant", "warn", "agent-a", "skipped the gate")
    git(a, "reset", "-q", "--hard", "HEAD~1")
    run_fix(c["fix"], repo)
    assert_ok(cli, "non_compliant")


def test_non_compliant_from_a_refused_commit(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    a, _ = protected
    cli.ok("worktree", "mode", "agent-a", "guarded")
    new_task(cli, "auth", "--allowed-path", "src/auth/**")
    cli.ok("lease", "acquire", "auth", "agent-a")
    write(a / "docs" / "guide.md", "# changed\n")
    git(a, "add", "docs/guide.md")
    proc = subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=a, capture_output=True)
    assert proc.returncode != 0
    assert_broken(cli, "non_compliant", "warn", "docs/guide.md", "commit_gate")


def test_blocked_validation(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    new_task(cli, "impl", "--pipeline", "p1", "--task-type", "implementation", "--require-type", "tests",
             "--validation", "blocked", "--allowed-path", "src/auth/**")
    new_task(cli, "tests", "--pipeline", "p1", "--task-type", "tests", "--allowed-path", "tests/**")
    cli.ok("lease", "acquire", "impl", "agent-a")
    c = assert_broken(cli, "validations", "fail", "impl", "blocked", "tests")
    assert c["fix"].startswith("switchman-hook task done tests")
    run_fix(c["fix"], repo)
    assert_ok(cli, "validations")


def test_pending_validation_warns(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    new_task(cli, "impl", "--pipeline", "p1", "--task-type", "implementation", "--require-type", "docs",
             "--validation", "warn", "--allowed-path", "src/auth/**")
    cli.ok("lease", "acquire", "impl", "agent-a")
    code, doc = doctor(cli)
    c = check(doc, "validations")
    assert c["status"] == "warn" and "pending_validation" in c["detail"] and code == 0


def test_stale_invalidation(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    new_task(cli, "a1", "--pipeline", "pa", "--allowed-path", "src/**")
    cli.ok("lease", "acquire", "a1", "agent-a")
    cli.ok("task", "done", "a1")
    new_task(cli, "b2", "--pipeline", "pb", "--allowed-path", "src/auth/**")
    cli.ok("lease", "acquire", "b2", "agent-b")
    c = assert_broken(cli, "invalidations", "warn", "a1")
    assert c["fix"] == "switchman-hook task retry a1"
    run_fix(c["fix"], repo)
    assert_ok(cli, "invalidations")


FRAMEWORK_SCRIPT = "#!/bin/sh\n# File generated by pre-commit: https://pre-commit.com\nexit 0\n"
ALL_TYPES = "-t pre-commit -t pre-merge-commit -t post-commit -t post-checkout -t post-merge -t post-rewrite"


def framework_install(repo: Path, *types: str) -> None:
    """What `pre-commit install -t ...` leaves: its own script (with its marker) per hook type."""
    for t in types:
        script = hooks_dir(repo) / t
        write(script, FRAMEWORK_SCRIPT)
        script.chmod(0o755)


def test_framework_config_without_framework_hooks(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    write(repo / ".pre-commit-config.yaml", "repos:\n- repo: local\n  hooks:\n  - id: switchman-gate\n  - id: switchman-record\n")
    c = assert_broken(cli, "precommit_framework", "warn", "direct hooks cover it")
    assert c["fix"] == f"switchman-hook hooks uninstall && pre-commit install {ALL_TYPES}"
    cli.ok("hooks", "uninstall")  # now nothing runs switchman at all
    c = assert_broken(cli, "precommit_framework", "fail", "not installed for: pre-commit, post-commit")
    assert c["fix"] == f"pre-commit install {ALL_TYPES}"
    assert_broken(cli, "hooks_installed", "fail", "missing")
    framework_install(repo, "pre-commit", "post-commit")
    c = assert_broken(cli, "precommit_framework", "warn", "pre-merge-commit, post-checkout, post-merge, post-rewrite")
    framework_install(repo, "pre-merge-commit", "post-checkout", "post-merge", "post-rewrite")
    doc = assert_ok(cli, "precommit_framework", "hooks_installed")
    assert check(doc, "hooks_fire")["status"] == "warn"  # not probed: it would run every configured hook
    # Direct hooks on top chain the framework's scripts: switchman would run twice.
    cli.ok("hooks", "install")
    c = assert_broken(cli, "precommit_framework", "warn", "twice")
    assert c["fix"] == "switchman-hook hooks uninstall"


def test_framework_without_record_warns(protected: tuple[Path, Path], cli: Cli, repo: Path) -> None:
    write(repo / ".pre-commit-config.yaml", "repos:\n- repo: local\n  hooks:\n  - id: switchman-gate\n")
    cli.ok("hooks", "uninstall")
    framework_install(repo, "pre-commit", "pre-merge-commit")
    assert_broken(cli, "precommit_framework", "warn", "--no-verify bypasses go unnoticed")
