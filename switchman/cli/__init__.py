"""The `switchman-hook` console script.

`entry` first offers the invocation to `cli.fast`, which answers `check`, `whoami` and
`agent-hook claude-code` (what an agent runs before every edit) without importing click; every
other invocation, and anything `fast` is not sure of, goes to the click application in
`cli.app`. Importing this package stays cheap for that reason: `main` and `cli` (the click
entry point and group, for in-process callers) are loaded from `cli.app` on first use.
"""

from __future__ import annotations

import sys
from typing import Any


def entry() -> None:
    from .fast import leave, run

    code = run(sys.argv[1:])
    if code is None:
        from .app import main

        sys.exit(main())
    leave(code)


def __getattr__(name: str) -> Any:
    if name in ("main", "cli"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
