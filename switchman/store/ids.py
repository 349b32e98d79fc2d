"""Ids in switchman-dev's shape: `<prefix>-<epoch ms>-<6 base36 chars>`."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def make_id(prefix: str) -> str:
    rand = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    return f"{prefix}-{int(time.time() * 1000)}-{rand}"
