"""Policy changes: the file rewrite happens inside the transaction that audits it."""

from __future__ import annotations

from .. import policy as policymod
from ..globs.syntax import validate_glob
from ..store import worktrees as wtstore
from ..store.base import Store, Tx


def allow(store: Store, globs: list[str]) -> policymod.Policy:
    checked = [validate_glob(g) for g in globs]

    def fn(tx: Tx) -> policymod.Policy:
        pol = policymod.load(store.state_dir)
        merged = tuple(dict.fromkeys([*pol.allowed_generated_paths, *checked]))
        new = policymod.Policy(pol.default_mode, merged, pol.extra)
        tx.audit("policy_updated", "info", details={"allowed_generated_paths": list(merged), "added": checked})
        policymod.save(store.state_dir, new)
        return new

    return store.write(fn)


def set_default_mode(store: Store, mode: str, all_worktrees: bool = False) -> policymod.Policy:
    policymod.check_mode(mode, policymod.DEFAULT_MODES)

    def fn(tx: Tx) -> policymod.Policy:
        pol = policymod.load(store.state_dir)
        new = policymod.Policy(mode, pol.allowed_generated_paths, pol.extra)
        tx.audit("policy_updated", "info", details={"default_mode": mode, "previous": pol.default_mode, "all_worktrees": all_worktrees})
        if all_worktrees:
            wtstore.set_every_mode(tx, mode)
        policymod.save(store.state_dir, new)
        return new

    return store.write(fn)
