"""`switchman-hook audit verify` end to end on a bulk-built log."""

from __future__ import annotations

from bench_hooks import CONSOLE
from lib.config import TARGET_VERIFY_1M_S
from lib.measure import Ctx, Result, interleave, label
from lib.procs import timed
from lib.repos import (
    build_verify,
)


def verify_case(ctx: Ctx, events: int) -> Result:
    repo = build_verify(ctx.cache, events)
    runs = ctx.runs if events <= 200_000 else max(7, min(ctx.runs, 7))

    def cli(_r: int) -> float:
        return timed([str(CONSOLE), "audit", "verify", "--json"], repo.root, repo.env)

    samples = interleave({"audit verify": cli}, runs, 1)
    res = Result(f"verify-{label(events)}", {"events": events}, samples, unit="ms")
    secs = res.med("audit verify") / 1000
    res.extra["events_per_s"] = events / secs
    if events >= 1_000_000:
        res.target = f"≤ {TARGET_VERIFY_1M_S:.0f} s"
        res.figure = f"{secs:.1f} s"
        res.met = secs <= TARGET_VERIFY_1M_S
    else:
        res.figure = f"{secs:.2f} s ({events / secs:,.0f} events/s)"
    return res
