"""Work that can wait until a hook has answered git: only in a warm helper's child.

A hook's verdict must never wait for bookkeeping that no verdict depends on (today: writing the
receipts of commits the drain just recorded). In a helper's child (`hookrun.serve` sets ENABLED)
such work is queued and run after the exit code went back to the client, with the child's output
pointed at the helper log; everywhere else it runs at once, as before. Work lost with a killed
child is redone where it matters: the push gate writes the receipts a pushed commit lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ENABLED = False
_QUEUE: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []


def later(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    if ENABLED:
        _QUEUE.append((fn, args, kwargs))
    else:
        fn(*args, **kwargs)


def pending() -> bool:
    return bool(_QUEUE)


def run_all() -> None:
    """Run what was queued; a failure is reported on stderr (the helper log) and the rest still runs."""
    import sys

    while _QUEUE:
        fn, args, kwargs = _QUEUE.pop(0)
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - after the answer nothing may take the child down
            sys.stderr.write(f"switchman helper: deferred {getattr(fn, '__name__', fn)} failed: {type(exc).__name__}: {exc}\n")
