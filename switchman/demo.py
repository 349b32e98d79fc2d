"""`demo`: a narrated, real run in a throwaway repo that doubles as an end-to-end smoke test.

Real `git` subprocesses, real hooks (installed with this interpreter), the real CLI in
subprocesses, all with an isolated environment (own HOME and global git config, fixed identity),
so it works on a machine with no git identity and never reads the user's git config. Every step
checks that what it narrates actually happened; the first step that did not stops the demo.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .store import audit_log

CLI_CODE = "import sys; from switchman.cli import main; sys.exit(main())"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Demo Agent",
    "GIT_AUTHOR_EMAIL": "agent@demo.invalid",
    "GIT_COMMITTER_NAME": "Demo Agent",
    "GIT_COMMITTER_EMAIL": "agent@demo.invalid",
}
FILES = {
    "README.md": "# demo\n",
    "src/auth/login.py": "def login(user):\n    return user is not None\n",
    "src/billing/invoice.py": "TAX = 0.2\n",
    "docs/guide.md": "# guide\n",
}


class StepFailed(Exception):
    """A step did not behave as narrated."""


@dataclass(frozen=True)
class Proc:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        try:
            return json.loads(self.out)
        except ValueError as exc:
            raise StepFailed(f"expected JSON, got: {self.out[:200]!r} {self.err[:200]!r}") from exc


def isolated_env(base: str) -> dict[str, str]:
    """The user's environment minus git/switchman variables, plus a private HOME and git config."""
    home = os.path.join(base, "home")
    os.makedirs(home, exist_ok=True)
    gitconfig = os.path.join(home, ".gitconfig")
    with open(gitconfig, "w", encoding="utf-8") as fh:
        fh.write("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n[commit]\n\tgpgSign = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SWITCHMAN_", "PRE_COMMIT"))}
    bindir = os.path.dirname(os.path.abspath(sys.executable))
    env.update(
        HOME=home,
        XDG_CONFIG_HOME=os.path.join(home, ".config"),
        GIT_CONFIG_GLOBAL=gitconfig,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TEMPLATE_DIR="",
        NO_COLOR="1",
        PATH=bindir + os.pathsep + env.get("PATH", ""),
        **IDENTITY,
    )
    return env


