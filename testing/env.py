"""Environment isolation: no user or system git config, no templates, a private HOME."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent  # the running venv's scripts (switchman-hook, pre-commit)


def isolate(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No user/system git config, no templates, fixed identity; *home* as HOME and XDG config."""
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    for key in list(os.environ):
        if key.startswith(("GIT_", "PRE_COMMIT")) or key.startswith("SWITCHMAN_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_TEMPLATE_DIR", "")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Agent")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "agent@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Agent")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "agent@example.invalid")
    monkeypatch.setenv("NO_COLOR", "1")
    # Hooks run through the warm helper as they do for users; each test repo's helper leaves
    # soon after its last hook instead of idling for the default 10 minutes.
    monkeypatch.setenv("SWITCHMAN_HELPER_IDLE", "5")
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return home
