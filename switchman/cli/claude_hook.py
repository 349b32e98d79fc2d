"""The Claude Code adapter (SPEC §13): a PreToolUse hook, and its entry in Claude's settings.

Protocol (Claude Code hooks reference): the hook gets a JSON object on stdin with `tool_name`,
`tool_input` (`file_path` for Write/Edit/MultiEdit, `notebook_path` for NotebookEdit) and `cwd`.
It blocks a call by printing `{"hookSpecificOutput": {"hookEventName": "PreToolUse",
"permissionDecision": "deny", "permissionDecisionReason": ...}}` and exiting 0; printing nothing
and exiting 0 lets the call proceed. Anything outside a managed worktree, any tool that does not
write a file, and observed mode are allowed silently.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

WRITE_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path", "NotebookEdit": "notebook_path"}
MATCHER = "Write|Edit|MultiEdit|NotebookEdit"
MARK = "agent-hook claude-code"  # how our entry is recognised in a settings file


class Malformed(Exception):
    pass


def _target(raw: str) -> tuple[str, str] | None:
    """(absolute file path, cwd) of a file-writing call; None for any other tool."""
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Malformed(f"hook input is not JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("tool_name"), str):
        raise Malformed("hook input is not a PreToolUse object with a tool_name")
    key = WRITE_TOOLS.get(payload["tool_name"])
    if key is None:
        return None
    tool_input = payload.get("tool_input")
    cwd = payload.get("cwd")
    if not isinstance(tool_input, dict) or not isinstance(tool_input.get(key), str) or not tool_input[key]:
        raise Malformed(f"{payload['tool_name']} hook input has no tool_input.{key}")
    if cwd is not None and not isinstance(cwd, str):
        raise Malformed("hook input cwd is not a string")
    cwd = cwd or os.getcwd()
    return os.path.join(cwd, tool_input[key]), cwd


def _existing_dir(path: str) -> str | None:
    d = os.path.dirname(os.path.abspath(path))
    while d and not os.path.isdir(d):
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent
    return d or None


def _session_worktree(store: Any, common_dir: str, cwd: str) -> Any:
    """The registered worktree of the same repository that contains the session's cwd, if any."""
    from ..errors import SwitchmanError
    from ..ops import agents
    from ..repo import locate

    if not os.path.isdir(cwd):
        return None
    try:
        here = locate(cwd)
        if here.toplevel is None or here.common_dir != common_dir:
            return None
        return agents.worktree_at(store, here.toplevel)
    except SwitchmanError:
        return None


def decide(raw: str) -> str | None:
    """The deny reason for this call, or None to allow it."""
    from ..errors import SwitchmanError
    from ..ops import agents
    from ..policy import load, stale_minutes  # the gates' own window (gates.common re-exports it)
    from ..repo import locate
    from ..state import open_store

    target = _target(raw)
    if target is None:
        return None
    path, cwd = target
    where = _existing_dir(path)
    if where is None:
        return None
    try:
        paths = locate(where)
        if paths.toplevel is None or not os.path.exists(os.path.join(paths.state_dir, "switchman.db")):
            return None
        store = open_store(paths)
    except SwitchmanError:
        return None  # not a managed repository: not ours to judge
    try:
        try:
            wt = agents.worktree_at(store, paths.toplevel)
        except SwitchmanError:
            return None
        # An agent whose session runs in another worktree of this repository is judged as that
        # worktree: writing into a neighbour's checkout is refused (path_outside_repo), not
        # judged with the neighbour's own lease.
        home = _session_worktree(store, paths.common_dir, cwd)
        if home is not None and home.name != wt.name:
            wt = home
        if wt.enforcement_mode == "observed":
            return None
        pol = load(store.state_dir)
        data = agents.check(
            store, [path], toplevel=paths.toplevel, cwd=paths.toplevel, worktree=wt.name,
            stale_minutes=stale_minutes(store.state_dir, pol), generated_globs=pol.allowed_generated_paths,
        )
    finally:
        store.close()
    row = data["paths"][0]
    if row["allowed"]:
        return None
    from ..reasons import text

    holder = row["holder"] or {}
    held = ""
    if holder.get("task_id"):
        held = f"; held by task {holder['task_id']} (lease {holder.get('lease_id')}) in worktree {holder.get('worktree')}"
    fix = f" Fix: {row['fix']}" if row["fix"] else ""
    return (
        f"switchman ({data['worktree']}, {data['mode']}): {row['path']} — {text(row['reason_code'])} "
        f"[{row['reason_code']}]{held}.{fix}"
    )


