"""Timestamps: UTC ISO-8601 with milliseconds and `Z`, the audit trail's format (SPEC §3)."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def now_iso(epoch: float | None = None) -> str:
    t = time.time() if epoch is None else epoch
    ms = int(round(t * 1000))
    secs, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{millis:03d}Z"


def parse_ts(text: str | None) -> float | None:
    """Epoch seconds from our ISO form or switchman-dev 0.1.3's `datetime('now')` form."""
    if not text:
        return None
    s = text.strip().replace(" ", "T")
    if s.endswith("Z"):
        s = s[:-1]
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()
