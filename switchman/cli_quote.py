"""Shell-quote a word for a fix command printed to a person (safe to paste)."""

from __future__ import annotations

import re

_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def quote(word: str) -> str:
    if word and _SAFE.fullmatch(word):
        return word
    if word.isprintable():
        return "'" + word.replace("'", "'\"'\"'") + "'"
    # Newlines / non-UTF-8 bytes: bash's $'...' form keeps the exact bytes.
    out = []
    for ch in word:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\n":
            out.append("\\n")
        elif ch in "'\\":
            out.append("\\" + ch)
        elif not ch.isprintable():
            out.append(f"\\x{code:02x}" if code < 256 else ch)
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


def shown(path: str, *, pasteable: bool = False) -> str:
    """A file name safe for one terminal line: as is when printable UTF-8, else escaped.

    `pasteable` escapes as a shell word (`$'…'`, for paths inside fix commands); otherwise
    Python-style escapes (`\\n`, `\\udcff`) keep tables readable.
    """
    if path.isprintable():
        try:
            path.encode("utf-8")
            return path
        except UnicodeEncodeError:
            pass
    return quote(path) if pasteable else repr(path)[1:-1]
