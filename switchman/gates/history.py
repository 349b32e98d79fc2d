"""After the fact: post-commit / post-merge / post-rewrite provenance, and the re-baseline.

post-commit records how each new commit came to be (judged by a passing gate, a sequencer pick,
or a bypass) from git's own traces; post-rewrite carries that across amend and rebase; checkout,
merge and rewrite make the new worktree state the baseline, silently (SPEC §7).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from .. import audit, fingerprints
from ..ops.claims import consume_leftovers
from ..records import Record
from ..repo import HEAD_ARGS, RepoPaths, committed_paths_args, run_git
from ..store import gate_runs as runstore
from ..store import leases as leasemod
from ..store import snapshots
from ..store import worktrees as wtmod
from ..store.sqlite import Store, Tx
from ..timeutil import now_iso
from .common import resolve_worktree, stale_minutes
from .signed import gate_run_for, key_of, signed_record
from .traces import SEQUENCER_OPS, Traces, operation, picked_oid, read_live, reflog_entry


def _head(root: str, env: Mapping[str, str] | None) -> tuple[str, str, list[str]] | None:
    """(commit, tree, parents) of HEAD, from one `rev-parse` (HEAD_ARGS)."""
    proc = run_git(HEAD_ARGS, root, env=env, check=False)
    lines = proc.stdout.decode().split()
    return (lines[0], lines[1], lines[2:]) if proc.returncode == 0 and len(lines) >= 2 else None


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
    mode: str,
    extra: dict[str, Any] | None = None,
) -> audit.AuditRow:
    # The mode is signed with the record, so a receipt written later (at push, by doctor or
    # gate ci) says exactly what one written at once would have said.
    details = {"commit": commit, "tree": tree, "lease_id": lease.id if lease else None, "gate_sequence": gate_sequence, "operation": operation, "mode": mode, **(extra or {})}
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
    runstore.record_provenance(
        tx, commit, tree, worktree, lease.id if lease else None, task_id, "bypassed" if bypassed else "recorded",
        operation, row.sequence, now_iso(),
    )
    return row


def _changed(root: str, env: Mapping[str, str] | None, rev: str) -> list[str] | None:
    proc = run_git(committed_paths_args(rev), root, env=env, check=False)
    return [os.fsdecode(p) for p in proc.stdout.split(b"\0") if p] if proc.returncode == 0 else None


def inherit_reason(
    tx: Tx, key: str | None, source: str | None, source_paths: list[str] | None, new_paths: list[str], judge: Any
) -> tuple[str | None, dict[str, Any]]:
    """Why a copy of `source` (pick, revert, rewrite) may NOT inherit its verdict, or None (SPEC §10).

    The source needs a gate-checked signed record; its changed paths must cover the copy's; a
    source recorded in another worktree must also be allowed by this worktree's lease (`judge`).
    """
    if source is None:
        return "the source commit is not known", {}
    verdict, d, tampered = signed_record(tx, key, source)
    if tampered:
        return "the source commit's provenance row is not backed by the signed log", {}
    if verdict is None:
        return "the source commit has no gate-checked record", {}
    if verdict == "bypassed":
        return "the source commit bypassed the gate", d
    if source_paths is None or not set(new_paths) <= set(source_paths):
        return "the new commit changes paths the source commit did not", d
    if judge is not None and d.get("worktree") is not None:
        refused = [p for p in new_paths if not judge(d["worktree"], p)]
        if refused:
            return f"this worktree's lease does not allow {refused[0]}", d
    return None, d


class Made(Record):
    """A commit to record: what git made and the traces of how (live, or from the spool)."""

    commit: str
    tree: str
    parents: list[str]
    traces: Traces
    rev: str  # how to name it to git: "HEAD" in the hook itself (prefetched), else the oid


def made_now(paths: RepoPaths, env: Mapping[str, str] | None = None) -> Made | None:
    """The commit HEAD names now, with the traces git left for it (the in-process post-commit)."""
    assert paths.toplevel is not None
    head = _head(paths.toplevel, env)
    if head is None:
        return None
    return Made(commit=head[0], tree=head[1], parents=head[2], traces=read_live(paths.git_dir, env), rev="HEAD")


def post_commit(paths: RepoPaths, store: Store, *, env: Mapping[str, str] | None = None, gate: str = "commit") -> dict[str, Any]:
    """Record HEAD's provenance now, in this process (post-merge; post-commit without the spool)."""
    made = made_now(paths, env)
    if made is None:
        return {"recorded": False}
    _, fn = prepare_record(paths, store, made, env=env, gate=gate)
    return store.write(fn)


