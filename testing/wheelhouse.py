"""An offline pre-commit kit, built once per test session and shared by every xdist worker.

`pre-commit` installs a `language: python` hook repo by cloning it at a commit and running
`pip install .` in a fresh virtualenv. The tests must not depend on the network then, so the
session builds, once and under a file lock:

- `source`: a git repo holding a committed snapshot of this checkout, *including* its uncommitted
  and untracked (not ignored) files, so the hooks under test are the working tree's;
- `wheelhouse`: wheels of our package, its runtime dependencies (pinned to the versions installed
  in the running venv) and the build backend. Building it is the only step that talks to a
  package index (the one the running pip is configured with); $SWITCHMAN_TEST_WHEELHOUSE names a
  ready-made one instead;
- `home`: one PRE_COMMIT_HOME, warmed by `pre-commit install-hooks`, which every test reuses:
  the hook venv is built once per session.

Everything pre-commit runs afterwards gets `env()`: PIP_NO_INDEX=1, PIP_FIND_LINKS=<wheelhouse>,
PIP_CONFIG_FILE=/dev/null and that PRE_COMMIT_HOME, so a dependency missing from the wheelhouse
fails instead of being fetched.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = "switchman-hook"
HOOK_IDS = ("switchman-gate", "switchman-record", "switchman-push-gate")
HOOK_TYPES = ("pre-commit", "pre-merge-commit", "post-commit", "post-checkout", "post-merge", "post-rewrite", "pre-push")
# A directory of wheels (runtime deps + setuptools/wheel) to use instead of building one: lets the
# slow tests run on a machine with no package index at all.
WHEELHOUSE_ENV = "SWITCHMAN_TEST_WHEELHOUSE"
BUILD_REQUIREMENTS = ("setuptools>=61", "wheel")  # pyproject's build-system (+ wheel for setuptools < 70.1)
_NOT_COPIED = {".git", ".venv", "venv", "build", "dist", ".switchman", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}


@dataclass(frozen=True)
class PreCommitKit:
    source: Path
    rev: str
    wheelhouse: Path
    home: Path

    def env(self, home_dir: Path | None = None) -> dict[str, str]:
        """The environment pre-commit runs with: offline pip, the shared PRE_COMMIT_HOME."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUALENV_", "PRE_COMMIT"))}
        env.update(
            PIP_NO_INDEX="1",
            PIP_FIND_LINKS=str(self.wheelhouse),
            PIP_CONFIG_FILE=os.devnull,
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_NO_INPUT="1",
            PRE_COMMIT_HOME=str(self.home),
            PRE_COMMIT_COLOR="never",
            VIRTUALENV_OVERRIDE_APP_DATA=str(self.home.parent / "virtualenv-app-data"),
        )
        if home_dir is not None:
            env["HOME"] = str(home_dir)
        return env

    def config(self, hook_ids: tuple[str, ...] = HOOK_IDS) -> str:
        """A `.pre-commit-config.yaml` using our hooks from the snapshot, for every hook type."""
        hooks = "".join(f"      - id: {hook_id}\n" for hook_id in hook_ids)
        return (
            f"default_install_hook_types: [{', '.join(HOOK_TYPES)}]\n"
            "repos:\n"
            f"  - repo: {json.dumps(str(self.source))}\n"
            f"    rev: {self.rev}\n"
            "    hooks:\n"
            f"{hooks}"
        )

    def pre_commit(self, *args: str, cwd: Path | str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`python -m pre_commit ARGS` in `cwd` with the offline environment."""
        proc = subprocess.run(
            [sys.executable, "-m", "pre_commit", *args], cwd=cwd, capture_output=True, text=True, env=self.env(Path(os.environ.get("HOME", str(self.home))))
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"pre-commit {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc


def _clean_git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TEMPLATE_DIR="",
        GIT_AUTHOR_NAME="kit",
        GIT_AUTHOR_EMAIL="kit@example.invalid",
        GIT_COMMITTER_NAME="kit",
        GIT_COMMITTER_EMAIL="kit@example.invalid",
    )
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def _checkout_files(env: dict[str, str]) -> list[str] | None:
    """Tracked and untracked-not-ignored files of this checkout (None when it is not a git checkout)."""
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=PROJECT, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or Path(proc.stdout.strip()).resolve() != PROJECT:
        return None
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=PROJECT, capture_output=True, env=env, check=True
    ).stdout
    return sorted({os.fsdecode(p) for p in out.split(b"\0") if p})


def snapshot_checkout(dest: Path, env: dict[str, str]) -> str:
    """Copy the working tree (committed or not) into `dest`, commit it there; return the commit."""
    files = _checkout_files(env)
    if files is None:  # an unpacked sdist or similar: copy the tree minus caches and venvs
        shutil.copytree(PROJECT, dest, ignore=lambda _d, names: [n for n in names if n in _NOT_COPIED or n.endswith(".egg-info")])
    else:
        dest.mkdir(parents=True)
        for rel in files:
            src = PROJECT / rel
            if not src.is_file():  # deleted in the working tree, or a submodule
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    _run(["git", "init", "-q", "-b", "main"], dest, env)
    _run(["git", "add", "-A"], dest, env)
    _run(["git", "commit", "-q", "--no-verify", "-m", "snapshot of the checkout under test"], dest, env)
    return _run(["git", "rev-parse", "HEAD"], dest, env).strip()


def _constraints() -> str:
    """Pins of everything installed here except our package and the build tools."""
    pins: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        key = name.lower().replace("_", "-")
        if key in {PACKAGE, "pip", "setuptools", "wheel"}:
            continue
        pins.setdefault(key, f"{name}=={dist.version}")
    return "\n".join(sorted(pins.values())) + "\n"


def build_wheelhouse(source: Path, wheelhouse: Path, work: Path) -> None:
    """Wheels of our package + runtime deps (as installed here) + build backend, in one pip run."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    constraints = work / "constraints.txt"
    constraints.write_text(_constraints())
    build = work / "build-src"  # pip builds in place: keep the snapshot's clone source pristine
    shutil.copytree(source, build, ignore=shutil.ignore_patterns(".git"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheelhouse), "--constraint", str(constraints), str(build), *BUILD_REQUIREMENTS]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(
            "could not build the local wheelhouse for the pre-commit tests (this is the one step that "
            f"needs the package index):\n{' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )


def _warm(kit: PreCommitKit, work: Path, git_env: dict[str, str]) -> None:
    """Install the hook venv once, offline, so tests only ever reuse it."""
    repo = work / "warm"
    repo.mkdir()
    _run(["git", "init", "-q", "-b", "main"], repo, git_env)
    (repo / ".pre-commit-config.yaml").write_text(kit.config())
    env = {k: v for k, v in kit.env(work / "home").items() if not k.startswith("GIT_")}
    env.update({k: v for k, v in git_env.items() if k.startswith("GIT_")})
    proc = subprocess.run([sys.executable, "-m", "pre_commit", "install-hooks"], cwd=repo, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        log = kit.home / "pre-commit.log"
        detail = log.read_text(errors="replace") if log.exists() else ""
        raise RuntimeError(f"offline `pre-commit install-hooks` failed:\n{proc.stdout}{proc.stderr}\n{detail}")


def prepare(root: Path) -> PreCommitKit:
    """Build the kit under `root` once; later callers (other xdist workers) just load it."""
    root.mkdir(parents=True, exist_ok=True)
    ready = root / "kit.json"
    with open(root / "kit.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if ready.exists():
                data = json.loads(ready.read_text())
                return PreCommitKit(Path(data["source"]), data["rev"], Path(data["wheelhouse"]), Path(data["home"]))
            work = root / "work"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            (work / "home").mkdir()
            git_env = _clean_git_env(work / "home")
            source = root / "source"
            shutil.rmtree(source, ignore_errors=True)
            rev = snapshot_checkout(source, git_env)
            prebuilt = os.environ.get(WHEELHOUSE_ENV)
            kit = PreCommitKit(source, rev, Path(prebuilt) if prebuilt else root / "wheelhouse", root / "pre-commit-home")
            if not prebuilt:
                build_wheelhouse(source, kit.wheelhouse, work)
            _warm(kit, work, git_env)
            ready.write_text(json.dumps({"source": str(source), "rev": rev, "wheelhouse": str(kit.wheelhouse), "home": str(kit.home)}))
            return kit
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
