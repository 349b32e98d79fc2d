"""After the fact: post-commit / post-merge / post-rewrite provenance, and the re-baseline.

post-commit records how each new commit came to be (judged by a passing gate, a sequencer pick,
or a bypass) from git's own traces; post-rewrite carries that across amend and rebase; checkout,
merge and rewrite make the new worktree state the baseline, silently (SPEC §7).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .. import audit, fingerprints
from ..ops.claims import consume_leftovers
from ..receipts.record import write_receipts
from ..repo import HEAD_ARGS, RepoPaths, committed_paths_args, run_git
from ..store import leases as leasemod
from ..store import snapshots
from ..store import worktrees as wtmod
from ..store.sqlite import Store, Tx
from ..timeutil import now_iso
from .common import provenance, resolve_worktree, stale_minutes

SEQUENCER_OPS = ("cherry-pick", "revert", "rebase")


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
        return {"recorded": True, "commit": commit, "event": row.event_type, "operation": op, "row": row}

    result = store.write(fn)
    write_receipts(paths, store, [result.get("row")], mode=wt.enforcement_mode, env=env)
    return result


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

    recorded: list[audit.AuditRow] = []

    def fn(tx: Tx) -> int:
        recorded.clear()
        changed = 0
        for old, new in pairs:
            old_p = provenance(tx, old)
            new_p = provenance(tx, new)
            if old_p is None:
                continue
            if old_p["status"] == "bypassed" and (new_p is None or new_p["status"] != "bypassed"):
                lease = leasemod.get(tx, old_p["lease_id"]) if old_p["lease_id"] else None
                recorded.append(_record(tx, commit=new, tree=trees.get(new), worktree=wt.name, lease=lease, task_id=old_p["task_id"], gate_sequence=None, operation=command, bypassed=True, extra={"rewritten_from": old}))
                changed += 1
            elif new_p is None:
                lease = leasemod.get(tx, old_p["lease_id"]) if old_p["lease_id"] else None
                recorded.append(_record(tx, commit=new, tree=trees.get(new), worktree=wt.name, lease=lease, task_id=old_p["task_id"], gate_sequence=None, operation=command, bypassed=False, extra={"rewritten_from": old}))
                changed += 1
        return changed

    changed = store.write(fn)
    write_receipts(paths, store, recorded, mode=wt.enforcement_mode, env=env)
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