def prepare_record(
    paths: RepoPaths, store: Store, made: Made, *, env: Mapping[str, str] | None = None, gate: str = "commit"
) -> tuple[Any, Callable[[Tx], dict[str, Any]]]:
    """Ask git what the recording needs; return the worktree and the transaction's function.

    Gate-checked only when a passing gate's *signed* row judged this parent, tree and merge
    parents; an amend when a passing gate judged old -> tree and the old commit is gate-checked;
    a pick/revert when its source is gate-checked and covers the copy (`inherit_reason`).
    """
    wt = resolve_worktree(paths, store)
    root = paths.toplevel
    assert root is not None
    commit, tree, parents = made.commit, made.tree, made.parents
    op = operation(made.traces, head=commit)
    old = made.traces.reflog_old if op == "amend" else None
    picked = picked_oid(made.traces, op) if op != "revert" else _reverted(root, env, commit)
    committed = run_git(committed_paths_args(made.rev), root, env=env).stdout
    committed_paths = [os.fsdecode(p) for p in committed.split(b"\0") if p]
    source_paths = _changed(root, env, picked) if picked else None
    window = stale_minutes(store.state_dir)
    key = key_of(store)

    def fn(tx: Tx) -> dict[str, Any]:
        snapshots.forget(tx, wt.name, committed_paths)
        consume_leftovers(tx, wt.name, committed_paths, now_iso())
        verdict, _, tampered_self = signed_record(tx, key, commit)
        if verdict is not None:
            return {"recorded": False, "commit": commit}
        lease = leasemod.active_for_worktree(tx, wt.name, window)
        task_id = lease.task_id if lease else None
        common = {"commit": commit, "tree": tree, "worktree": wt.name, "lease": lease, "task_id": task_id, "operation": op, "mode": wt.enforcement_mode}
        # A passing gate that judged exactly this parent, tree and merge parents covers the commit,
        # whatever git operation made it (an amend that keeps the judged change is such a commit).
        run_seq, forged = gate_run_for(
            tx, key, worktree=wt.name, gate=gate, tree=tree, parent=parents[0] if parents else None, merge_parents=parents[1:]
        )
        composed = False
        if run_seq is None and op == "amend":
            # Else an amend is the old commit's change plus what the gate judged on top of it.
            run_seq, more = gate_run_for(tx, key, worktree=wt.name, gate=gate, tree=tree, parent=old, merge_parents=None)
            forged += [m for m in more if m not in forged]
            composed = run_seq is not None
        why: dict[str, Any] = {}
        if tampered_self:
            why["tampered_provenance"] = True
        if forged:
            why["forged_gate_runs"] = forged[:10]
        if composed:
            old_verdict, _, _ = signed_record(tx, key, old) if old else (None, {}, False)
            if old_verdict != "recorded":
                why.update(reason="the amended commit has no gate-checked record", source=old, rewritten_from=old)
                run_seq = None
        if run_seq is not None:
            row = _record(tx, **common, gate_sequence=run_seq, bypassed=False, extra=why or None)
        elif op in SEQUENCER_OPS and "reason" not in why:
            judge = _lease_judge(tx, wt.name, committed_paths, window, store.state_dir)
            reason, _ = inherit_reason(tx, key, picked, source_paths, committed_paths, judge)
            extra = {"picked_from": picked, **why}
            if reason is not None:
                extra["reason"] = reason
            row = _record(tx, **common, gate_sequence=None, bypassed=reason is not None, extra=extra)
        else:
            why.setdefault("reason", "no passing gate judged this parent and tree")
            if op == "amend":
                why.setdefault("source", old)
                why.setdefault("rewritten_from", old)
            row = _record(tx, **common, gate_sequence=None, bypassed=True, extra=why)
        return {"recorded": True, "commit": commit, "event": row.event_type, "operation": op, "row": row}

    return wt, fn


