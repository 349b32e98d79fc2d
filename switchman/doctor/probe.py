"""Proving the hooks fire: run a byte-identical copy of each worktree's installed pre-commit
script from a scratch directory (so a chained foreign hook does not run) with
`SWITCHMAN_DOCTOR_PROBE=1` and a throwaway copy of the worktree's index. A hookrun that honours
the probe answers with one `switchman-probe {json}` line and touches nothing; an older one (no
`PROBE_ENV`) is exercised in a scratch repo instead, where it has nothing to write to."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

from ..install import is_ours, script_interpreter
from ..repo import git_env, run_git
from .context import PROBE_TIMEOUT, Check, Ctx, check, q
from .hook_checks import framework_script, framework_tool, install_fix

PROBE_ENV = "SWITCHMAN_DOCTOR_PROBE"


PROBE_PREFIX = "switchman-probe "


def _probe_env(extra: dict[str, str]) -> dict[str, str]:
    env = git_env(for_other_worktree=True)
    for key in list(env):
        if key.startswith(("GIT_TRACE", "PRE_COMMIT")):
            env.pop(key)
    env.update(extra)
    return env


def _run_script(script: str, data: bytes, cwd: str, env: dict[str, str], tmp: str) -> tuple[int, str, str]:
    """Run a byte-identical copy of `script` (from `tmp`, so a chained hook beside it is not run)."""
    copy = os.path.join(tmp, os.path.basename(script))
    with open(copy, "wb") as fh:
        fh.write(data)
    os.chmod(copy, 0o755)
    try:
        proc = subprocess.run(
            [copy], cwd=cwd, env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=PROBE_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return -1, "", f"no answer within {PROBE_TIMEOUT}s"
    except OSError as exc:
        return -1, "", f"cannot run: {exc}"
    return proc.returncode, os.fsdecode(proc.stdout), os.fsdecode(proc.stderr)


def _probe_answer(out: str) -> dict[str, Any] | None:
    for line in out.splitlines():
        if line.startswith(PROBE_PREFIX):
            try:
                data = json.loads(line[len(PROBE_PREFIX) :])
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None


def _last(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def probe_worktree(c: Ctx, wt_path: str) -> tuple[str, str]:
    """(status, detail) for one worktree: does git's pre-commit there reach switchman?"""
    proc = c.git(["rev-parse", "--path-format=absolute", "--git-path", "hooks", "--git-path", "index"], cwd=wt_path)
    lines = os.fsdecode(proc.stdout).splitlines()
    if proc.returncode != 0 or len(lines) < 2:
        return "fail", f"git cannot resolve its hooks dir ({_last(os.fsdecode(proc.stderr))})"
    hooks_dir, index = lines[0], lines[1]
    script = os.path.join(hooks_dir, "pre-commit")
    try:
        with open(script, "rb") as fh:
            data = fh.read()
    except OSError:
        return "fail", f"git finds no pre-commit hook at {script}"
    if not os.access(script, os.X_OK):
        return "fail", f"{script} is not executable, git skips it"
    if not is_ours(data[:512]):
        if framework_script(script) and c.framework_ids:
            return "warn", f"{framework_tool(c)} framework script, not probed (it would run every configured hook)"
        return "fail", f"{script} is not switchman's hook"
    interp = script_interpreter(data.decode("utf-8", "surrogateescape")) or ""
    info = c.interpreter(interp)
    with tempfile.TemporaryDirectory(prefix="switchman-probe-") as tmp:
        if info["ok"] and info.get("probe") == PROBE_ENV:
            env = {PROBE_ENV: "1"}
            if os.path.isfile(index):
                shutil.copyfile(index, os.path.join(tmp, "index"))
                env["GIT_INDEX_FILE"] = os.path.join(tmp, "index")
            rc, out, err = _run_script(script, data, wt_path, _probe_env(env), tmp)
            answer = _probe_answer(out)
            if rc != 0 or answer is None:
                why = _last(err) or _last(out) or f"exit {rc}"
                return "fail", f"pre-commit did not answer the probe (exit {rc}: {why})"
            if answer.get("state_dir") and os.path.realpath(answer["state_dir"]) != os.path.realpath(c.state_dir):
                return "fail", f"pre-commit reached switchman but it looks at {answer['state_dir']}"
            # `managed`: the SQLite file or the server this clone joined (an older hookrun looked
            # for switchman.db only, hence the server case is still taken on the state dir).
            if answer.get("managed") is False and c.pg is None:
                return "fail", "pre-commit reached switchman but it sees no store"
            return "ok", "answered"
        # This hookrun cannot be probed without running the gate (and writing): exercise the same
        # script in a scratch repo where it has nothing to record.
        scratch = os.path.join(tmp, "scratch")
        os.makedirs(os.path.join(scratch, ".switchman"))
        init = run_git(["init", "-q", scratch], tmp, env=_probe_env({}), check=False)
        if init.returncode != 0:
            return "warn", "could not build a scratch repo to probe in"
        rc, out, err = _run_script(script, data, scratch, _probe_env({PROBE_ENV: "1"}), tmp)
        if rc != 0:
            return "fail", f"the pre-commit script fails before reaching switchman (exit {rc}: {_last(err) or _last(out)})"
        return "ok", "script runs and reaches switchman (scratch repo)"


def fire_check(c: Ctx) -> Iterator[Check]:
    wts = c.live_worktrees()
    if not wts:
        yield check("hooks_fire", "warn", "no worktree to probe", "")
        return
    names = {r["path"]: r["name"] for r in c.registered()}
    results = [(wt, *probe_worktree(c, wt.path)) for wt in wts]

    def grouped(status: str) -> str:
        by_reason: dict[str, list[str]] = {}
        for wt, st, reason in results:
            if st == status:
                by_reason.setdefault(reason, []).append(names.get(wt.path, wt.path))
        return "; ".join(f"{', '.join(w)}: {reason}" for reason, w in by_reason.items())

    fails = [wt for wt, st, _ in results if st == "fail"]
    if fails:
        fixes = []
        main_dir = os.path.realpath(c.hooks.hooks_dir)
        for wt in fails:
            wdir = os.fsdecode(c.git(["rev-parse", "--path-format=absolute", "--git-path", "hooks"], cwd=wt.path).stdout).strip()
            same = os.path.realpath(wdir or main_dir) == main_dir
            fixes.append(install_fix(c) if same else f"switchman-hook -C {q(wt.path)} hooks install")
        detail = f"pre-commit does not reach switchman in {len(fails)} of {len(results)} worktree(s) — {grouped('fail')}"
        yield check("hooks_fire", "fail", detail, " && ".join(dict.fromkeys(fixes)))
    elif any(st == "warn" for _, st, _ in results):
        yield check(
            "hooks_fire", "warn", grouped("warn"), f"{framework_tool(c)} run switchman-gate --hook-stage pre-commit  # proves it by hand"
        )
    else:
        scratch = any("scratch repo" in d for _, _, d in results)
        how = " (in a scratch repo: this hookrun has no probe mode)" if scratch else ""
        yield check("hooks_fire", "ok", f"pre-commit fired and answered in {len(results)} worktree(s){how}")
