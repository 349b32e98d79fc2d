"""What the wheel would contain: setuptools' build_py run on a copy of this checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_py(tmp_path: Path) -> Path:
    """The build_py output dir for a copy of the tree (the checkout itself is never written to)."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "switchman", src / "switchman", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "hooks", src / "hooks")
    shutil.copy(ROOT / "pyproject.toml", src)
    out = tmp_path / "build"
    proc = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "-d", str(out)],
        cwd=src, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return out
