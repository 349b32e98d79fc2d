"""Policy changes: the file rewrite happens inside the transaction that audits it."""

from __future__ import annotations

from .. import policy as policymod
from ..globs.syntax import validate_glob
from ..store import worktrees as wtstore
from ..store.base import Store, Tx
from .leases import Caller, weakening
from .worktrees import lowers


def allow(store: Store, globs: list[str], caller: Caller | None = None) -> policymod.Policy:
    """Widen the generated-path exceptions: it weakens every worktree (issue 12)."""
    checked = [validate_glob(g) for g in globs]

    def fn(tx: Tx) -> policymod.Policy:
        pol = policymod.load(store.state_dir)
        merged = tuple(dict.fromkeys([*pol.allowed_generated_paths, *checked]))
        new = policymod.Policy(pol.default_mode, merged, pol.extra)
        fresh = [g for g in checked if g not in pol.allowed_generated_paths]
        details = {"allowed_generated_paths": list(merged), "added": checked, **weakening(tx, caller, None, bool(fresh))}
        tx.audit("policy_updated", "info", details=details)
        policymod.save(store.state_dir, new)
        return new

    return store.write(fn)


def set_default_mode(
    store: Store, mode: str, all_worktrees: bool = False, caller: Caller | None = None
) -> policymod.Policy:
    """A weaker default weakens every worktree registered later; `--all-worktrees` each it lowers."""
    policymod.check_mode(mode, policymod.DEFAULT_MODES)

    def fn(tx: Tx) -> policymod.Policy:
        pol = policymod.load(store.state_dir)
        new = policymod.Policy(mode, pol.allowed_generated_paths, pol.extra)
        lowered = [w.name for w in wtstore.list_all(tx) if lowers(mode, w.enforcement_mode)] if all_worktrees else []
        weaker = lowers(mode, pol.default_mode)
        details = {"default_mode": mode, "previous": pol.default_mode, "all_worktrees": all_worktrees}
        if lowered:
            details["lowered"] = lowered
        details.update(weakening(tx, caller, None if weaker else lowered, weaker or bool(lowered)))
        tx.audit("policy_updated", "info", details=details)
        if all_worktrees:
            wtstore.set_every_mode(tx, mode)
        policymod.save(store.state_dir, new)
        return new

    return store.write(fn)
