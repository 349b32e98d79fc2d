"""The `switchman-hook` console script.

Importing this package stays cheap: `main` and `cli` (the click entry point and group, for
in-process callers) are loaded from `cli.app` on first use.
"""

from __future__ import annotations

import sys
from typing import Any


def entry() -> None:
    from .app import main

    sys.exit(main())


def __getattr__(name: str) -> Any:
    if name in ("main", "cli"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
