"""The one JSON encoder for stored and signed text.

Compact, non-ASCII unescaped, lone surrogates (from `os.fsdecode` of non-UTF-8 file names)
escaped as `\\udxxx` — byte-compatible with JavaScript's JSON.stringify, which is what
switchman-dev 0.1.3 signed with (SPEC §3).
"""

from __future__ import annotations

import json
import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def dumps(obj: Any) -> str:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return _LONE_SURROGATE.sub(_escape_surrogate, text)


def loads(text: str) -> Any:
    return json.loads(text)
