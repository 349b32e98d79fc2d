"""Golden files for what a person reads: a refused commit, `status` and `doctor` (gitlint-style).

The scenario is fixed (two agents, one holding a file the other tries to commit), the output is
normalised for what legitimately varies (temp paths, ids, times, versions) and compared with
tests/expected/*.txt byte for byte. After a deliberate wording change, regenerate with
`SWITCHMAN_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py` and review the diff.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from testing.cli import run_cli
from testing.gates import Env

pytestmark = pytest.mark.slow

EXPECTED = Path(__file__).resolve().parent / "expected"
# Read at import: the autouse isolation fixture strips SWITCHMAN_* from each test's environment.
UPDATE = bool(os.environ.get("SWITCHMAN_UPDATE_GOLDEN"))


def normalise(text: str, env: Env) -> str:
    for path, name in ((env.a, "<AGENT-A>"), (env.b, "<AGENT-B>"), (env.root, "<ROOT>")):
        text = text.replace(str(path), name)
    text = text.replace(sys.executable, "<PYTHON>")
    text = re.sub(r"lease-\d+-[0-9a-z]+", "<LEASE>", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", "<TIME>", text)
    text = re.sub(r"git version [\w.]+", "git version <GIT>", text)
    text = re.sub(r"\b[0-9a-f]{40}\b", "<OID>", text)
    # The warm helper comes and goes with the hooks (idle exit): its state is not output to pin.
    text = re.sub(r"(?m)^(ok\s+helper\s+).*$", r"\1<HELPER STATE>", text)
    # Column widths follow the longest (normalised) value: squeeze runs of spaces in tables.
    return "\n".join(re.sub(r"(?<=\S) {2,}", "  ", line).rstrip() for line in text.splitlines()) + "\n"


def check(name: str, actual: str) -> None:
    path = EXPECTED / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual)
    assert path.exists(), f"no golden file {path}: run with SWITCHMAN_UPDATE_GOLDEN=1 and review it"
    assert actual == path.read_text(), f"{name} output changed; diff against {path}"


@pytest.fixture
def scene(env: Env) -> Env:
    """Guarded agents: agent-a leases src/auth/**, agent-b holds docs/guide.md and is committing."""
    for wt in ("main", "agent-a", "agent-b"):
        env.mode(wt, "guarded")
    env.task("auth", task_id="auth-1", spec={"allowed_paths": ["src/auth/**"]})
    env.task("docs", task_id="docs-1")
    env.cli.ok("lease", "acquire", "auth-1", "agent-a")
    env.cli.ok("lease", "acquire", "docs-1", "agent-b")
    env.cli.ok("claim", "docs-1", "agent-b", "docs/guide.md")
    return env


@pytest.fixture
def refused(scene: Env) -> subprocess.CompletedProcess[str]:
    """agent-a commits the file agent-b holds: refused."""
    scene.change(scene.a, "docs/guide.md", "taken\n")
    return subprocess.run(["git", "commit", "-q", "-m", "sneak"], cwd=scene.a, capture_output=True, text=True)


def test_refusal_text(scene: Env, refused: subprocess.CompletedProcess[str]) -> None:
    assert refused.returncode == 1
    check("refusal", normalise(refused.stderr, scene))


@pytest.mark.usefixtures("refused")
def test_status_text(scene: Env) -> None:
    res = run_cli("status", cwd=scene.root)
    assert res.code == 0
    check("status", normalise(res.out, scene))


@pytest.mark.usefixtures("refused")
def test_doctor_text(scene: Env) -> None:
    res = run_cli("doctor", cwd=scene.root)
    assert res.code == 0  # warnings only
    check("doctor", normalise(res.out, scene))
