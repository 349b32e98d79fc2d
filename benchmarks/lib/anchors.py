"""Other hook managers running one trivial hook (`true`), measured beside ours in the same run.

Each manager's own `install` writes its pre-commit script into a scratch repository; the script
is copied into `<repo base>/anchor-<tool>/` and used through `core.hooksPath`, so agent-a's own
hooks stay switchman's. The managers read their config from the worktree's top level, so agent-a
commits `.pre-commit-config.yaml` and `lefthook.yml` once (both tracked, as their users have them).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from lib.procs import git

PRE_COMMIT_CONFIG = """repos:
- repo: local
  hooks:
  - id: trivial
    name: trivial
    entry: "true"
    language: system
    pass_filenames: false
    always_run: true
"""
LEFTHOOK_CONFIG = 'pre-commit:\n  commands:\n    trivial:\n      run: "true"\n'
TOOLS = {"prek": ".pre-commit-config.yaml", "lefthook": "lefthook.yml", "pre-commit": ".pre-commit-config.yaml"}


def _bin(repo_env: dict[str, str], tool: str) -> str:
    found = shutil.which(tool, path=repo_env.get("PATH"))
    if found is None:
        raise SystemExit(f"{tool} is not installed: pip install -e '.[test]' brings prek, lefthook and pre-commit")
    return found


def anchor_hooks(base: Path, agent: Path, nohooks: Path, env: dict[str, str]) -> dict[str, Path]:
    """tool -> a hooks dir whose pre-commit is that tool's own script running `true`."""
    configs = {".pre-commit-config.yaml": PRE_COMMIT_CONFIG, "lefthook.yml": LEFTHOOK_CONFIG}
    missing = [name for name in configs if not (agent / name).exists()]
    for name in missing:
        (agent / name).write_text(configs[name])
    if missing:
        git(agent, env, "add", "--", *missing)
        git(agent, env, "-c", f"core.hooksPath={nohooks}", "commit", "-q", "-m", "hook manager configs (benchmark anchors)")
    out: dict[str, Path] = {}
    for tool, config in TOOLS.items():
        hooks = base / f"anchor-{tool}"
        if not (hooks / "pre-commit").exists():
            scratch = base / f"scratch-{tool}"
            shutil.rmtree(scratch, ignore_errors=True)
            git(base, env, "init", "-q", str(scratch))
            (scratch / config).write_text(configs[config])
            tenv = {**env, "PRE_COMMIT_HOME": str(base / "pre-commit-home"), "PREK_HOME": str(base / "prek-home")}
            subprocess.run([_bin(env, tool), "install"], cwd=scratch, env=tenv, check=True, capture_output=True)
            hooks.mkdir(exist_ok=True)
            shutil.copy2(scratch / ".git" / "hooks" / "pre-commit", hooks / "pre-commit")
            shutil.rmtree(scratch)
        out[tool] = hooks
    return out


def anchor_env(base: Path, env: dict[str, str]) -> dict[str, str]:
    return {**env, "PRE_COMMIT_HOME": str(base / "pre-commit-home"), "PREK_HOME": str(base / "prek-home")}
