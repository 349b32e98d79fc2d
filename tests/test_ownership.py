"""SPEC §4 ownership resolution: the order of the rules, as pure functions and against a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchman.cli_quote import quote
from switchman.globs.matcher import Matcher
from switchman.ops.claims import load_context
from switchman.ownership import ALLOWED, VIOLATIONS, Decision, LeaseInfo, OwnershipContext, fix_for
from switchman.repo import locate
from switchman.state import open_state_dir
from testing.cli import Cli
from testing.git import git

MINE = LeaseInfo("lease-a", "task-a", "agent-a", stale=False)
OTHER = {"lease_id": "lease-b", "task_id": "task-b", "worktree": "agent-b"}


def ctx(lease: LeaseInfo | None = MINE, **kw: object) -> OwnershipContext:
    return OwnershipContext(worktree="agent-a", lease=lease, **kw)  # type: ignore[arg-type]


def mine() -> dict[str, str]:
    return {"lease_id": "lease-a", "task_id": "task-a", "worktree": "agent-a"}


def test_reason_code_sets_are_disjoint() -> None:
    assert not ALLOWED & VIOLATIONS
    assert Decision("x", "path_claimed").allowed and not Decision("x", "path_not_claimed").allowed


def test_no_active_lease() -> None:
    d = ctx(lease=None).judge("src/a.py")
    assert (d.reason_code, d.holder) == ("no_active_lease", None)


def test_stale_lease_beats_a_claim() -> None:
    stale = LeaseInfo("lease-a", "task-a", "agent-a", stale=True)
    d = ctx(lease=stale, claims={"src/a.py": mine()}).judge("src/a.py")
    assert d.reason_code == "lease_expired" and d.holder == mine()


def test_own_claim() -> None:
    d = ctx(claims={"src/a.py": mine()}).judge("src/a.py")
    assert d.reason_code == "path_claimed" and d.allowed


def test_other_claim_beats_own_scope_and_policy() -> None:
    c = ctx(claims={"src/a.py": OTHER}, own_scope=Matcher(["src/**"]), generated=Matcher(["*.py"]))
    d = c.judge("src/a.py")
    assert d.reason_code == "path_claimed_by_other_lease" and d.holder == OTHER


def test_own_scope() -> None:
    d = ctx(own_scope=Matcher(["src/auth/**"])).judge("src/auth/deep/x.py")
    assert d.reason_code == "path_within_task_scope" and d.holder["scope"] == "src/auth/**"  # type: ignore[index]


def test_other_scope_beats_own_scope_and_policy() -> None:
    c = ctx(own_scope=Matcher(["src/**"]), other_scopes=[(Matcher(["src/billing/**"]), OTHER)], generated=Matcher(["src/**"]))
    d = c.judge("src/billing/x.py")
    assert d.reason_code == "path_scoped_by_other_lease"
    assert d.holder == {**OTHER, "scope": "src/billing/**"}
    assert c.judge("src/auth/x.py").reason_code == "path_within_task_scope"


def test_policy_exception() -> None:
    d = ctx(generated=Matcher(["dist/**", "*.lock"])).judge("sub/poetry.lock")
    assert d.reason_code == "policy_exception_allowed" and d.holder == {"policy": "*.lock"}


def test_policy_exception_needs_a_lease() -> None:
    assert ctx(lease=None, generated=Matcher(["dist/**"])).judge("dist/a.js").reason_code == "no_active_lease"


def test_not_claimed() -> None:
    c = ctx(own_scope=Matcher(["src/auth/**"]), generated=Matcher(["dist/**"]))
    assert c.judge("src/billing/x.py").reason_code == "path_not_claimed"
    assert c.judge("src/auth").reason_code == "path_not_claimed"  # the directory itself is not beneath


def test_completed_task_leftovers_are_governed_without_a_lease() -> None:
    done = {**mine(), "completed": True}
    # SPEC §10: a leftover covers only the content recorded when the task completed.
    c = ctx(lease=None, leftovers={"docs/x.md": done}, leftover_blobs={"docs/x.md": frozenset({"b1"})})
    d = c.judge("docs/x.md", "b1")
    assert d.reason_code == "path_claimed" and d.holder == done
    assert c.judge("docs/y.md").reason_code == "no_active_lease"


def test_a_leftover_covers_only_the_content_it_had_when_the_task_completed() -> None:
    done = {**mine(), "completed": True}
    c = ctx(lease=None, leftovers={"docs/x.md": done}, leftover_blobs={"docs/x.md": frozenset({"b1", "deleted"})})
    assert c.judge("docs/x.md", "b2").reason_code == "no_active_lease"  # edited after `task done`
    assert c.judge("docs/x.md").reason_code == "no_active_lease"  # a caller that cannot say what it judges
    assert c.judge("docs/x.md", "deleted").reason_code == "path_claimed"  # deleted before `task done`
    assert ctx(lease=None, leftovers={"docs/x.md": done}).judge("docs/x.md", "b1").reason_code == "no_active_lease"
    # With a lease of its own, an uncovered leftover is judged like any path of that lease.
    own = ctx(leftovers={"docs/x.md": done}, own_scope=Matcher(["docs/**"]))
    assert own.judge("docs/x.md", "b2").reason_code == "path_within_task_scope"


def test_active_claim_beats_a_leftover() -> None:
    c = ctx(claims={"docs/x.md": OTHER}, leftovers={"docs/x.md": {**mine(), "completed": True}})
    assert c.judge("docs/x.md").reason_code == "path_claimed_by_other_lease"


def test_another_leases_claim_or_scope_beats_a_leftover_even_without_a_lease() -> None:
    done = {**mine(), "completed": True}
    blobs = {"src/billing/x.py": frozenset({"b1"})}
    scoped = ctx(lease=None, leftovers={"src/billing/x.py": done}, leftover_blobs=blobs,
                 other_scopes=[(Matcher(["src/billing/**"]), OTHER)])
    d = scoped.judge("src/billing/x.py", "b1")
    assert d.reason_code == "path_scoped_by_other_lease" and d.holder == {**OTHER, "scope": "src/billing/**"}
    claimed = ctx(lease=None, claims={"src/billing/x.py": OTHER}, leftovers={"src/billing/x.py": done}, leftover_blobs=blobs)
    assert claimed.judge("src/billing/x.py", "b1").reason_code == "path_claimed_by_other_lease"


@pytest.mark.parametrize("name", ["plain.txt", "with space.txt", "new\nline.txt", "caf\udce9.txt"])
def test_odd_names_are_judged_verbatim(name: str) -> None:
    c = ctx(claims={name: mine()})
    assert c.judge(name).reason_code == "path_claimed"
    assert c.judge(name + "x").reason_code == "path_not_claimed"


# --- fixes ------------------------------------------------------------------------------------


def test_fix_commands() -> None:
    assert fix_for(Decision("a", "no_active_lease"), "agent-a", None).startswith("switchman-hook lease next agent-a")
    assert fix_for(Decision("a", "lease_expired"), "agent-a", MINE) == "switchman-hook lease heartbeat lease-a"
    assert fix_for(Decision("my file", "path_not_claimed"), "agent-a", MINE) == "switchman-hook claim task-a agent-a 'my file'"
    other = fix_for(Decision("x.py", "path_claimed_by_other_lease", OTHER), "agent-a", MINE)
    assert "task-b" in other and "agent-b" in other and "git restore --staged -- x.py" in other
    assert fix_for(Decision("x", "path_claimed"), "agent-a", MINE) == ""


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("src/a.py", "src/a.py"),
        ("my file", "'my file'"),
        ("it's", "'it'\"'\"'s'"),
        ("", "''"),
        ("a\nb", "$'a\\nb'"),
        ("caf\udce9", "$'caf\\xe9'"),
        ("x'\\\n", "$'x\\'\\\\\\n'"),
    ],
)
def test_quote(word: str, expected: str) -> None:
    assert quote(word) == expected


def test_quote_round_trips_through_bash(tmp_path: Path) -> None:
    import shutil
    import subprocess

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not installed")
    for word in ["my file", "it's", "a\nb", "caf\udce9 \t x", "$HOME `x`"]:
        out = subprocess.run([bash, "-c", f"printf %s {quote(word)}"], capture_output=True, check=True).stdout
        assert out == word.encode("utf-8", "surrogateescape")


# --- loaded from the store ------------------------------------------------------------------------


@pytest.mark.both_backends
def test_load_from_store(agents: tuple[Path, Path], cli: Cli, initialised: Path) -> None:
    a, b = agents
    ta = cli.ok("task", "add", "a").out.strip()
    tb = cli.ok("task", "add", "b").out.strip()
    cli.ok("task", "spec", ta, "--allowed-path", "src/auth/**")
    cli.ok("task", "spec", tb, "--allowed-path", "src/billing/**")
    la = cli.json("lease", "acquire", ta, "agent-a")["lease"]["id"]
    cli.json("lease", "acquire", tb, "agent-b")
    cli.ok("claim", ta, "agent-a", "README.md")
    cli.ok("claim", tb, "agent-b", "docs/guide.md")
    cli.ok("policy", "allow", "dist/**")
    paths = locate(str(initialised))
    store = open_state_dir(paths.state_dir)
    try:
        names = ["README.md", "docs/guide.md", "src/auth/x.py", "src/billing/x.py", "dist/a.js", "other.txt"]
        c = load_context(store, "agent-a", names, stale_minutes=15, generated_globs=["dist/**"])
        assert c.lease is not None and c.lease.id == la
        got = {n: c.judge(n).reason_code for n in names}
        assert got == {
            "README.md": "path_claimed",
            "docs/guide.md": "path_claimed_by_other_lease",
            "src/auth/x.py": "path_within_task_scope",
            "src/billing/x.py": "path_scoped_by_other_lease",
            "dist/a.js": "policy_exception_allowed",
            "other.txt": "path_not_claimed",
        }
        # Claims are loaded only for the judged paths.
        assert set(c.claims) == {"README.md", "docs/guide.md"}
        assert c.judge("docs/guide.md").holder == {"lease_id": c.claims["docs/guide.md"]["lease_id"], "task_id": tb, "worktree": "agent-b"}
    finally:
        store.close()
    # SPEC §10: the leftover covers the content the worktree had, uncommitted, at `task done`.
    (a / "README.md").write_text("changed under the lease\n")
    blob = git(a, "hash-object", "README.md").strip()
    cli.ok("task", "done", ta)
    store = open_state_dir(paths.state_dir)
    try:
        c = load_context(store, "agent-a", ["README.md", "other.txt"], stale_minutes=15)
        assert c.lease is None
        assert c.judge("README.md", blob).reason_code == "path_claimed"  # the completed task's leftover
        assert c.judge("README.md", blob).holder["completed"] is True  # type: ignore[index]
        assert c.judge("README.md", "0" * 40).reason_code == "no_active_lease"  # other content
        assert c.judge("other.txt").reason_code == "no_active_lease"
        # Another worktree's completed claims do not govern this one's files.
        c_b = load_context(store, "agent-b", ["README.md"], stale_minutes=15)
        assert c_b.judge("README.md").reason_code == "path_not_claimed"
    finally:
        store.close()


def test_shown_keeps_plain_names_and_escapes_odd_ones() -> None:
    from switchman.cli_quote import shown

    assert shown("src/a b.py") == "src/a b.py"
    assert shown("a\nb") == "a\\nb"
    assert shown("bad\udcffname") == "bad\\udcffname"
    assert shown("a\nb", pasteable=True) == "$'a\\nb'"
    assert shown("bad\udcffname", pasteable=True) == "$'bad\\xffname'"
