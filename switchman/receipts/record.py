"""Write the receipt of a commit the recording hooks just recorded (SPEC §11).

Called by post-commit / post-merge / post-rewrite after their transaction, with the audit row
that recorded the commit (`commit_recorded` or `commit_gate_bypassed`): the verdict comes from
that row, never from anything the agent can write into the commit itself. Cost on the hot path:
one `git log` for the facts (tree, parents, changes against the first parent), one signature
(cryptography imported here, lazily), and notes.append's three git processes.

A receipt that cannot be written never breaks the commit (the hook runs after the fact): a
one-line warning goes to stderr and `doctor`'s `receipts` check reports the commit as missing.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import SwitchmanError
from ..repo import GitError

# The recording events, and the verdict they stand for.
RECORDING_EVENTS = ("commit_recorded", "commit_gate_bypassed")


def verdict_of(row: Any) -> str:
    """allowed | observed | bypassed | picked, from the recording audit row."""
    details = _details(row)
    explicit = details.get("verdict")
    if explicit in ("allowed", "observed", "bypassed", "picked"):
        return str(explicit)
    if row.event_type == "commit_gate_bypassed":
        return "bypassed"
    if row.status == "allowed":
        return "allowed"
    if row.status == "observed":
        return "observed"
    return "picked"  # recorded without a gate run of its own: a sequencer pick or a rewrite


def _details(row: Any) -> dict[str, Any]:
    try:
        d = json.loads(row.details or "{}")
    except (TypeError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def _operation(op: Any) -> str:
    from .envelope import OPERATIONS

    return op if op in OPERATIONS else "commit"


def _signer(store: Any) -> Any | None:
    """This repo's active Ed25519 checkpoint key, or None when the repo has none set up."""
    from ..checkpoint import keys

    rid = keys.repo_id(store.conn)
    ring = keys.keyring(store.conn)
    if rid is None or not keys.active(ring):
        return None
    return keys.resolve_signer(rid, ring)


def build_lines(
    cwd: str, rows: Sequence[Any], signer: Any, *, mode: str, facts: Mapping[str, Any] | None = None
) -> dict[str, list[str]]:
    """{commit: [receipt line]} for the recording rows (one `git log` unless `facts` given)."""
    from . import envelope
    from .verify import commit_facts

    wanted = []
    for row in rows:
        commit = _details(row).get("commit")
        if isinstance(commit, str) and commit not in wanted:
            wanted.append(commit)
    if facts is None:
        facts = {f.commit: f for f in commit_facts(cwd, wanted)}
    out: dict[str, list[str]] = {}
    for row in rows:
        d = _details(row)
        f = facts.get(d.get("commit"))  # type: ignore[arg-type]
        if f is None:
            continue
        source = d.get("rewritten_from") or d.get("picked_from")
        statement = envelope.build_statement(
            f.commit,
            tree=f.tree,
            parents=f.parents,
            verdict=verdict_of(row),
            mode=str(d.get("mode") or mode),
            operation=_operation(d.get("operation")),
            changes=f.changes,
            worktree=row.worktree,
            task_id=row.task_id,
            lease_id=row.lease_id,
            audit_sequence=row.sequence,
            entry_hash=row.entry_hash,
            source=source if isinstance(source, str) and len(source) in (40, 64) else None,
        )
        out.setdefault(f.commit, []).append(envelope.receipt_line(statement, signer))
    return out


def write_receipts(paths: Any, store: Any, rows: Iterable[Any] | None, *, mode: str, env: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Sign and append receipts for the recording rows; warn (never raise) when it cannot."""
    rows = [r for r in (rows or ()) if r is not None and r.event_type in RECORDING_EVENTS]
    if not rows:
        return {}
    from . import notes

    cwd = paths.toplevel or paths.root
    try:
        signer = _signer(store)
        if signer is None:
            return {}
        lines = build_lines(os.fspath(cwd), rows, signer, mode=mode)
        notes.append(cwd, lines)
        return lines
    except (SwitchmanError, GitError, OSError, ValueError) as exc:
        fix = getattr(exc, "fix", "") or "run `switchman-hook doctor`"
        print(f"switchman-hook: warning: receipt not written: {getattr(exc, 'message', exc)} — {fix}", file=sys.stderr)
        return {}
