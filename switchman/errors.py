"""One exception family, so the CLI and the hooks turn every failure into one line and an exit code.

Exit codes follow SPEC §5: 1 a check said no (conflict, not found, denied), 2 usage or bad input,
3 environment (not a git repo, not initialised, unreadable store, missing key).
"""

from __future__ import annotations

from typing import Any


class SwitchmanError(Exception):
    """A failure a person can act on: what went wrong and how to fix it."""

    exit_code = 1
    code = "error"

    def __init__(
        self,
        message: str,
        fix: str = "",
        *,
        code: str | None = None,
        data: dict[str, Any] | None = None,
        keep_events: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        if code is not None:
            self.code = code
        self.data = data or {}
        # Audit events that must survive the rollback of the refused action (SPEC §3).
        self.keep_events = keep_events or []

    def line(self) -> str:
        """The one stderr line (SPEC §5): newlines from user input never split it."""
        text = f"error: {self.message} — {self.fix}" if self.fix else f"error: {self.message}"
        return text.replace("\r", "\\r").replace("\n", "\\n")


class Conflict(SwitchmanError):
    """Someone else holds what was asked for (claim, lease, scope)."""

    exit_code = 1
    code = "conflict"


class NotFound(SwitchmanError):
    exit_code = 1
    code = "not_found"


class Denied(SwitchmanError):
    """A check said no (a gate, a lifecycle rule)."""

    exit_code = 1
    code = "denied"


class BadInput(SwitchmanError):
    exit_code = 2
    code = "bad_input"


class EnvironmentProblem(SwitchmanError):
    exit_code = 3
    code = "environment"
