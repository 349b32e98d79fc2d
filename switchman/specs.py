"""Task spec validation (SPEC §6). Unknown keys are kept verbatim; wrong types name the key."""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import BadInput
from .globs.syntax import validate_glob

ENFORCEMENT = ("none", "warn", "blocked")
# Deeper values would overflow Python's recursion limit when printed back with --json.
MAX_DEPTH = 64


def _bad(key: str, problem: str) -> BadInput:
    return BadInput(
        f"invalid task spec: `{key}` {problem}",
        "fix the spec JSON (see README: Task spec)",
        code="invalid_spec",
    )


def _str_list(spec: dict[str, Any], key: str, label: str | None = None) -> list[str]:
    value = spec.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _bad(label or key, "must be a list of non-empty strings")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} is out of range")
    return value


def parse_spec_text(text: str, source: str = "spec") -> dict[str, Any]:
    try:
        # NaN / Infinity are not JSON: stored they would make every later --json output invalid.
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        problem = "is nested too deeply" if isinstance(exc, RecursionError) else f"is not valid JSON: {exc}"
        raise BadInput(
            f"{source} {problem}",
            "pass a JSON object such as {\"allowed_paths\": [\"src/**\"]}",
            code="invalid_spec",
        ) from exc
    return validate(data)


def validate(spec: Any) -> dict[str, Any]:
    """Return a normalised copy of `spec`, or raise BadInput naming the offending key."""
    if not isinstance(spec, dict):
        raise BadInput("invalid task spec: must be a JSON object", "pass {\"allowed_paths\": [...]}", code="invalid_spec")
    for key, value in spec.items():
        if _too_deep(value, MAX_DEPTH - 1):
            raise _bad(str(key), f"is nested more than {MAX_DEPTH} levels deep")
    out = dict(spec)
    out["allowed_paths"] = list(dict.fromkeys(_checked_glob(g) for g in _str_list(spec, "allowed_paths")))
    out["subsystem_tags"] = list(dict.fromkeys(t.strip() for t in _str_list(spec, "subsystem_tags")))
    for key in ("pipeline_id", "task_type"):
        value = spec.get(key)
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise _bad(key, "must be a non-empty string or null")
        out[key] = value
    rules = spec.get("validation_rules")
    if rules is not None:
        if not isinstance(rules, dict):
            raise _bad("validation_rules", "must be an object")
        rules = dict(rules)
        enforcement = rules.get("enforcement", "none")
        if enforcement not in ENFORCEMENT:
            raise _bad("validation_rules.enforcement", f"must be one of {', '.join(ENFORCEMENT)}")
        rules["enforcement"] = enforcement
        rules["required_completed_task_types"] = _str_list(
            rules, "required_completed_task_types", "validation_rules.required_completed_task_types"
        )
        rationale = rules.get("rationale", [])
        if rationale is not None and (
            not isinstance(rationale, list) or not all(isinstance(r, str) for r in rationale)
        ):
            raise _bad("validation_rules.rationale", "must be a list of strings")
        out["validation_rules"] = rules
    return out


def _too_deep(value: Any, budget: int) -> bool:
    """True when lists/objects nest more than `budget` levels (iterative: no recursion limit)."""
    stack = [(value, budget)]
    while stack:
        item, left = stack.pop()
        if isinstance(item, (list, dict)):
            if left <= 0:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, left - 1) for child in children)
    return False


def _checked_glob(pattern: str) -> str:
    try:
        return validate_glob(pattern)
    except BadInput as exc:
        raise _bad("allowed_paths", f"has a bad glob: {exc.message}") from exc


def loads_stored(text: str | None) -> dict[str, Any] | None:
    """A stored spec (from us or 0.1.3); tolerant, since it was validated when written."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