def run(raw: str, out: IO[str], err: IO[str]) -> int:
    try:
        reason = decide(raw)
    except Malformed as exc:
        err.write(f"error: {exc} — pass the PreToolUse JSON Claude Code sends on stdin\n")
        return 1
    if reason is not None:
        deny = {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": reason}
        out.write(json.dumps({"hookSpecificOutput": deny}) + "\n")
    return 0


# --- the settings file ------------------------------------------------------------------------


def settings_path(scope: str, toplevel: str | None) -> str:
    if scope == "user":
        return os.path.join(os.path.expanduser("~"), ".claude", "settings.json")
    from ..errors import EnvironmentProblem

    if toplevel is None:
        raise EnvironmentProblem("a project's Claude settings live in a worktree", "run inside a worktree, or use --scope user")
    return os.path.join(toplevel, ".claude", "settings.local.json" if scope == "local" else "settings.json")


def _load(path: str) -> dict[str, Any]:
    from ..errors import BadInput

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read {path}: {exc}", f"fix or move {path}", code="settings_malformed") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{path} line {exc.lineno} column {exc.colno}: {exc.msg}", f"fix the JSON in {path}", code="settings_malformed"
        ) from exc
    if not isinstance(data, dict):
        raise BadInput(f"{path} does not hold a JSON object", f"fix {path}", code="settings_malformed")
    hooks = data.get("hooks", {})
    if not isinstance(hooks, dict) or not isinstance(hooks.get("PreToolUse", []), list):
        raise BadInput(f"{path}: hooks.PreToolUse is not a list", f"fix {path}", code="settings_malformed")
    return data


def _save(path: str, data: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.switchman-tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _ours(hook: Any) -> bool:
    return isinstance(hook, dict) and isinstance(hook.get("command"), str) and hook["command"].endswith(MARK)


def install(path: str, command: str) -> bool:
    """Merge our entry; True when the file changed. Other keys and hooks are left as they are."""
    data = _load(path)
    entries = data.setdefault("hooks", {}).setdefault("PreToolUse", [])
    for entry in entries:
        if isinstance(entry, dict) and any(_ours(h) for h in entry.get("hooks") or []):
            if entry.get("matcher") == MATCHER and entry.get("hooks") == [{"type": "command", "command": command}]:
                return False
            entry["matcher"] = MATCHER
            entry["hooks"] = [h for h in entry.get("hooks") or [] if not _ours(h)] + [{"type": "command", "command": command}]
            _save(path, data)
            return True
    entries.append({"matcher": MATCHER, "hooks": [{"type": "command", "command": command}]})
    _save(path, data)
    return True


def uninstall(path: str) -> bool:
    """Remove only our hook; drop the containers left empty by that. True when the file changed."""
    if not os.path.exists(path):
        return False
    data = _load(path)
    hooks = data.get("hooks")
    if not isinstance(hooks, dict) or "PreToolUse" not in hooks:
        return False
    changed = False
    kept = []
    for entry in hooks["PreToolUse"]:
        if isinstance(entry, dict) and any(_ours(h) for h in entry.get("hooks") or []):
            rest = [h for h in entry["hooks"] if not _ours(h)]
            changed = True
            if rest:
                kept.append({**entry, "hooks": rest})
            continue
        kept.append(entry)
    if not changed:
        return False
    if kept:
        hooks["PreToolUse"] = kept
    else:
        del hooks["PreToolUse"]
        if not hooks:
            del data["hooks"]
    _save(path, data)
    return True
