"""Timestamps: UTC ISO-8601 with milliseconds and `Z`, the audit trail's format (SPEC §3).

One clock for everything a store records or compares (heartbeats, staleness, windows): this
machine's, unless a store server said otherwise. Machines sharing a PostgreSQL store (SPEC §12)
would otherwise judge each other's heartbeats by skewed clocks (a machine 20 minutes behind
would look stale at once), so the server backend measures its clock when it connects and sets
the offset here (`use_offset`); the SQLite backend sets it back to 0.
"""

from __future__ import annotations

import time

_clock = time.time  # the machine's clock (tests replace it to simulate a skewed machine)
_offset = 0.0  # seconds to add to it: the store server's clock minus ours


def use_offset(seconds: float) -> None:
    """Follow the store server's clock from now on (0: this machine's own)."""
    global _offset
    _offset = seconds


def machine_clock() -> float:
    return _clock()


def now() -> float:
    """Seconds since the epoch on the store's clock."""
    return _clock() + _offset


def now_iso(epoch: float | None = None) -> str:
    t = now() if epoch is None else epoch
    ms = int(round(t * 1000))
    secs, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{millis:03d}Z"


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _parse_ours(s: str) -> float | None:
    """`YYYY-MM-DDTHH:MM:SS[.mmm]Z` (what `now_iso` writes) without importing datetime (hot path).

    Same value as `datetime.fromisoformat(...).timestamp()`: whole microseconds over 10**6.
    """
    n = len(s)
    if n not in (20, 24) or s[-1] != "Z" or s[4] != "-" or s[7] != "-" or s[10] != "T" or s[13] != ":" or s[16] != ":":
        return None
    digits = s[0:4] + s[5:7] + s[8:10] + s[11:13] + s[14:16] + s[17:19]
    millis = 0
    if n == 24:
        if s[19] != ".":
            return None
        digits += s[20:23]
    if not (digits.isascii() and digits.isdigit()):
        return None
    y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
    h, mi, sec = int(s[11:13]), int(s[14:16]), int(s[17:19])
    if n == 24:
        millis = int(s[20:23])
    if not (1 <= mo <= 12 and 1 <= d <= 28 and h < 24 and mi < 60 and sec < 60 and y >= 1):
        return None  # day 29-31 and leap seconds: let datetime validate them
    whole = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
    return (whole * 10**6 + millis * 1000) / 10**6


def parse_ts(text: str | None) -> float | None:
    """Epoch seconds from our ISO form or switchman-dev 0.1.3's `datetime('now')` form."""
    if not text:
        return None
    fast = _parse_ours(text)
    if fast is not None:
        return fast
    from datetime import datetime, timezone

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
