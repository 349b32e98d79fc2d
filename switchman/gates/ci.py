"""The CI gate: a repo-level check for CI and merge queues, without a worktree's lease."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import BadInput
from ..reasons import BOUNDARY_VALIDATION_BLOCKED, COMMIT_GATE_BYPASSED, MISSING_PROVENANCE
from ..repo import GitError, RepoPaths, git_env, run_git
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


# --- gate ci --base: receipts (SPEC §11), works in a fresh clone -------------------------------

KEYS_FILE = ".switchman-keys"
FETCHED = "refs/switchman/fetched-notes"


def _resolve(cwd: str, rev: str, flag: str, env: dict[str, str]) -> str:
    proc = run_git(["rev-parse", "--verify", "-q", f"{rev}^{{commit}}"], cwd, env=env, check=False)
    oid = proc.stdout.decode("ascii", "replace").strip()
    if proc.returncode != 0 or not oid:
        raise BadInput(f"{flag} {rev} is not a commit", f"pass a branch, tag or commit id, e.g. {flag} origin/main (fetch it first)")
    return oid


def trusted_keys(cwd: str, base: str, path: str | None, env: dict[str, str]) -> tuple[list[Any], str]:
    """The trusted verifier keys and where they came from: FILE, or `.switchman-keys` at BASE only."""
    from ..receipts.verify import parse_trusted_keys

    if path is not None:
        try:
            with open(path, encoding="utf-8") as fh:
                return parse_trusted_keys(fh.read()), path
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot read --trusted-keys {path}: {exc}", "pass a file with one `audit pubkey` line per key") from None
    proc = run_git(["show", f"{base}:{KEYS_FILE}"], cwd, env=env, check=False)
    if proc.returncode != 0:
        return [], f"{base[:12]}:{KEYS_FILE} (absent)"
    return parse_trusted_keys(proc.stdout.decode("utf-8", "replace")), f"{base[:12]}:{KEYS_FILE}"


def fetch_notes(cwd: str, remote: str, env: dict[str, str]) -> bool:
    """Fetch REMOTE's notes ref into a side ref and union it into ours; False when it has none."""
    from ..receipts import notes

    proc = run_git(["fetch", "-q", "--no-tags", remote, f"+{notes.REF}:{FETCHED}"], cwd, env=env, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace")
        if "couldn't find remote ref" in err or "could not find remote ref" in err:
            return False
        raise GitError(f"cannot fetch {notes.REF} from {remote}: {err.strip().splitlines()[-1:] or ['?']}", f"check `git fetch {remote}` works")
    notes.merge_into(cwd, FETCHED, env=env)
    return True


def receipts_ci(
    paths: RepoPaths,
    store: Store | None,
    base: str,
    head: str | None = None,
    *,
    keys_file: str | None = None,
    fetch: Sequence[str] = (),
    require_mode: str | None = None,
) -> dict[str, Any]:
    """`gate ci --base`: the SPEC §11 report `{ok, base, head, commits, summary}`.

    Needs only git, the notes ref and the trusted keys; with a store (a managed repo) commits
    with no receipt fall back on the local recorded provenance, the local keyring's active keys
    are trusted too, and the audit trail must verify.
    """
    from ..receipts import notes
    from ..receipts.verify import decide, range_facts

    cwd = paths.toplevel or paths.root
    env = git_env(for_other_worktree=True)
    base_oid = _resolve(cwd, base, "--base", env)
    head_oid = _resolve(cwd, head or "HEAD", "--head", env)
    fetched = {remote: fetch_notes(cwd, remote, env) for remote in fetch} if fetch else None
    keys, source = trusted_keys(cwd, base_oid, keys_file, env)
    if store is not None:
        from ..checkpoint import keys as ckeys

        keys += [k for k in ckeys.active(ckeys.keyring(store.conn)) if k not in keys]
    facts = range_facts(cwd, base_oid, head_oid)
    if store is not None:
        # In the managed repo, write the receipts the range's recorded commits still lack
        # (they are written at push otherwise), so the answer is the one CI will give.
        from .spooled import backfill_receipts

        backfill_receipts(paths, store, [f.commit for f in facts], env=env)
    report = decide(facts, notes.read_all(cwd, env=env), keys, require_mode=require_mode)
    commits = [d.to_dict() for d in report.commits]
    problems: list[dict[str, str]] = []
    if store is not None:
        problems = _local(paths, store, commits, base_oid, head_oid)
    failed = sum(c["verdict"] == "fail" for c in commits)
    by_reason: dict[str, int] = {}
    for c in commits:
        by_reason[c["reason_code"]] = by_reason.get(c["reason_code"], 0) + 1
    summary = {
        "commits": len(commits),
        "passed": len(commits) - failed,
        "failed": failed,
        "by_reason": by_reason,
        "trusted_keys": len(keys),
        "keys_from": source,
        "notes_fetched": fetched,
        "problems": problems,
    }
    return {"ok": failed == 0 and not problems, "base": base_oid, "head": head_oid, "commits": commits, "summary": summary}


def _local(paths: RepoPaths, store: Store, commits: list[dict[str, str]], base: str, head: str) -> list[dict[str, str]]:
    """Managed repo: receipt-less commits judged by the local rows; the trail must verify."""
    from ..reasons import LOCAL_PROVENANCE

    bare = [c for c in commits if c["reason_code"] == MISSING_PROVENANCE and c["detail"].startswith("no receipt")]
    baseline = baseline_commits(store)
    if bare and baseline:
        # History that existed before the first `init` is exempt here as at push (SPEC §10).
        cwd = paths.toplevel or paths.root
        judged = set(range_commits(cwd, git_env(for_other_worktree=True), [head], [base, *baseline]))
        for c in [c for c in bare if c["commit"] not in judged]:
            c.update(verdict="pass", reason_code=LOCAL_PROVENANCE, detail="history from before switchman-hook init (exempt)")
        bare = [c for c in bare if c["commit"] in judged]
    trail = _verify_trail(paths, store)

    def fn(tx: Tx) -> list[dict[str, str]]:
        violations, info = check_commits(tx, [c["commit"] for c in bare])
        bad = {v.file: v for v in violations}
        for c in bare:
            v = bad.get(c["commit"])
            if v is None:
                c.update(verdict="pass", reason_code=LOCAL_PROVENANCE, detail="recorded in this repo's audit trail")
            elif v.reason_code == COMMIT_GATE_BYPASSED:
                c.update(reason_code=COMMIT_GATE_BYPASSED, detail="this repo's audit trail records a bypass")
        problems = [{"reason_code": v.reason_code, "detail": f"{v.file}: {(v.holder or {}).get('failure', '')}"} for v in trail]
        failed = [c for c in commits if c["verdict"] == "fail"]
        tx.audit(
            "ci_gate",
            "allowed" if not failed and not problems else "denied",
            reason_code=(failed[0]["reason_code"] if failed else problems[0]["reason_code"]) if failed or problems else None,
            details={"ci": True, "receipts": True, "base": base, "head": head, "commits": len(commits), "failed": [c["commit"] for c in failed[:100]]},
        )
        return problems

    return store.write(fn)
