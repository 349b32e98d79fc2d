"""`monitor once|watch`: observation, compliance and quarantine over real linked worktrees."""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from testing.cli import Cli
from testing.git import add_worktree, git, write

README = b"hello\n"
LOGIN = b"def login():\n    return True\n"


# --- helpers -------------------------------------------------------------------------------------


def once(cli: Cli, *args: str) -> dict[str, Any]:
    return cli.json("monitor", "once", *args)  # type: ignore[no-any-return]


def report(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(w for w in data["worktrees"] if w["name"] == name)


def events(cli: Cli, event_type: str) -> list[dict[str, Any]]:
    rows = cli.json("audit", "list", "--event-type", event_type, "--limit", "1000")["events"]
    for r in rows:
        r["details"] = json.loads(r["details"]) if r["details"] else None
    return rows  # type: ignore[no-any-return]


def lease(cli: Cli, task: str, worktree: str, *claims: str, scope: str | None = None) -> None:
    cli.ok("task", "add", task, "--id", task)
    if scope:
        cli.ok("task", "spec", task, "--allowed-path", scope)
    cli.ok("lease", "acquire", task, worktree)
    if claims:
        cli.ok("claim", task, worktree, *claims)


def quarantine_root(repo: Path) -> Path:
    return repo / ".switchman" / "quarantine"


def quarantined(repo: Path, worktree: str) -> dict[str, bytes]:
    """relative path (under any timestamp) -> bytes (a symlink's target) for one worktree."""
    out: dict[str, bytes] = {}
    root = quarantine_root(repo)
    if not root.exists():
        return out
    for stamp in sorted(root.iterdir()):
        base = stamp / worktree
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                full = Path(dirpath) / name
                rel = os.path.relpath(full, base)
                out[f"{stamp.name}/{rel}"] = os.fsencode(os.readlink(full)) if full.is_symlink() else full.read_bytes()
    return out


def status(path: Path) -> str:
    return git(path, "status", "--porcelain", "-uall")


# --- observation ---------------------------------------------------------------------------------


def test_first_pass_only_baselines(cli: Cli, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    write(b / "notes.txt", "before the monitor ran\n")
    write(b / "README.md", "changed before\n")
    first = once(cli)
    wb = report(first, "agent-b")
    assert wb["baselined"] is True
    assert wb["observed"] == [] and wb["quarantined"] == []
    assert sorted(wb["changed_files"]) == ["README.md", "notes.txt"]
    assert {w["name"] for w in first["worktrees"]} == {"main", "agent-a", "agent-b"}
    assert events(cli, "write_observed") == []
    second = once(cli, "--quarantine")
    assert report(second, "agent-b")["baselined"] is False
    assert events(cli, "write_observed") == []
    assert events(cli, "write_quarantined") == []
    assert (b / "notes.txt").exists() and (b / "README.md").read_text() == "changed before\n"


def test_new_unowned_file_is_denied_and_non_compliant(cli: Cli, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    once(cli)
    write(b / "notes.txt", "unowned\n")
    data = once(cli)
    wb = report(data, "agent-b")
    assert wb["observed"] == [{"file": "notes.txt", "reason_code": "no_active_lease", "allowed": False}]
    assert wb["compliance_state"] == "non_compliant"
    assert report(data, "agent-a")["compliance_state"] == "observed"
    [row] = events(cli, "write_observed")
    assert (row["status"], row["reason_code"], row["worktree"], row["file_path"]) == (
        "denied",
        "no_active_lease",
        "agent-b",
        "notes.txt",
    )
    assert row["details"]["source"] == "monitor" and row["details"]["kind"] == "untracked"
    assert len(row["details"]["fingerprint"]) == 40
    listed = {w["name"]: w for w in cli.json("worktree", "list")["worktrees"]}
    assert listed["agent-b"]["compliance_state"] == "non_compliant"
    assert (b / "notes.txt").read_text() == "unowned\n"  # observed mode, no flag: untouched


def test_claimed_file_is_allowed_and_managed(cli: Cli, agents: tuple[Path, Path]) -> None:
    a, _b = agents
    lease(cli, "T-auth", "agent-a", "src/auth/login.py")
    once(cli)
    write(a / "src" / "auth" / "login.py", "def login():\n    return False\n")
    data = once(cli)
    wa = report(data, "agent-a")
    assert wa["observed"] == [{"file": "src/auth/login.py", "reason_code": "path_claimed", "allowed": True}]
    assert wa["compliance_state"] == "managed"
    [row] = events(cli, "write_observed")
    assert row["status"] == "allowed" and row["task_id"] == "T-auth" and row["lease_id"]


def test_touch_is_not_a_change_but_a_same_size_edit_is(cli: Cli, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    write(b / "README.md", "12345\n")
    once(cli)
    os.utime(b / "README.md", (1, 1))
    os.utime(b / "docs" / "guide.md", None)
    data = once(cli)
    assert report(data, "agent-b")["observed"] == []
    st_before = os.stat(b / "README.md")
    write(b / "README.md", "54321\n")
    os.utime(b / "README.md", ns=(st_before.st_atime_ns, st_before.st_mtime_ns))
    data = once(cli)
    assert [o["file"] for o in report(data, "agent-b")["observed"]] == ["README.md"]


def test_json_shape(cli: Cli, agents: tuple[Path, Path]) -> None:
    data = once(cli)
    assert set(data) == {"ok", "worktrees", "skipped", "summary"}
    assert data["ok"] is True and isinstance(data["summary"], str)
    for w in data["worktrees"]:
        assert set(w) >= {
            "name",
            "path",
            "mode",
            "compliance_state",
            "changed_files",
            "observed",
            "quarantined",
            "warnings",
        }


def test_missing_worktree_directory_is_skipped(cli: Cli, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    shutil.rmtree(b)
    data = once(cli)
    assert data["skipped"] == [{"name": "agent-b", "path": str(b), "reason": "directory missing"}]
    assert "agent-b" not in {w["name"] for w in data["worktrees"]}


# --- quarantine ----------------------------------------------------------------------------------


def test_quarantine_moves_untracked_unowned_file(cli: Cli, repo: Path, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    once(cli)
    payload = bytes(range(256)) * 3
    write(b / "new" / "deep" / "blob.bin", payload)
    data = once(cli, "--quarantine")
    wb = report(data, "agent-b")
    [q] = wb["quarantined"]
    assert q["file"] == "new/deep/blob.bin" and q["action"] == "moved"
    qpath = Path(q["quarantine_path"])
    assert qpath.read_bytes() == payload
    assert qpath.relative_to(quarantine_root(repo)).parts[1:] == ("agent-b", "new", "deep", "blob.bin")
    assert not (b / "new").exists()  # the directories it emptied are gone too
    assert wb["compliance_state"] == "observed"
    [row] = events(cli, "write_quarantined")
    assert (row["status"], row["reason_code"], row["file_path"]) == ("denied", "no_active_lease", "new/deep/blob.bin")
    assert row["details"]["action"] == "moved" and row["details"]["quarantine_path"] == str(qpath)
    assert row["details"]["fingerprint"] == events(cli, "write_observed")[0]["details"]["fingerprint"]
    again = once(cli, "--quarantine")
    assert report(again, "agent-b")["observed"] == [] and report(again, "agent-b")["quarantined"] == []
    assert status(b) == ""
    cli.ok("audit", "verify")


def test_quarantine_restores_modified_tracked_file(cli: Cli, repo: Path, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    os.chmod(b / "src" / "billing" / "invoice.py", 0o755)
    git(b, "add", "src/billing/invoice.py")  # index now has mode 100755: restored as executable
    once(cli)
    edited = b"TOTAL = 2\r\n\x00binary tail"
    write(b / "src" / "billing" / "invoice.py", edited)
    write(b / "README.md", "agent b was here\n")
    data = once(cli, "--quarantine")
    wb = report(data, "agent-b")
    got = {q["file"]: q for q in wb["quarantined"]}
    assert set(got) == {"README.md", "src/billing/invoice.py"}
    assert {q["action"] for q in got.values()} == {"restored"}
    assert (b / "README.md").read_bytes() == README
    assert Path(got["README.md"]["quarantine_path"]).read_bytes() == b"agent b was here\n"
    assert (b / "src" / "billing" / "invoice.py").read_bytes() == b"TOTAL = 1\n"
    assert os.access(b / "src" / "billing" / "invoice.py", os.X_OK)
    assert Path(got["src/billing/invoice.py"]["quarantine_path"]).read_bytes() == edited
    # Only the staged mode change is left; it still differs from HEAD, so it stays a violation.
    assert status(b) == "M  src/billing/invoice.py\n"
    assert wb["compliance_state"] == "non_compliant"
    assert report(once(cli, "--quarantine"), "agent-b")["observed"] == []


def test_quarantine_restores_deleted_tracked_file(cli: Cli, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    once(cli)
    (b / "docs" / "guide.md").unlink()
    (b / "docs").rmdir()
    data = once(cli, "--quarantine")
    [q] = report(data, "agent-b")["quarantined"]
    assert q == {"file": "docs/guide.md", "quarantine_path": None, "action": "restored"}
    assert (b / "docs" / "guide.md").read_text() == "# guide\n"
    assert status(b) == ""


def test_strict_mode_quarantines_without_the_flag(cli: Cli, agents: tuple[Path, Path]) -> None:
    a, b = agents
    cli.ok("worktree", "mode", "agent-b", "strict")
    once(cli)
    write(b / "stray.txt", "x")
    write(a / "stray.txt", "y")
    data = once(cli)
    assert [q["file"] for q in report(data, "agent-b")["quarantined"]] == ["stray.txt"]
    assert report(data, "agent-a")["quarantined"] == []  # observed mode, no flag
    assert not (b / "stray.txt").exists() and (a / "stray.txt").read_text() == "y"


def test_observed_mode_without_flag_never_touches_files(cli: Cli, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    once(cli)
    write(b / "README.md", "edited\n")
    write(b / "untracked.txt", "u\n")
    (b / "docs" / "guide.md").unlink()
    before = status(b)
    data = once(cli)
    assert report(data, "agent-b")["quarantined"] == []
    assert len(report(data, "agent-b")["observed"]) == 3
    assert status(b) == before
    assert (b / "README.md").read_text() == "edited\n" and (b / "untracked.txt").read_text() == "u\n"
    assert not quarantine_root(b.parent / "repo").exists()


def test_owned_paths_are_never_quarantined(cli: Cli, repo: Path, agents: tuple[Path, Path]) -> None:
    a, b = agents
    cli.ok("worktree", "mode", "agent-a", "strict")
    cli.ok("worktree", "mode", "agent-b", "strict")
    lease(cli, "T-auth", "agent-a", "src/auth/login.py", "docs/guide.md", scope="src/auth/**")
    once(cli)
    write(a / "src" / "auth" / "login.py", "claimed edit\n")
    write(a / "src" / "auth" / "fresh.py", "in scope\n")
    write(a / "docs" / "guide.md", "claimed too\n")
    write(b / "docs" / "guide.md", "b edits a's file\n")
    data = once(cli, "--quarantine")
    wa, wb = report(data, "agent-a"), report(data, "agent-b")
    assert wa["quarantined"] == [] and wa["compliance_state"] == "managed"
    assert {o["file"]: o["reason_code"] for o in wa["observed"]} == {
        "src/auth/login.py": "path_claimed",
        "src/auth/fresh.py": "path_within_task_scope",
        "docs/guide.md": "path_claimed",
    }
    assert (a / "src" / "auth" / "login.py").read_text() == "claimed edit\n"
    assert (a / "src" / "auth" / "fresh.py").read_text() == "in scope\n"
    # agent-b has no lease: its edit of a path agent-a claims is quarantined
    assert [(o["file"], o["reason_code"]) for o in wb["observed"]] == [("docs/guide.md", "no_active_lease")]
    assert [q["file"] for q in wb["quarantined"]] == ["docs/guide.md"]
    assert (b / "docs" / "guide.md").read_text() == "# guide\n"


def test_claimed_by_other_lease_is_quarantined(cli: Cli, agents: tuple[Path, Path]) -> None:
    a, b = agents
    lease(cli, "T-a", "agent-a", "docs/guide.md")
    lease(cli, "T-b", "agent-b", "README.md")
    once(cli)
    write(b / "docs" / "guide.md", "trampling\n")
    write(b / "README.md", "mine\n")
    data = once(cli, "--quarantine")
    wb = report(data, "agent-b")
    assert {o["file"]: o["reason_code"] for o in wb["observed"]} == {
        "docs/guide.md": "path_claimed_by_other_lease",
        "README.md": "path_claimed",
    }
    assert [q["file"] for q in wb["quarantined"]] == ["docs/guide.md"]
    assert wb["compliance_state"] == "managed"
    [row] = events(cli, "write_quarantined")
    assert row["reason_code"] == "path_claimed_by_other_lease" and row["task_id"] == "T-b"
    assert (b / "README.md").read_text() == "mine\n"


def test_symlink_is_moved_not_followed(cli: Cli, repo: Path, agents: tuple[Path, Path], tmp_path: Path) -> None:
    _a, b = agents
    target = write(tmp_path / "outside.txt", "precious\n")
    once(cli)
    os.symlink(target, b / "link")
    data = once(cli, "--quarantine")
    [q] = report(data, "agent-b")["quarantined"]
    qpath = Path(q["quarantine_path"])
    assert qpath.is_symlink() and os.readlink(qpath) == str(target)
    assert not os.path.lexists(b / "link")
    assert target.read_text() == "precious\n"


def test_nested_repository_is_skipped_with_a_warning(cli: Cli, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    once(cli)
    nested = b / "vendor" / "lib"
    nested.mkdir(parents=True)
    git(nested, "init", "-q")
    write(nested / "code.c", "int x;\n")
    data = once(cli, "--quarantine")
    wb = report(data, "agent-b")
    assert wb["quarantined"] == [] and data["ok"] is True
    assert any("directory" in w for w in wb["warnings"])
    assert (nested / "code.c").read_text() == "int x;\n"


def test_staged_change_is_left_for_the_commit_gate(cli: Cli, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    once(cli)
    write(b / "staged.txt", "staged\n")
    git(b, "add", "staged.txt")
    data = once(cli, "--quarantine")
    wb = report(data, "agent-b")
    assert wb["quarantined"] == [] and any("staged" in w for w in wb["warnings"])
    assert (b / "staged.txt").read_text() == "staged\n"


def test_odd_file_names_round_trip(cli: Cli, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    once(cli)
    name = b"we ird\ncaf\xe9.txt"
    (b / os.fsdecode(name)).write_bytes(b"odd\n")
    data = once(cli, "--quarantine")
    [q] = report(data, "agent-b")["quarantined"]
    assert os.fsencode(q["file"]) == name
    assert Path(q["quarantine_path"]).read_bytes() == b"odd\n"
    assert status(b) == ""
    cli.ok("audit", "verify")


def test_failed_copy_leaves_the_file_and_reports(cli: Cli, agents: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from switchman import quarantine

    _a, b = agents
    once(cli)
    write(b / "README.md", "keep me\n")

    def broken_copy(*_args: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(quarantine, "_copy", broken_copy)
    res = cli("monitor", "once", "--quarantine", "--json")
    assert res.code == 1
    wb = report(res.json, "agent-b")
    assert res.json["ok"] is False and wb["quarantined"] == []
    assert "No space left" in wb["failures"][0]
    assert (b / "README.md").read_text() == "keep me\n"
    assert events(cli, "write_quarantined") == []
    assert wb["compliance_state"] == "non_compliant"
    human = cli("monitor", "once", "--quarantine")
    assert human.code == 0  # nothing newly changed: nothing attempted


def test_changed_after_observation_is_left_in_place(cli: Cli, agents: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy must match what was observed; a write racing the monitor wins."""
    from switchman import fingerprints, monitor

    _a, b = agents
    once(cli)
    write(b / "README.md", "observed\n")
    real = fingerprints.worktree_changes

    def racing(root: str, env: object = None) -> list[fingerprints.Change]:
        changes = real(root, env)  # type: ignore[arg-type]
        if root == str(b):
            write(b / "README.md", "written during the pass\n")
        return changes

    monkeypatch.setattr(monitor.fingerprints, "worktree_changes", racing)
    data = once(cli, "--quarantine")
    wb = report(data, "agent-b")
    assert wb["quarantined"] == [] and data["ok"] is True
    assert any("changed while being quarantined" in w for w in wb["warnings"])
    assert (b / "README.md").read_text() == "written during the pass\n"


def test_cross_filesystem_move_copies_verifies_then_deletes(
    cli: Cli, repo: Path, agents: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _a, b = agents
    once(cli)
    write(b / "big.bin", os.urandom(3 << 20))
    expected = (b / "big.bin").read_bytes()
    qroot = str(quarantine_root(repo))
    real_rename = os.rename

    def rename(src: str, dst: str) -> None:
        if str(dst).startswith(qroot) and not str(src).startswith(qroot):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    data = once(cli, "--quarantine")
    [q] = report(data, "agent-b")["quarantined"]
    assert Path(q["quarantine_path"]).read_bytes() == expected
    assert not (b / "big.bin").exists() and status(b) == ""


def test_sigint_waits_for_the_quarantine_to_finish() -> None:
    import signal
    import threading

    from switchman.monitor import _sigint_deferred

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    reached = []
    with pytest.raises(KeyboardInterrupt), _sigint_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        reached.append(True)
    assert reached == [True]


# --- CLI -----------------------------------------------------------------------------------------


def test_watch_runs_the_given_number_of_passes(cli: Cli, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    res = cli.ok("monitor", "watch", "--iterations", "2", "--interval", "0", "--json")
    docs = [json.loads(line) for line in res.out.splitlines()]
    assert len(docs) == 2 and all(d["ok"] for d in docs)
    assert report(docs[0], "agent-b")["baselined"] and not report(docs[1], "agent-b")["baselined"]
    write(b / "x.txt", "x")
    human = cli.ok("monitor", "watch", "--iterations", "2", "--interval", "0", "--quarantine")
    assert "switchman monitor:" in human.out and "quarantined x.txt (moved)" in human.out


def test_watch_exits_0_on_ctrl_c(cli: Cli, agents: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from switchman.cli import monitor_cmd

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(monitor_cmd.time, "sleep", interrupted)
    res = cli("monitor", "watch", "--interval", "5")
    assert res.code == 0 and "switchman monitor:" in res.out


def test_human_output(cli: Cli, agents: tuple[Path, Path]) -> None:
    _a, b = agents
    assert "first pass: baseline recorded" in cli.ok("monitor", "once").out
    write(b / "n.txt", "n")
    out = cli.ok("monitor", "once").out
    assert "agent-b [observed, non_compliant]" in out and "denied  n.txt [no_active_lease]" in out


# --- the safety property -------------------------------------------------------------------------

TRACKED = {"README.md": README, "src/auth/login.py": LOGIN}
PATHS = [*TRACKED, "new.txt", "dir/sub/new.bin", "src/auth/extra.py"]
WRITE = st.tuples(st.just("write"), st.sampled_from(PATHS), st.binary(max_size=40))
OPS = st.lists(
    st.one_of(
        WRITE,
        WRITE,
        st.tuples(st.just("delete"), st.sampled_from(PATHS), st.just(b"")),
        st.tuples(st.just("pass"), st.just(""), st.just(b"")),
    ),
    max_size=16,
)


def _contents(root: Path) -> dict[str, bytes | None]:
    return {p: (root / p).read_bytes() if (root / p).is_file() else None for p in PATHS}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(early=OPS, ops=OPS, claimed=st.sets(st.sampled_from(PATHS)))
def test_quarantine_never_loses_a_byte(
    cli: Cli,
    initialised: Path,
    early: list[tuple[str, str, bytes]],
    ops: list[tuple[str, str, bytes]],
    claimed: set[str],
) -> None:
    """For any writes interleaved with `monitor once --quarantine`, every content a pass saw
    either stays in the worktree or is in the quarantine, and stays there. (`early` writes come
    before the first, baselining pass.)"""
    n = next(_counter)
    name = f"ex{n}"
    wt = add_worktree(initialised, name)
    cli.ok("worktree", "sync")
    task = f"T-{n}"
    lease(cli, task, name, *sorted(claimed))
    kept: set[bytes] = set()
    try:
        for op, path, data in [*early[:4], ("pass", "", b""), *ops, ("pass", "", b"")]:
            if op == "write":
                write(wt / path, data)
            elif op == "delete" and (wt / path).exists():
                (wt / path).unlink()
            elif op == "pass":
                before = _contents(wt)
                result = once(cli, "--quarantine")
                assert result["ok"], result
                after = _contents(wt)
                in_quarantine = set(quarantined(initialised, name).values())
                for p in PATHS:
                    if after[p] == before[p]:
                        continue
                    assert p not in claimed, f"claimed {p} was touched"
                    assert after[p] == TRACKED.get(p), f"{p} became {after[p]!r}"
                    if before[p] is not None:
                        assert before[p] in in_quarantine, f"lost {before[p]!r} written to {p}"
                        kept.add(before[p])  # type: ignore[arg-type]
        assert kept <= set(quarantined(initialised, name).values())
        event(f"contents quarantined: {min(len(kept), 3)}{'+' if len(kept) >= 3 else ''}")
        leftovers = [f for _d, _s, files in os.walk(wt) for f in files if ".switchman-" in f]
        assert leftovers == []
    finally:
        cli.ok("task", "fail", task)
        git(initialised, "worktree", "remove", "--force", str(wt))
    cli.ok("audit", "verify")


_counter = itertools.count()
