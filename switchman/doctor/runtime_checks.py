"""The hot path's own machinery: the commit spool and the warm helper (SPEC §7, issue 15)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from .. import helperstate, spool
from .context import Check, Ctx, check


def spool_check(c: Ctx) -> Iterator[Check]:
    """Commits the sh post-commit spooled that could not be recorded yet (doctor drained first)."""
    directory = spool.spool_dir(c.paths.common_dir)
    if not os.path.isdir(directory):
        yield check(
            "spool", "warn", f"{directory} is missing: post-commit records in Python (slower)", "switchman-hook hooks install"
        )
        return
    waiting = sorted(n for n in os.listdir(directory) if not n.startswith("."))
    if waiting:
        yield check(
            "spool",
            "warn",
            f"{len(waiting)} spooled commit(s) not recorded yet (first: {waiting[0].split('-')[0]}): the store did not take them",
            "fix what `state_dir`/`integrity` report, then `switchman-hook status` records them",
        )
        return
    yield check("spool", "ok", "every spooled commit is recorded")


def helper_check(c: Ctx) -> Iterator[Check]:
    state = helperstate.status(c.paths.common_dir)
    if state.state == "stale_socket":
        yield check("helper", "warn", state.detail, "switchman-hook helper stop")
        return
    yield check("helper", "ok", f"{state.state}: {state.detail}")
