"""`enforcement.json`: the default mode and globs of generated files anyone may change.

Unknown keys are preserved on rewrite; malformed JSON is an error naming the file and line.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import BadInput, EnvironmentProblem
from .fsutil import atomic_write
from .records import Record, factory

POLICY_FILE = "enforcement.json"
# A policy's default_mode is one of DEFAULT_MODES; a worktree may also be an `integrator` (SPEC §13:
# the worktree a person merges in needs no lease; it may not change what another lease holds).
DEFAULT_MODES = ("observed", "guarded", "strict")
MODES = (*DEFAULT_MODES, "integrator")


class Policy(Record):
    default_mode: str = "observed"
    allowed_generated_paths: tuple[str, ...] = ()
    extra: dict[str, Any] = factory(dict)

    def to_json(self) -> dict[str, Any]:
        # Known keys first (as `init` writes them), then unknown ones in their original order.
        data: dict[str, Any] = {
            "default_mode": self.default_mode,
            "allowed_generated_paths": list(self.allowed_generated_paths),
        }
        data.update(self.extra)
        return data


def policy_path(state_dir: str) -> str:
    return os.path.join(state_dir, POLICY_FILE)


def check_mode(mode: str, modes: tuple[str, ...] = MODES) -> str:
    if mode not in modes:
        raise BadInput(f"unknown enforcement mode {mode!r}", f"use one of: {', '.join(modes)}", code="invalid_mode")
    return mode


def load(state_dir: str) -> Policy:
    path = policy_path(state_dir)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return Policy()
    except OSError as exc:
        raise EnvironmentProblem(f"cannot read {path}: {exc}", "check its permissions", code="policy_unreadable") from exc
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"{path} is not UTF-8 text (byte {exc.start})", f"rewrite {path} as UTF-8 JSON", code="policy_malformed"
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{path} line {exc.lineno} column {exc.colno}: {exc.msg}",
            f"fix the JSON in {path}",
            code="policy_malformed",
        ) from exc
    if not isinstance(data, dict):
        raise BadInput(f"{path} must hold a JSON object", f"fix {path}", code="policy_malformed")
    mode = data.get("default_mode", "observed")
    if mode not in DEFAULT_MODES:
        raise BadInput(
            f"{path}: default_mode {mode!r} is not one of {', '.join(DEFAULT_MODES)}", f"fix {path}", code="policy_malformed"
        )
    globs = data.get("allowed_generated_paths", [])
    if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
        raise BadInput(
            f"{path}: allowed_generated_paths must be a list of glob strings", f"fix {path}", code="policy_malformed"
        )
    for g in globs:
        _check_glob(path, g)
    extra = {k: v for k, v in data.items() if k not in ("default_mode", "allowed_generated_paths")}
    return Policy(mode, tuple(globs), extra)


def _check_glob(path: str, glob: str) -> None:
    """A glob that cannot compile is a policy error naming the file, the key and the glob: the
    gates fail closed on it, so `policy show` and doctor must say so too."""
    from .globs.syntax import validate_glob

    try:
        validate_glob(glob)
    except BadInput as exc:
        raise BadInput(
            f"{path}: allowed_generated_paths: {exc.message}",
            f"fix or remove {glob!r} in allowed_generated_paths of {path}",
            code="policy_malformed",
        ) from exc


def save(state_dir: str, policy: Policy) -> None:
    """Atomic rewrite (`fsutil.atomic_write`) so a crash never leaves half a policy file."""
    text = json.dumps(policy.to_json(), indent=2, ensure_ascii=False) + "\n"
    atomic_write(policy_path(state_dir), text.encode("utf-8"), 0o644)


DEFAULT_STALE_MINUTES = 15.0
STALE_KEY = "stale_lease_minutes"


def stale_minutes(state_dir: str, pol: Policy | None = None) -> float:
    """The lease stale window (`stale_lease_minutes`, default 15): the one reading every gate,
    status, the monitor, `lease reap` and doctor share, so they cannot disagree on who is stale.

    `pol`: the policy the caller already loaded (the commit gate), else it is read here. A value
    that is not a number of minutes >= 0 is refused, never silently replaced by the default.
    """
    pol = pol if pol is not None else load(state_dir)
    value = pol.extra.get(STALE_KEY, DEFAULT_STALE_MINUTES)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        path = policy_path(state_dir)
        raise BadInput(
            f"{path}: {STALE_KEY} {value!r} is not a number of minutes >= 0",
            f"fix {path}, e.g. \"{STALE_KEY}\": 15",
            code="policy_malformed",
        )
    return float(value)