def _reverted(root: str, env: Mapping[str, str] | None, commit: str) -> str | None:
    """The commit a revert undoes, from the message git wrote ("This reverts commit <oid>")."""
    body = run_git(["cat-file", "commit", commit], root, env=env, check=False).stdout.decode("utf-8", "replace")
    m = re.search(r"This reverts commit ([0-9a-f]{40,64})", body)
    return m.group(1) if m else None


def _lease_judge(tx: Tx, worktree: str, paths_: list[str], window: float, state_dir: str) -> Any:
    """judge(source_worktree, path): a source from another worktree must be allowed here too."""
    from .. import policy as policymod
    from ..ops.claims import load_context

    ctx: list[Any] = []

    def judge(source_worktree: str, path: str) -> bool:
        if source_worktree == worktree:
            return True
        if not ctx:
            globs = policymod.load(state_dir).allowed_generated_paths
            ctx.append(load_context(tx, worktree, paths_, stale_minutes=window, generated_globs=globs))
        return bool(ctx[0].judge(path).allowed)

    return judge


def is_new_merge_commit(root: str, env: Mapping[str, str] | None, git_dir: str) -> bool:
    """post-merge: did this `git merge`/`git pull` just create a merge commit (not fast-forward)?"""
    _, new, message = reflog_entry(git_dir)
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
    if not squash and is_new_merge_commit(root, env, paths.git_dir):
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
    """Carry provenance across amend/rebase with the pick rule (`inherit_reason`): a rewrite
    inherits only from a gate-checked source whose paths cover it; a rewrite of a bypass or of an
    unrecorded commit is a bypass. A commit post-commit already recorded keeps its verdict."""
    wt = resolve_worktree(paths, store)
    root = paths.toplevel
    pairs = [(ln.split()[0], ln.split()[1]) for ln in lines if len(ln.split()) >= 2]
    key = key_of(store)
    todo = [(old, new) for old, new in pairs if signed_record(store, key, new)[0] is None]
    trees: dict[str, str] = {}
    changed_paths: dict[str, list[str] | None] = {}
    if todo and root:
        news = list(dict.fromkeys(new for _, new in todo))
        proc = run_git(["rev-parse", *(f"{n}^{{tree}}" for n in news)], root, env=env, check=False)
        out = proc.stdout.decode().split()
        if proc.returncode == 0 and len(out) == len(news):
            trees = dict(zip(news, out, strict=True))
        for rev in dict.fromkeys(c for pair in todo for c in pair):
            changed_paths[rev] = _changed(root, env, rev)
    window = stale_minutes(store.state_dir)

    recorded: list[audit.AuditRow] = []

    def fn(tx: Tx) -> int:
        recorded.clear()
        changed = 0
        for old, new in todo:
            if signed_record(tx, key, new)[0] is not None:
                continue
            new_paths = changed_paths.get(new) or []
            judge = _lease_judge(tx, wt.name, new_paths, window, store.state_dir)
            reason, d = inherit_reason(tx, key, old, changed_paths.get(old), new_paths, judge)
            lease = leasemod.get(tx, d["lease_id"]) if d.get("lease_id") else None
            extra: dict[str, Any] = {"rewritten_from": old}
            if reason is not None:
                extra["reason"] = reason
            recorded.append(_record(
                tx, commit=new, tree=trees.get(new), worktree=wt.name, lease=lease, task_id=d.get("task_id"),
                gate_sequence=None, operation=command, bypassed=reason is not None, mode=wt.enforcement_mode, extra=extra,
            ))
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
