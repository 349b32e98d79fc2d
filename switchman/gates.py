"""Commit, merge, push and CI gates; post-commit provenance; compliance (SPEC §7).

Each gate judges what is entering history against the worktree's lease, claims and scopes,
records what it saw (observations, compliance, boundary validation, its own audit row) in ONE
write transaction, and returns a GateResult the caller prints. Gates never print or exit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import audit, fingerprints
from . import policy as policymod
from .errors import EnvironmentProblem
from .fingerprints import Change
from .ops import validation
from .ops import worktrees as wtops
from .ops.claims import consume_leftovers, load_context
from .ownership import Decision, OwnershipContext, fix_for
from .records import Record, factory
from .repo import (
    HEAD_ARGS,
    GitResult,
    RepoPaths,
    committed_paths_args,
    git_env,
    list_worktrees,
    run_git,
    start_git,
)
from .store import leases as leasemod
from .store import snapshots, sqlite_audit
from .store import validations as valstore
from .store import worktrees as wtmod
from .store.sqlite import Store, Tx
from .timeutil import now_iso

SEQUENCER_OPS = ("cherry-pick", "revert", "rebase")


class Violation(Record):
    file: str
    reason_code: str
    holder: dict[str, Any] | None = None
    fix: str = ""


class GateResult(Record):
    ok: bool
    gate: str
    worktree: str | None
    mode: str
    lease_id: str | None
    compliance_state: str | None
    staged_files: list[str]
    changed_files: list[str]
    violations: list[Violation]
    warnings: list[str]
    summary: str
    audit_sequence: int | None = None
    commits: list[dict[str, Any]] = factory(list)


def record_observations(
    tx: Tx, worktree: str, lease: Any, newly: list[Change], judge: Any, source: str
) -> list[audit.AuditRow]:
    """One `write_observed` row per newly changed path, with its ownership decision, in one batch.

    Shared by the commit gate and `monitor`; `judge(path)` returns the path's Decision.
    """
    events = []
    for ch in newly:
        d = judge(ch.path)
        events.append(
            {
                "event_type": "write_observed",
                "status": "allowed" if d.allowed else "denied",
                "reason_code": d.reason_code,
                "worktree": worktree,
                "task_id": lease.task_id if lease else None,
                "lease_id": lease.id if lease else None,
                "file_path": ch.path,
                "details": {"fingerprint": ch.fingerprint, "kind": ch.kind, "source": source},
            }
        )
    return tx.audit_many(events)


def stale_minutes(state_dir: str, pol: policymod.Policy | None = None) -> float:
    """The lease stale window; the status module (and its checks) only when the policy sets one."""
    pol = pol if pol is not None else policymod.load(state_dir)
    if "stale_lease_minutes" not in pol.extra:
        return leasemod.DEFAULT_STALE_MINUTES
    from .status import stale_minutes as window

    return window(state_dir)


# --- worktree identity --------------------------------------------------------------------------


def resolve_worktree(paths: RepoPaths, store: Store) -> Any:
    """The registered worktree for this checkout; auto-registered when git knows it."""
    if paths.toplevel is None:
        raise EnvironmentProblem(
            "gates run inside a worktree, not a bare repository", "run from a checkout", code="worktree_mismatch"
        )
    wt = wtmod.by_path(store, paths.toplevel)
    if wt is not None:
        return wt
    known = {w.path: w for w in list_worktrees(paths.toplevel)}
    gwt = known.get(os.path.realpath(paths.toplevel))
    if gwt is None:
        raise EnvironmentProblem(
            f"{paths.toplevel} is not a worktree of the repository at {paths.root}",
            "run the gate from one of `git worktree list`",
            code="worktree_mismatch",
        )
    mode = policymod.load(store.state_dir).default_mode
    row, _ = store.write(
        lambda tx: wtops.register(tx, gwt.path, gwt.branch, is_main=paths.is_main_worktree, mode=mode)
    )
    return row


def compliance_for(lease: leasemod.Lease | None, violations: int) -> str:
    if lease is not None and lease.stale:
        return "stale"
    if violations:
        return "non_compliant"
    if lease is not None:
        return "managed"
    return "observed"


def _violation(d: Decision, worktree: str, ctx: OwnershipContext) -> Violation:
    return Violation(d.file, d.reason_code, d.holder, fix_for(d, worktree, ctx.lease))


def _audit_status(ok: bool, violations: int) -> str:
    if not ok:
        return "denied"
    return "warn" if violations else "allowed"


# --- commit gate -------------------------------------------------------------------------------


def _merge_heads(paths: RepoPaths) -> list[str]:
    """MERGE_HEAD: present for `git commit` concluding a merge (not yet in pre-merge-commit)."""
    try:
        with open(os.path.join(paths.git_dir, "MERGE_HEAD"), encoding="ascii") as fh:
            return [line.strip() for line in fh if line.strip()]
    except (OSError, UnicodeDecodeError):
        return []


def _incoming_heads(paths: RepoPaths, root: str, env: Mapping[str, str] | None) -> list[str]:
    """The commits being merged, as pre-merge-commit sees them.

    git writes MERGE_HEAD only after pre-merge-commit ran; what it does export is
    `GITHEAD_<oid>=<name>` per merged head and GIT_REFLOG_ACTION=`merge <name>...` (or the
    caller's, e.g. `pull ...`, whose heads are the FETCH_HEAD lines not marked not-for-merge).
    """
    heads = _merge_heads(paths)
    if heads:
        return heads
    environ = env if env is not None else os.environ
    heads = sorted(k[len("GITHEAD_") :] for k in environ if k.startswith("GITHEAD_") and len(k) >= len("GITHEAD_") + 40)
    if heads:
        return heads
    words = environ.get("GIT_REFLOG_ACTION", "").split()
    names: list[str] = []
    if words[:1] == ["merge"]:
        names = [w for w in words[1:] if not w.startswith("-")]
    elif words[:1] == ["pull"]:
        try:
            with open(os.path.join(paths.git_dir, "FETCH_HEAD"), encoding="utf-8", errors="replace") as fh:
                names = [ln.split("\t", 1)[0] for ln in fh if "\tnot-for-merge\t" not in ln and ln.strip()]
        except OSError:
            names = []
    resolved: list[str] = []
    for name in names:
        proc = run_git(["rev-parse", "--verify", "-q", "--end-of-options", f"{name}^{{commit}}"], root, env=env, check=False)
        sha = proc.stdout.decode().strip()
        if proc.returncode == 0 and sha and sha not in resolved:
            resolved.append(sha)
    return resolved


def _merge_own_changes(cwd: str, env: Mapping[str, str] | None, staged: list[Change], heads: list[str]) -> list[Change]:
    """In a merge commit, only paths that differ from every parent were written here."""
    keep = {c.path for c in staged}
    for head in heads:
        vs_head = fingerprints.run_git(
            ["diff", "--cached", "--name-only", "-z", "--no-renames", head], cwd, env=env
        ).stdout
        keep &= {os.fsdecode(p) for p in vs_head.split(b"\0") if p}
    return [c for c in staged if c.path in keep]


def _write_tree(cwd: str, env: Mapping[str, str] | None) -> str | None:
    return _tree_of(run_git(["write-tree"], cwd, env=env, check=False))


def _tree_of(proc: GitResult) -> str | None:
    return proc.stdout.decode().strip() or None if proc.returncode == 0 else None


def commit_gate(
    paths: RepoPaths,
    store: Store,
    *,
    env: Mapping[str, str] | None = None,
    framework: bool = False,
    record_tree: bool = True,
    scan_worktree: bool = False,
) -> GateResult:
    """Judge the index being committed; in strict mode also every other change in the worktree.

    `scan_worktree` (the `gate commit` command) looks at the whole worktree in every mode so
    `changed_files` lists unstaged and untracked changes too; the hook scans only in strict mode
    (observed/guarded cost one `diff --cached`). A `git commit` concluding a merge also runs the
    merge gate's checks on the incoming commits.
    """
    wt = resolve_worktree(paths, store)
    root = paths.toplevel
    assert root is not None
    pol = policymod.load(store.state_dir)
    window = stale_minutes(store.state_dir, pol)
    staged = fingerprints.staged_changes(root, env)
    heads = _merge_heads(paths)
    merged_commits: list[str] = []
    merged_in: set[str] = set()
    if heads:
        own = _merge_own_changes(root, env, staged, heads)
        merged_in = {c.path for c in staged} - {c.path for c in own}
        staged = own
        merged_commits = _incoming_commits(root, env, heads)
    mode = wt.enforcement_mode
    full: list[Change] | None = None
    if mode == "strict" or scan_worktree:
        full = [c for c in fingerprints.worktree_changes(root, env) if c.path not in merged_in]
        if framework:
            # pre-commit stashed the unstaged tracked changes: only untracked files are real here.
            full = [c for c in full if c.kind == "untracked"]
    staged_paths = list(dict.fromkeys(c.path for c in staged))
    staged_set = set(staged_paths)
    other_paths = list(dict.fromkeys(c.path for c in full or [] if c.path not in staged_set))
    # The tree id marks what this gate judged (post-commit compares it with the commit's tree).
    # `write-tree` reads and rewrites the whole index (~20 ms at 100k files): it runs on the
    # other core while the transaction below judges, and is collected just before the gate row.
    tree_proc = start_git(["write-tree"], root, env=env) if record_tree else None

    def fn(tx: Tx) -> GateResult:
        ctx = load_context(
            tx, wt.name, staged_paths + other_paths, stale_minutes=window, generated_globs=pol.allowed_generated_paths
        )
        decisions = {p: ctx.judge(p) for p in staged_paths + other_paths}
        violations = [_violation(decisions[p], wt.name, ctx) for p in staged_paths if not decisions[p].allowed]
        if mode == "strict":
            violations += [_violation(decisions[p], wt.name, ctx) for p in other_paths if not decisions[p].allowed]
        warnings: list[str] = []
        if heads:
            merge_violations, merge_warnings, _ = _merge_findings(tx, merged_commits)
            violations += merge_violations
            warnings += merge_warnings
        ok = mode == "observed" or not violations
        lease = leasemod.active_for_worktree(tx, wt.name, window)
        # Under the pre-commit framework the unstaged changes are stashed: not writes to record.
        complete = full is not None and not framework
        newly = snapshots.diff_snapshot(tx, wt.name, staged + (full or []) if complete else staged, complete=complete)
        record_observations(tx, wt.name, lease, newly, lambda p: decisions.get(p) or ctx.judge(p), "commit_gate")
        state = compliance_for(lease, len(violations))
        wtmod.set_compliance(tx, wt.name, state)
        if lease is not None:
            v = validation.evaluate_lease(tx, lease.id)
            if v is not None and v.status != "satisfied":
                warnings.append(
                    f"boundary validation {v.status}: task types not yet done: {', '.join(v.missing_task_types)}"
                )
            validation.record_touched_paths(tx, lease, [p for p in staged_paths if decisions[p].allowed])
        if mode == "observed" and violations:
            warnings.append(f"{len(violations)} violation(s) would be refused in guarded mode")
        summary = _summary("commit", ok, mode, len(staged_paths) + (len(other_paths) if mode == "strict" else 0), violations)
        tree_id = _tree_of(tree_proc.result()) if tree_proc is not None else None
        row = tx.audit(
            "commit_gate",
            _audit_status(ok, len(violations)),
            reason_code=violations[0].reason_code if violations else None,
            worktree=wt.name,
            task_id=lease.task_id if lease else None,
            lease_id=lease.id if lease else None,
            details={
                "mode": mode,
                "tree": tree_id,
                "staged": len(staged_paths),
                "merge_heads": heads,
                "violations": [{"file": v.file, "reason_code": v.reason_code} for v in violations[:100]],
                "framework": framework,
            },
        )
        if tree_id is not None:
            tx.execute(
                "INSERT INTO gate_runs (worktree, gate, tree_id, ok, lease_id, audit_sequence, created_at) VALUES (?,?,?,?,?,?,?)",
                (wt.name, "commit", tree_id, int(ok), lease.id if lease else None, row.sequence, now_iso()),
            )
        return GateResult(
            ok=ok,
            gate="commit",
            worktree=wt.name,
            mode=mode,
            lease_id=lease.id if lease else None,
            compliance_state=state,
            staged_files=staged_paths,
            changed_files=list(dict.fromkeys(staged_paths + [c.path for c in full])) if full is not None else staged_paths,
            violations=violations,
            warnings=warnings,
            summary=summary,
            audit_sequence=row.sequence,
        )

    return store.write(fn)


def _summary(gate: str, ok: bool, mode: str, count: int, violations: list[Violation], noun: str = "path(s)") -> str:
    if not violations:
        return f"{gate} gate passed ({mode}): {count} {noun} judged"
    verdict = "refused" if not ok else "allowed with warnings"
    return f"{gate} gate {verdict} ({mode}): {len(violations)} violation(s) in {count} {noun} judged"


# --- post-commit: provenance ---------------------------------------------------------------------


def _reflog_last(git_dir: str) -> tuple[str, str]:
    """(new commit id, message) of the last entry of this worktree's HEAD reflog."""
    try:
        with open(os.path.join(git_dir, "logs", "HEAD"), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            lines = fh.read().splitlines()
    except OSError:
        return "", ""
    if not lines:
        return "", ""
    last = lines[-1].decode("utf-8", "replace")
    head, _, message = last.partition("\t")
    ids = head.split(" ", 2)
    return (ids[1] if len(ids) > 1 else ""), message


def _operation_from_message(message: str) -> str | None:
    """Classify a reflog message (`<action>: <subject>`) as git 2.3x writes it."""
    action = message.split(":", 1)[0]
    for op in SEQUENCER_OPS:
        if action.startswith(op):
            return op  # `cherry-pick`, `revert`, `rebase (pick)`, `rebase -i (pick)`, ...
    if action.startswith("pull") and action.endswith(")"):
        return "rebase"  # `pull --rebase ... (pick)`; a merging pull is `pull ...: Merge made by`
    if action == "commit (amend)":
        return "amend"
    if action == "commit (merge)" or action.startswith(("merge", "pull")):
        return "merge"
    if action.startswith("commit"):
        # Also `commit (cherry-pick)`: a conflicted pick concluded with `git commit` ran pre-commit.
        return "commit"
    return None


def detect_operation(paths: RepoPaths, env: Mapping[str, str] | None = None, head: str | None = None) -> str:
    """commit | amend | merge | cherry-pick | revert | rebase — from git's own traces.

    The reflog entry git wrote for the new commit is authoritative: in post-commit git 2.39 does
    not export GIT_REFLOG_ACTION to hooks, and REVERT_HEAD is already gone. Only when the reflog
    says nothing (disabled, or its last entry is not HEAD) do the environment and the sequencer
    state files decide; a `git commit` run by hand during a stopped rebase is a commit.
    """
    new, message = _reflog_last(paths.git_dir)
    if message and (head is None or new == head):
        op = _operation_from_message(message)
        if op is not None:
            return op
    environ = env if env is not None else os.environ
    action = environ.get("GIT_REFLOG_ACTION", "")
    for op in SEQUENCER_OPS:
        if action.startswith(op):
            return op
    for marker, op in (("rebase-merge", "rebase"), ("rebase-apply", "rebase"), ("CHERRY_PICK_HEAD", "cherry-pick"), ("REVERT_HEAD", "revert")):
        if os.path.exists(os.path.join(paths.git_dir, marker)):
            return op
    return "commit"


def _head(root: str, env: Mapping[str, str] | None) -> tuple[str, str] | None:
    proc = run_git(HEAD_ARGS, root, env=env, check=False)
    lines = proc.stdout.decode().split()
    return (lines[0], lines[1]) if proc.returncode == 0 and len(lines) == 2 else None


def provenance(db: Any, commit: str) -> dict[str, Any] | None:
    return db.one("SELECT * FROM commit_provenance WHERE commit_id = ?", (commit,))


def _record(
    tx: Tx,
    *,
    commit: str,
    tree: str | None,
    worktree: str,
    lease: leasemod.Lease | None,
    task_id: str | None,
    gate_sequence: int | None,
    operation: str,
    bypassed: bool,
    extra: dict[str, Any] | None = None,
) -> audit.AuditRow:
    details = {"commit": commit, "tree": tree, "lease_id": lease.id if lease else None, "gate_sequence": gate_sequence, "operation": operation, **(extra or {})}
    if bypassed:
        row = tx.audit(
            "commit_gate_bypassed",
            "denied",
            reason_code="commit_gate_bypassed",
            worktree=worktree,
            task_id=task_id,
            lease_id=lease.id if lease else None,
            details=details,
        )
        wtmod.set_compliance(tx, worktree, "non_compliant")
    else:
        row = tx.audit(
            "commit_recorded",
            "allowed" if gate_sequence is not None else "info",
            reason_code=None if gate_sequence is not None else operation,
            worktree=worktree,
            task_id=task_id,
            lease_id=lease.id if lease else None,
            details=details,
        )
    tx.execute(
        "INSERT OR REPLACE INTO commit_provenance (commit_id, tree_id, worktree, lease_id, task_id, status, operation, "
        "audit_sequence, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        (commit, tree, worktree, lease.id if lease else None, task_id, "bypassed" if bypassed else "recorded", operation, row.sequence, now_iso()),
    )
    return row


def _picked_from(paths: RepoPaths) -> str | None:
    """The commit a cherry-pick in progress copies (CHERRY_PICK_HEAD is still there in post-commit)."""
    try:
        with open(os.path.join(paths.git_dir, "CHERRY_PICK_HEAD"), encoding="ascii") as fh:
            return fh.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def post_commit(paths: RepoPaths, store: Store, *, env: Mapping[str, str] | None = None, gate: str = "commit") -> dict[str, Any]:
    """Record the new commit's provenance: judged by a passing gate, a sequencer pick, or a bypass."""
    wt = resolve_worktree(paths, store)
    root = paths.toplevel
    assert root is not None
    head = _head(root, env)
    if head is None:
        return {"recorded": False}
    commit, tree = head
    op = detect_operation(paths, env, head=commit)
    picked = _picked_from(paths) if op in ("cherry-pick", "rebase") else None
    # "HEAD", just resolved to `commit`: the hook runner may have started this already.
    committed = run_git(committed_paths_args("HEAD"), root, env=env).stdout
    committed_paths = [os.fsdecode(p) for p in committed.split(b"\0") if p]
    window = stale_minutes(store.state_dir)

    def fn(tx: Tx) -> dict[str, Any]:
        snapshots.forget(tx, wt.name, committed_paths)
        consume_leftovers(tx, wt.name, committed_paths, now_iso())
        if provenance(tx, commit) is not None:
            return {"recorded": False, "commit": commit}
        lease = leasemod.active_for_worktree(tx, wt.name, window)
        run = tx.one(
            "SELECT * FROM gate_runs WHERE worktree = ? AND gate = ? AND tree_id = ? AND ok = 1 ORDER BY id DESC LIMIT 1",
            (wt.name, gate, tree),
        )
        task_id = lease.task_id if lease else None
        source = provenance(tx, picked) if picked else None
        common = {"commit": commit, "tree": tree, "worktree": wt.name, "lease": lease, "task_id": task_id, "operation": op}
        if run is not None:
            row = _record(tx, **common, gate_sequence=run["audit_sequence"], bypassed=False)
        elif op in SEQUENCER_OPS:
            # A pick copies a judged commit; copying a bypass does not launder it.
            bypassed = source is not None and source["status"] == "bypassed"
            extra = {"picked_from": picked} if picked else None
            row = _record(tx, **common, gate_sequence=None, bypassed=bypassed, extra=extra)
        else:
            row = _record(tx, **common, gate_sequence=None, bypassed=True)
        return {"recorded": True, "commit": commit, "event": row.event_type, "operation": op}

    return store.write(fn)


def _is_new_merge_commit(root: str, env: Mapping[str, str] | None, git_dir: str) -> bool:
    """post-merge: did this `git merge`/`git pull` just create a merge commit (not fast-forward)?"""
    new, message = _reflog_last(git_dir)
    if "Fast-forward" in message.split(":", 1)[-1][:40]:
        return False
    proc = run_git(["rev-list", "--parents", "-n", "1", "HEAD"], root, env=env, check=False)
    ids = proc.stdout.decode().split()
    if proc.returncode != 0 or len(ids) < 3 or (new and new != ids[0]):
        return False
    try:
        with open(os.path.join(git_dir, "ORIG_HEAD"), encoding="ascii") as fh:
            orig = fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return True
    return orig == ids[1]


def post_merge(
    paths: RepoPaths, store: Store, *, env: Mapping[str, str] | None = None, squash: bool = False, framework: bool = False
) -> dict[str, Any]:
    """A merge commit made by `git merge` (post-commit does not run for it); then re-baseline."""
    result: dict[str, Any] = {"recorded": False}
    root = paths.toplevel
    assert root is not None
    if not squash and _is_new_merge_commit(root, env, paths.git_dir):
        result = post_commit(paths, store, env=env, gate="merge")
    rebaseline(paths, store, env=env, framework=framework)
    return result


def post_rewrite(
    paths: RepoPaths,
    store: Store,
    command: str,
    lines: list[str],
    *,
    env: Mapping[str, str] | None = None,
    framework: bool = False,
) -> dict[str, Any]:
    """Carry provenance across amend/rebase: a rewritten bypass stays a bypass."""
    wt = resolve_worktree(paths, store)
    pairs = [ln.split()[:2] for ln in lines if len(ln.split()) >= 2]
    trees: dict[str, str] = {}
    if pairs and paths.toplevel:
        news = list(dict.fromkeys(new for _, new in pairs))
        proc = run_git(["rev-parse", *(f"{n}^{{tree}}" for n in news)], paths.toplevel, env=env, check=False)
        out = proc.stdout.decode().split()
        if proc.returncode == 0 and len(out) == len(news):
            trees = dict(zip(news, out, strict=True))

    def fn(tx: Tx) -> int:
        changed = 0
        for old, new in pairs:
            old_p = provenance(tx, old)
            new_p = provenance(tx, new)
            if old_p is None:
                continue
            if old_p["status"] == "bypassed" and (new_p is None or new_p["status"] != "bypassed"):
                lease = leasemod.get(tx, old_p["lease_id"]) if old_p["lease_id"] else None
                _record(tx, commit=new, tree=trees.get(new), worktree=wt.name, lease=lease, task_id=old_p["task_id"], gate_sequence=None, operation=command, bypassed=True, extra={"rewritten_from": old})
                changed += 1
            elif new_p is None:
                lease = leasemod.get(tx, old_p["lease_id"]) if old_p["lease_id"] else None
                _record(tx, commit=new, tree=trees.get(new), worktree=wt.name, lease=lease, task_id=old_p["task_id"], gate_sequence=None, operation=command, bypassed=False, extra={"rewritten_from": old})
                changed += 1
        return changed

    changed = store.write(fn)
    rebaseline(paths, store, env=env, framework=framework)
    return {"rewritten": changed}


def rewritten_pairs(paths: RepoPaths, command: str) -> list[str]:
    """post-rewrite's stdin (`<old> <new>` lines) recovered from git's own files.

    The pre-commit framework does not forward the hook's stdin: an amend's pair is the last HEAD
    reflog entry; a rebase's are in `rebase-merge/rewritten-list` (`rebase-apply/rewritten` for
    the apply backend), which still exist while post-rewrite runs.
    """
    if command == "amend":
        try:
            with open(os.path.join(paths.git_dir, "logs", "HEAD"), "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 4096))
                last = fh.read().splitlines()[-1:]
        except OSError:
            return []
        if not last:
            return []
        ids, _, message = last[0].decode("utf-8", "replace").partition("\t")
        old, new = (ids.split(" ") + ["", ""])[:2]
        return [f"{old} {new}"] if message.startswith("commit (amend)") and old and new else []
    for rel in ("rebase-merge/rewritten-list", "rebase-apply/rewritten"):
        try:
            with open(os.path.join(paths.git_dir, rel), encoding="ascii", errors="replace") as fh:
                return [line.strip() for line in fh if line.strip()]
        except OSError:
            continue
    return []


def rebaseline(paths: RepoPaths, store: Store, *, env: Mapping[str, str] | None = None, framework: bool = False) -> None:
    """post-checkout / post-merge / post-rewrite: the new state is the baseline, silently.

    Under the pre-commit framework the unstaged edits are stashed while the hook runs, so what
    is visible is merged into the snapshot instead of replacing it: an edit carried across the
    checkout keeps its fingerprint and is not reported again as a new write.
    """
    wt = resolve_worktree(paths, store)
    root = paths.toplevel
    assert root is not None
    current = fingerprints.worktree_changes(root, env)
    if framework:
        store.write(lambda tx: snapshots.diff_snapshot(tx, wt.name, current, complete=False, silent=True))
    else:
        store.write(lambda tx: snapshots.rebaseline(tx, wt.name, current))


# --- merge gate --------------------------------------------------------------------------------


def _merge_findings(tx: Tx, commits: list[str]) -> tuple[list[Violation], list[str], list[str]]:
    """Violations and warnings for merging `commits`, and the tasks their provenance names."""
    violations: list[Violation] = []
    warnings: list[str] = []
    tasks: dict[str, list[str]] = {}
    unknown = 0
    for c in commits:
        p = provenance(tx, c)
        if p is None:
            unknown += 1
        elif p["task_id"]:
            tasks.setdefault(p["task_id"], []).append(c)
        if p is not None and p["status"] == "bypassed":
            violations.append(Violation(c, "commit_gate_bypassed", {"worktree": p["worktree"], "task_id": p["task_id"]}, "re-commit the change through the gate (without --no-verify)"))
    for task_id, task_commits in sorted(tasks.items()):
        state = valstore.for_task(tx, task_id)
        v = state["validation"]
        holder = {"task_id": task_id, "commits": task_commits[:10]}
        if v is not None and v.status == "blocked":
            violations.append(Violation(task_id, "boundary_validation_blocked", {**holder, "missing_task_types": v.missing_task_types}, f"complete the required task types first: {', '.join(v.missing_task_types)}"))
        elif v is not None and v.status == "pending_validation":
            warnings.append(f"task {task_id}: boundary validation pending ({', '.join(v.missing_task_types)} not done)")
        for inv in state["invalidations"]:
            violations.append(Violation(task_id, "dependency_invalidated", {**holder, "source_task_id": inv.source_task_id, "reason_type": inv.reason_type}, f"revalidate: switchman-hook task retry {task_id}"))
    if unknown:
        warnings.append(f"{unknown} merged commit(s) have no recorded provenance")
    return violations, warnings, sorted(tasks)


def _incoming_commits(root: str, env: Mapping[str, str] | None, heads: list[str]) -> list[str]:
    if not heads:
        return []
    return run_git(["rev-list", *heads, "--not", "HEAD"], root, env=env).stdout.decode().split()


def merge_gate(
    paths: RepoPaths,
    store: Store,
    *,
    env: Mapping[str, str] | None = None,
    ref: str | None = None,
    record_tree: bool = True,
    hook: bool = False,
) -> GateResult:
    """Refuse merging work whose boundary validation is blocked or whose dependencies went stale.

    As the pre-merge-commit hook (`hook=True`) the index holds the merge result: its tree is
    recorded so post-merge can tell this judged merge commit from one made with --no-verify.
    """
    wt = resolve_worktree(paths, store)
    root = paths.toplevel
    assert root is not None
    heads = [ref] if ref else _incoming_heads(paths, root, env)
    mode = wt.enforcement_mode
    commits = _incoming_commits(root, env, heads)
    tree_id = _write_tree(root, env) if (record_tree and not ref and (heads or hook)) else None
    window = stale_minutes(store.state_dir)

    def fn(tx: Tx) -> GateResult:
        violations, warnings, tasks = _merge_findings(tx, commits)
        ok = mode == "observed" or not violations
        lease = leasemod.active_for_worktree(tx, wt.name, window)
        state_c = compliance_for(lease, len(violations))
        wtmod.set_compliance(tx, wt.name, state_c)
        row = tx.audit(
            "merge_gate",
            _audit_status(ok, len(violations)),
            reason_code=violations[0].reason_code if violations else None,
            worktree=wt.name,
            task_id=lease.task_id if lease else None,
            lease_id=lease.id if lease else None,
            details={"mode": mode, "heads": heads, "commits": len(commits), "tasks": tasks, "tree": tree_id, "violations": [{"file": v.file, "reason_code": v.reason_code} for v in violations]},
        )
        if tree_id:
            tx.execute(
                "INSERT INTO gate_runs (worktree, gate, tree_id, ok, lease_id, audit_sequence, created_at) VALUES (?,?,?,?,?,?,?)",
                (wt.name, "merge", tree_id, int(ok), lease.id if lease else None, row.sequence, now_iso()),
            )
        summary = "no merge in progress" if not heads else _summary("merge", ok, mode, len(commits), violations, "incoming commit(s)")
        return GateResult(ok, "merge", wt.name, mode, lease.id if lease else None, state_c, [], [], violations, warnings, summary, row.sequence)

    return store.write(fn)


# --- push / CI gates ---------------------------------------------------------------------------


def baseline_commits(db: Any) -> list[str]:
    row = db.one("SELECT value FROM meta WHERE key = 'baseline_commits'")
    if not row or not row["value"]:
        return []
    import json

    try:
        return [c for c in json.loads(row["value"]) if isinstance(c, str)]
    except ValueError:
        return []


def _check_commits(tx: Tx, commits: list[str]) -> tuple[list[Violation], list[dict[str, Any]]]:
    violations: list[Violation] = []
    info: list[dict[str, Any]] = []
    for c in commits:
        p = provenance(tx, c)
        if p is None:
            violations.append(Violation(c, "missing_provenance", None, "commit through the installed hooks (switchman-hook hooks install), or amend the commit so the gate judges it"))
            info.append({"commit": c, "provenance": None})
        elif p["status"] == "bypassed":
            violations.append(Violation(c, "commit_gate_bypassed", {"worktree": p["worktree"], "task_id": p["task_id"]}, "redo the commit without --no-verify so the gate judges it"))
            info.append({"commit": c, "provenance": "bypassed"})
        else:
            info.append({"commit": c, "provenance": p["operation"], "task_id": p["task_id"]})
    return violations, info


def _verify_trail(paths: RepoPaths, store: Store) -> list[Violation]:
    """The HMAC chain and the signed Merkle checkpoint, read in one pass over the log."""
    from .trail import verify_trail

    trail = verify_trail(paths, store, sqlite_audit.read_key(store.state_dir))
    return [
        Violation(
            f"audit#{f.sequence}" if f.sequence is not None else "audit",
            "audit_verify_failed",
            {"failure": f.reason_code},
            "run `switchman-hook audit verify` and `switchman-hook doctor`",
        )
        for f in trail.distinct_failures()
    ]


def push_gate(paths: RepoPaths, store: Store, remote: str, url: str, ref_lines: list[str], *, env: Mapping[str, str] | None = None) -> GateResult:
    """Every new commit in each pushed range has provenance without bypass; the trail verifies."""
    wt = resolve_worktree(paths, store)
    root = paths.toplevel
    assert root is not None
    baseline = baseline_commits(store)
    commits: list[str] = []
    ranges = []
    for line in ref_lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        local_ref, local_sha, remote_ref, remote_sha = fields[:4]
        if set(local_sha) == {"0"}:
            continue
        exclude = ["--not", f"--remotes={remote}", *baseline]
        if set(remote_sha) != {"0"} and run_git(["cat-file", "-e", f"{remote_sha}^{{commit}}"], root, env=env, check=False).returncode == 0:
            exclude = ["--not", remote_sha, *baseline]
        listed = run_git(["rev-list", local_sha, *exclude], root, env=env).stdout.decode().split()
        ranges.append({"local_ref": local_ref, "remote_ref": remote_ref, "commits": len(listed)})
        commits += [c for c in listed if c not in commits]
    trail = _verify_trail(paths, store)
    mode = wt.enforcement_mode

    def fn(tx: Tx) -> GateResult:
        violations, info = _check_commits(tx, commits)
        violations += trail
        ok = mode == "observed" or not violations
        row = tx.audit(
            "push_gate",
            _audit_status(ok, len(violations)),
            reason_code=violations[0].reason_code if violations else None,
            worktree=wt.name,
            details={"remote": remote, "url": url, "mode": mode, "ranges": ranges, "commits": len(commits), "violations": [{"file": v.file, "reason_code": v.reason_code} for v in violations[:100]]},
        )
        summary = _summary("push", ok, mode, len(commits), violations, "new commit(s)")
        return GateResult(ok, "push", wt.name, mode, None, None, [], [], violations, [], summary, row.sequence, info)

    return store.write(fn)


def ci_gate(paths: RepoPaths, store: Store, base: str | None = None) -> GateResult:
    """Repo-level gate for CI: trail verifies, no blocked validations, provenance for BASE..HEAD."""
    root = paths.toplevel or paths.root
    env = git_env(for_other_worktree=True)
    baseline = baseline_commits(store)
    args = ["rev-list", "HEAD"]
    if base:
        if run_git(["rev-parse", "--verify", "-q", f"{base}^{{commit}}"], root, env=env, check=False).returncode != 0:
            from .errors import BadInput

            raise BadInput(f"--base {base} is not a commit", "pass a branch, tag or commit id, e.g. --base origin/main")
        args += ["--not", base]
    if baseline:
        args += ["--not", *baseline]
    commits = run_git(args, root, env=env).stdout.decode().split()
    trail = _verify_trail(paths, store)

    def fn(tx: Tx) -> GateResult:
        violations, info = _check_commits(tx, commits)
        violations += trail
        task_ids = sorted({i["task_id"] for i in info if i.get("task_id")})
        for v in valstore.list_validations(tx, "blocked"):
            if not task_ids or v.task_id in task_ids:
                violations.append(Violation(v.task_id, "boundary_validation_blocked", {"lease_id": v.lease_id, "missing_task_types": v.missing_task_types}, f"complete: {', '.join(v.missing_task_types)}"))
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