@contextlib.contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    """Run in-process code (the installer) under `env`, then restore the caller's environment."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Demo:
    def __init__(self, base: str, emit: Callable[[str], None]) -> None:
        self.base = base
        self.emit = emit
        self.env = isolated_env(base)
        self.repo = os.path.join(base, "repo")
        self.a = os.path.join(base, "agent-a")
        self.b = os.path.join(base, "agent-b")
        self.bypass_seq: int | None = None

    # -- plumbing ---------------------------------------------------------------------------
    def _run(self, argv: list[str], cwd: str) -> Proc:
        proc = subprocess.run(argv, cwd=cwd, env=self.env, capture_output=True, stdin=subprocess.DEVNULL)
        return Proc(proc.returncode, os.fsdecode(proc.stdout), os.fsdecode(proc.stderr))

    def git(self, cwd: str, *args: str, ok: bool = True) -> Proc:
        res = self._run(["git", *args], cwd)
        if ok and res.code != 0:
            raise StepFailed(f"git {' '.join(args)} exited {res.code}: {res.err.strip()}")
        return res

    def sw(self, *args: str, cwd: str | None = None, expect: int | None = 0) -> Proc:
        """`switchman-hook -C <cwd> ARGS` with this interpreter, in a subprocess."""
        res = self._run([sys.executable, "-c", CLI_CODE, "-C", cwd or self.repo, *args], self.base)
        if expect is not None and res.code != expect:
            raise StepFailed(f"switchman-hook {' '.join(args)} exited {res.code} (expected {expect}): {res.err.strip() or res.out.strip()}")
        return res

    def write(self, root: str, rel: str, text: str) -> None:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)

    def events(self, event_type: str) -> list[dict[str, Any]]:
        doc = self.sw("audit", "list", "--event-type", event_type, "--json").json()
        return list(doc.get("events") or [])

    def last_event(self, event_type: str) -> dict[str, Any]:
        rows = self.events(event_type)
        return rows[0] if rows else {}

    def say(self, n: int, text: str, *details: str) -> None:
        self.emit(f"{n}. {text}")
        for d in details:
            for line in d.splitlines():
                self.emit(f"     {line}")

    # -- steps ------------------------------------------------------------------------------
    def step_repo(self, n: int) -> None:
        os.makedirs(self.repo)
        self.git(self.repo, "init", "-q", "-b", "main")
        for rel, text in FILES.items():
            self.write(self.repo, rel, text)
        self.git(self.repo, "add", "-A")
        self.git(self.repo, "commit", "-q", "-m", "initial")
        for path, branch in ((self.a, "agent-a"), (self.b, "agent-b")):
            self.git(self.repo, "worktree", "add", "-q", "-b", branch, path)
        self.say(n, f"A throwaway repo with two agent worktrees: {self.repo} (main), agent-a, agent-b")

    def step_init(self, n: int) -> None:
        from .install import install
        from .repo import locate

        self.sw("init", "--mode", "guarded", "--json").json()
        with environ(self.env):
            result = install(locate(self.repo), interpreter=sys.executable)
        if not result.ok:
            raise StepFailed(f"hooks install reported conflicts: {result.warnings}")
        key = os.path.join(self.repo, ".switchman", "audit.key")
        mode = stat.S_IMODE(os.stat(key).st_mode)
        wts = self.sw("worktree", "list", "--json").json()["worktrees"]
        if mode != 0o600 or len(wts) != 3 or any(w["enforcement_mode"] != "guarded" for w in wts):
            raise StepFailed(f"expected key mode 0600 and 3 guarded worktrees, got {mode:04o} and {wts}")
        ignored = self.git(self.repo, "check-ignore", "-q", ".switchman/audit.key", ok=False).code == 0
        if not ignored:
            raise StepFailed(".switchman/ is not excluded from git")
        self.say(
            n,
            "switchman-hook init --mode guarded: shared state in .switchman/ (git-excluded), audit key 0600, "
            f"{len(wts)} worktrees registered ({', '.join(w['name'] for w in wts)})",
            f"hooks installed in {result.hooks_dir}: {', '.join(h.name for h in result.hooks)}",
            f"(small sh scripts that exec {result.interpreter}, this installation's interpreter)",
        )

    def step_leases(self, n: int) -> None:
        for task, scope, wt in (("auth", "src/auth/**", "agent-a"), ("billing", "src/billing/**", "agent-b")):
            self.sw("task", "add", f"{task} work", "--id", task)
            self.sw("task", "spec", task, "--allowed-path", scope, "--subsystem", task)
            lease = self.sw("lease", "acquire", task, wt, "--agent", f"bot-{wt[-1]}", "--json").json()["lease"]
            if lease["worktree"] != wt or lease["status"] != "active":
                raise StepFailed(f"lease for {task} is not active in {wt}: {lease}")
        clash = self.sw("lease", "acquire", "billing", "agent-a", expect=1)
        self.say(
            n,
            "Two tasks with disjoint scopes, one lease each: agent-a holds auth (src/auth/**), "
            "agent-b holds billing (src/billing/**)",
            f"a second lease on billing is refused: {clash.err.strip()}",
        )

    def step_allowed(self, n: int) -> None:
        self.write(self.a, "src/auth/login.py", "def login(user):\n    return bool(user)\n")
        res = self.git(self.a, "commit", "-a", "-m", "auth: stricter login", ok=False)
        if res.code != 0:
            raise StepFailed(f"the in-scope commit was refused: {res.err.strip()}")
        gate = self.last_event("commit_gate")
        recorded = self.last_event("commit_recorded")
        if gate.get("status") != "allowed" or gate.get("worktree") != "agent-a" or recorded.get("worktree") != "agent-a":
            raise StepFailed(f"expected an allowed commit_gate and a commit_recorded row for agent-a, got {gate} / {recorded}")
        self.say(
            n,
            "agent-a commits src/auth/login.py (inside its scope): allowed",
            f"audit #{gate.get('sequence')} commit_gate allowed; #{recorded.get('sequence')} commit_recorded (provenance)",
        )

    def step_refused(self, n: int) -> None:
        self.write(self.a, "src/billing/invoice.py", "TAX = 0.0\n")
        res = self.git(self.a, "commit", "-a", "-m", "billing: no more tax", ok=False)
        if res.code == 0:
            raise StepFailed("the out-of-scope commit was not refused")
        if "path_scoped_by_other_lease" not in res.err:
            raise StepFailed(f"the refusal does not name path_scoped_by_other_lease: {res.err.strip()}")
        text = "\n".join(ln for ln in res.err.splitlines() if ln.strip())
        self.say(n, "agent-a commits src/billing/invoice.py (agent-b's scope): refused by the pre-commit gate", text)

    def step_bypass(self, n: int) -> None:
        res = self.git(self.a, "commit", "-a", "--no-verify", "-m", "billing: sneak it in", ok=False)
        if res.code != 0:
            raise StepFailed(f"git commit --no-verify failed: {res.err.strip()}")
        rows = self.events("commit_gate_bypassed")
        wts = {w["name"]: w for w in self.sw("worktree", "list", "--json").json()["worktrees"]}
        if len(rows) != 1 or wts["agent-a"]["compliance_state"] != "non_compliant":
            raise StepFailed(f"expected one commit_gate_bypassed row and agent-a non_compliant, got {rows} / {wts['agent-a']}")
        self.bypass_seq = int(rows[0]["sequence"])
        details = rows[0].get("details")
        commit = (json.loads(details) if isinstance(details, str) else details or {}).get("commit", "")
        self.say(
            n,
            "agent-a retries with --no-verify: git skips pre-commit, but post-commit catches it",
            f"audit #{self.bypass_seq}: commit_gate_bypassed for commit {str(commit)[:12]}; agent-a is now non_compliant",
        )

    def step_verify(self, n: int) -> None:
        doc = self.sw("audit", "verify", "--json").json()
        if not doc.get("ok"):
            raise StepFailed(f"audit verify failed on an untouched trail: {doc}")
        self.say(n, f"switchman-hook audit verify: ok — {doc['count']} events, sequence, hash chain and HMAC signatures intact")

    def step_tamper(self, n: int) -> None:
        db = os.path.join(self.repo, ".switchman", "switchman.db")
        conn = sqlite3.connect(db, isolation_level=None)
        try:
            if audit_log.forge_allowed(conn, self.bypass_seq) != 1:
                raise StepFailed(f"no audit row with sequence {self.bypass_seq} to tamper with")
        finally:
            conn.close()
        res = self.sw("audit", "verify", "--json", expect=1)
        failures = res.json().get("failures") or []
        hit = [f for f in failures if f.get("sequence") == self.bypass_seq and f.get("reason_code") == "entry_hash_mismatch"]
        if not hit:
            raise StepFailed(f"verify did not flag row {self.bypass_seq}: {failures}")
        codes = sorted({f["reason_code"] for f in failures})
        self.say(
            n,
            f"Someone edits audit row #{self.bypass_seq} with sqlite3 to make the bypass look allowed: "
            "audit verify catches it (exit 1)",
            f"{hit[0]['reason_code']} at sequence {self.bypass_seq}: {hit[0]['message']}"
            + (f" (also: {', '.join(c for c in codes if c != 'entry_hash_mismatch')})" if len(codes) > 1 else ""),
        )

    def step_doctor(self, n: int) -> None:
        from .render import render_lines, report_from_json

        res = self.sw("doctor", "--json", expect=1)
        report = report_from_json(res.json())
        chain = report.get("audit_chain")
        nc = report.get("non_compliant")
        fire = report.get("hooks_fire")
        if chain is None or chain.status != "fail" or "entry_hash_mismatch" not in chain.detail:
            raise StepFailed(f"doctor did not fail audit_chain: {chain}")
        if nc is None or nc.status != "warn" or "src/billing/invoice.py" not in nc.detail:
            raise StepFailed(f"doctor did not report agent-a's non-compliant file: {nc}")
        if fire is None or fire.status != "ok":
            raise StepFailed(f"doctor could not prove the hooks fire: {fire}")
        self.say(
            n,
            f"switchman-hook doctor: health {report.health} (exit {res.code}) — it names the tampered row "
            "and agent-a's file, and proves the hooks fire in every worktree",
            "\n".join(render_lines(report)),
        )


STEPS: tuple[tuple[str, str], ...] = (
    ("step_repo", "build a repo with two agent worktrees"),
    ("step_init", "init in guarded mode and install the hooks"),
    ("step_leases", "two tasks with disjoint scopes and leases"),
    ("step_allowed", "an allowed in-scope commit"),
    ("step_refused", "a refused out-of-scope commit"),
    ("step_bypass", "a --no-verify bypass caught by post-commit"),
    ("step_verify", "audit verify on an untouched trail"),
    ("step_tamper", "a tampered audit row caught by verify"),
    ("step_doctor", "doctor"),
)


def run(*, keep: bool = False, emit: Callable[[str], None] = print, base: str | None = None) -> int:
    """Run every step; 0 when each behaved as narrated, else 1 naming the step."""
    base = base or tempfile.mkdtemp(prefix="switchman-demo-")
    os.makedirs(base, exist_ok=True)
    demo = Demo(os.path.realpath(base), emit)
    emit("switchman-hook demo: two agents, one repo, every step real (git, hooks, SQLite)")
    emit("")
    failed: tuple[int, str, str] | None = None
    for n, (method, title) in enumerate(STEPS, 1):
        try:
            getattr(demo, method)(n)
        except (StepFailed, OSError, subprocess.SubprocessError, sqlite3.Error, KeyError, ValueError, TypeError) as exc:
            failed = (n, title, f"{type(exc).__name__}: {exc}" if not isinstance(exc, StepFailed) else str(exc))
            break
    emit("")
    if failed is not None:
        n, title, why = failed
        emit(f"demo FAILED at step {n} ({title}): {why}")
    else:
        emit(f"All {len(STEPS)} steps behaved as narrated.")
    if keep:
        emit(f"kept the demo repo: {demo.repo} (worktrees beside it; HOME for git: {os.path.join(demo.base, 'home')})")
    else:
        shutil.rmtree(demo.base, ignore_errors=True)
    return 1 if failed else 0
