"""Helpers for the warm-helper tests: its processes, and a client from another install."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (a helper's forks, each running one hook)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def other_version(tmp: Path, version: str) -> Path:
    """A copy of this package claiming another version: its helper client stands for an upgrade."""
    import switchman

    other = tmp / "other" / "switchman"
    shutil.copytree(os.path.dirname(switchman.__file__), other, ignore=shutil.ignore_patterns("__pycache__"))
    init = other / "__init__.py"
    init.write_text(init.read_text().replace(f'__version__ = "{switchman.__version__}"', f'__version__ = "{version}"'))
    return other / "helper" / "client.py"
