"""doctor's `provenance` check (SPEC §10): the provenance table against the signed rows, and
bypassed commits still on a local branch."""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import SwitchmanError
from ..gates.signed import mismatches, open_bypasses, signed_verdicts
from ..store import gate_runs as runstore
from ..store import sqlite_audit
from .context import Check, Ctx, check

SHOWN = 5


def _ids(commits: list[str]) -> str:
    shown = ", ".join(c[:12] for c in commits[:SHOWN])
    more = len(commits) - SHOWN
    return shown + (f" (+{more} more)" if more > 0 else "")


def provenance_check(c: Ctx) -> Iterator[Check]:
    if c.store is None or not c.has_table("commit_provenance"):
        return
    try:
        key = sqlite_audit.read_key(c.state_dir)
    except SwitchmanError:
        key = None
    signed = signed_verdicts(c.store, key)
    table = {r["commit_id"]: r for r in runstore.all_provenance(c.store)}
    bad = mismatches(table, signed, list(dict.fromkeys([*signed, *table])))
    if bad:
        yield check(
            "provenance",
            "fail",
            f"{len(bad)} commit(s) whose commit_provenance row disagrees with the signed audit log "
            f"(provenance_mismatch, tampering): {_ids(bad)}",
            "the signed log is authoritative: find who edited the store's tables, then redo the commits "
            "through the gate: git reset --soft <base> && git commit",
        )
        return
    live = open_bypasses(c.store, key, c.root or ".", c.env)
    if live:
        yield check(
            "provenance",
            "warn",
            f"{len(live)} commit(s) that bypassed the gate are still on a local branch: "
            + _ids([cid for cid, _ in live]),
            "redo them through the gate: git reset --soft <base> && git commit  (or drop them from every branch)",
        )
        return
    yield check("provenance", "ok", f"{len(signed)} recorded commit(s) agree with the signed audit log")
