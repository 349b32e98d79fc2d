"""Provenance you can trust (SPEC §10): each attack a same-user agent tried, through real git.

Every test here reproduces a way an unowned change reached pushed history (or a gate lied) and
asserts the gate now refuses or records it as what it is. Agents: agent-a and agent-b linked
worktrees with the hooks installed; pushes go to a local bare remote.
"""

from __future__ import annotations

import json

import pytest

from testing.cli import run_cli
from testing.gates import Env, commit
from testing.git import git, write

pytestmark = pytest.mark.slow


# --- 5. leftover claims ---------------------------------------------------------------------------


def test_a_finished_tasks_claim_never_outranks_another_lease(env: Env) -> None:
    env.mode("agent-a", "guarded")
    ta, _ = env.lease("agent-a", "src/billing/invoice.py", title="billing fix")
    env.cli.ok("task", "done", ta)
    env.lease("agent-b", spec={"allowed_paths": ["src/billing/**"]}, title="billing feature")
    env.change(env.a, "src/billing/invoice.py", "late edit\n")
    res = commit(env.a, "late")
    assert res.code != 0 and "path_scoped_by_other_lease" in res.err


def test_a_finished_tasks_claim_covers_only_changes_made_before_it_finished(env: Env) -> None:
    env.mode("agent-a", "guarded")
    ta, _ = env.lease("agent-a", "src/billing/invoice.py", "docs/guide.md", title="fix")
    write(env.a / "docs/guide.md", "made before done\n")
    env.cli.ok("task", "done", ta)
    env.change(env.a, "src/billing/invoice.py", "made after done\n")
    res = commit(env.a, "after")
    assert res.code != 0 and "no_active_lease" in res.err
    git(env.a, "restore", "--staged", "--", "src/billing/invoice.py")
    git(env.a, "add", "--", "docs/guide.md")
    res = commit(env.a, "before")
    assert res.code == 0, res.err  # the leftover made under the lease is still its to commit


# --- 7. bad glob in the policy --------------------------------------------------------------------


def test_a_bad_policy_glob_is_reported_everywhere(env: Env) -> None:
    policy = env.root / ".switchman" / "enforcement.json"
    doc = json.loads(policy.read_text())
    doc["allowed_generated_paths"] = ["["]
    policy.write_text(json.dumps(doc))
    show = run_cli("policy", "show", cwd=env.root)
    assert show.code == 2 and "enforcement.json" in show.err and "allowed_generated_paths" in show.err
    assert show.err.startswith("error: ") and len(show.err.strip().splitlines()) == 1
    rep = run_cli("doctor", "--json", cwd=env.root)
    checks = {c["id"]: c for c in rep.json["checks"]}
    assert rep.code == 1 and checks["policy"]["status"] == "fail"
    assert "switchman-hook policy" in checks["policy"]["fix"] or "enforcement.json" in checks["policy"]["fix"]
