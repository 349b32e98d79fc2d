"""The CI gate: a repo-level check for CI and merge queues, without a worktree's lease."""

from __future__ import annotations

from ..errors import BadInput
from ..reasons import BOUNDARY_VALIDATION_BLOCKED
from ..repo import RepoPaths, git_env, run_git
from ..store import validations as valstore
from ..store.sqlite import Store, Tx
from .common import GateResult, violation
from .push import _verify_trail, baseline_commits, check_commits
from .walk import range_commits


def ci_gate(paths: RepoPaths, store: Store, base: str | None = None) -> GateResult:
    """Repo-level gate for CI: trail verifies, no blocked validations, provenance for BASE..HEAD."""
    root = paths.toplevel or paths.root
    env = git_env(for_other_worktree=True)
    baseline = baseline_commits(store)
    exclude = list(baseline)
    if base:
        proc = run_git(["rev-parse", "--verify", "-q", f"{base}^{{commit}}"], root, env=env, check=False)
        if proc.returncode != 0:
            raise BadInput(f"--base {base} is not a commit", "pass a branch, tag or commit id, e.g. --base origin/main")
        exclude.insert(0, proc.stdout.decode().strip())
    commits = range_commits(root, env, ["HEAD"], exclude)
    trail = _verify_trail(paths, store)

    def fn(tx: Tx) -> GateResult:
        violations, info = check_commits(tx, commits)
        violations += trail
        task_ids = sorted({i["task_id"] for i in info if i.get("task_id")})
        for v in valstore.list_validations(tx, "blocked"):
            if not task_ids or v.task_id in task_ids:
                violations.append(violation(v.task_id, BOUNDARY_VALIDATION_BLOCKED, {"lease_id": v.lease_id, "missing_task_types": v.missing_task_types}, missing=", ".join(v.missing_task_types)))
        ok = not violations
        row = tx.audit(
            "ci_gate",
            "allowed" if ok else "denied",
            reason_code=violations[0].reason_code if violations else None,
            details={"ci": True, "base": base, "commits": len(commits), "violations": [{"file": v.file, "reason_code": v.reason_code} for v in violations[:100]]},
        )
        summary = f"ci gate {'passed' if ok else 'failed'}: {len(commits)} commit(s), {len(violations)} problem(s)"
        return GateResult(ok, "ci", None, "ci", None, None, [], [], violations, [], summary, row.sequence, info)

    return store.write(fn)
