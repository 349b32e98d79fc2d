"""Install, chain and uninstall the git hook scripts (SPEC §7).

The scripts come from one POSIX-sh template (`hooks/hook.sh` in the source tree, shipped in the
wheel as `switchman/_hooks/hook.sh`), rendered per hook with the interpreter recorded at install.
A foreign hook already in place is kept beside ours as `<name>.switchman-orig` (same inode, so
bytes and mode are untouched) and the script runs it first; uninstall moves it back. A small
manifest in the hooks dir remembers what was chained, so a chained hook that later vanishes is
noticed instead of silently no longer running. Nothing here prints or exits.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shlex
import sys
from dataclasses import dataclass
from typing import Any

from . import faults
from .errors import BadInput, EnvironmentProblem
from .fsutil import atomic_write, link_replace, next_free
from .fsutil import read_bytes as _read
from .managers import manager_of
from .repo import RepoPaths, git_env, run_git

HOOK_NAMES: tuple[str, ...] = (
    "pre-commit",
    "pre-merge-commit",
    "post-commit",
    "post-checkout",
    "post-merge",
    "post-rewrite",
    "pre-push",
)
TEMPLATE_NAME = "hook.sh"
# Never change this text: it is how a script written by any version is recognised as ours
# (a script not recognised would be chained as foreign and run twice).
MARKER = b"switchman-hook managed hook"
ORIG_SUFFIX = ".switchman-orig"
MANIFEST_NAME = ".switchman-hooks.json"
HONOURED_SCOPES = ("local", "worktree")


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HookAction:
    """What install/uninstall did to one hook.

    install: installed | updated | unchanged | chained | rechained | conflict;
    uninstall: removed | restored | absent | foreign.
    """

    name: str
    action: str
    path: str
    chained: str | None = None


@dataclass(frozen=True)
class InstallResult:
    hooks_dir: str
    hooks_path_scope: str | None  # scope of core.hooksPath, None when unset
    interpreter: str
    hooks: tuple[HookAction, ...]
    warnings: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return any(h.action not in ("unchanged", "conflict") for h in self.hooks)

    @property
    def ok(self) -> bool:
        return all(h.action != "conflict" for h in self.hooks)


@dataclass(frozen=True)
class UninstallResult:
    hooks_dir: str
    hooks: tuple[HookAction, ...]
    warnings: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return any(h.action in ("removed", "restored") for h in self.hooks)


@dataclass(frozen=True)
class HookState:
    name: str
    path: str
    state: str  # installed | outdated | missing | foreign
    executable: bool
    chained: str | None  # the kept foreign hook, if one was chained or is present
    chained_exists: bool
    chained_executable: bool
    interpreter: str | None  # recorded in our script
    interpreter_exists: bool


@dataclass(frozen=True)
class HooksStatus:
    hooks_dir: str
    hooks_path: str | None  # raw core.hooksPath value
    hooks_path_scope: str | None
    interpreter: str  # what `install` would record now
    hooks: tuple[HookState, ...]


# -- rendering --------------------------------------------------------------------------------


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def template_path() -> str:
    """The template: packaged copy (wheel) first, else the source tree's `hooks/` (editable)."""
    pkg = os.path.dirname(os.path.abspath(__file__))
    for candidate in (
        os.path.join(pkg, "_hooks", TEMPLATE_NAME),
        os.path.join(os.path.dirname(pkg), "hooks", TEMPLATE_NAME),
    ):
        if os.path.isfile(candidate):
            return candidate
    raise EnvironmentProblem(
        f"the hook template {TEMPLATE_NAME} is missing from this installation",
        "reinstall switchman-hook (pip install --force-reinstall switchman-hook)",
        code="hook_template_missing",
    )


@functools.lru_cache(maxsize=1)
def _template() -> str:
    with open(template_path(), encoding="utf-8") as fh:
        return fh.read()


def default_interpreter() -> str:
    """The interpreter to record: this environment's own python, as invoked.

    Not resolved: a venv's `bin/python` is a symlink, and resolving it would leave the venv and
    lose its site-packages. Only a pyenv shim is resolved, since going through it slows every hook.
    """
    exe = sys.executable
    if not exe:
        return ""
    exe = os.path.abspath(exe)
    if "/.pyenv/shims/" in exe:
        exe = os.path.realpath(exe)
    return exe


def render_script(name: str, interpreter: str) -> str:
    """The exact script `install` writes for hook `name` (doctor compares against it)."""
    if name not in HOOK_NAMES:
        raise BadInput(f"unknown hook {name!r}", f"use one of {', '.join(HOOK_NAMES)}")
    client = helper_client() if interpreter and os.path.abspath(interpreter) == default_interpreter() else ""
    return (
        _template().replace("@HOOK_NAME@", name).replace("@PYTHON@", shlex.quote(interpreter)).replace("@CLIENT@", shlex.quote(client))
    )


def helper_client() -> str:
    """The warm helper's client script of this install (switchman/helper/client.py)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "helper", "client.py")


_PY_LINE = re.compile(r"""^py=((?:'[^']*'|"[^"]*"|\\.|[^\s'"\\])*)$""", re.M)


def script_interpreter(text: str) -> str | None:
    """The interpreter recorded in one of our scripts (None if it is not one)."""
    m = _PY_LINE.search(text)
    if not m:
        return None
    parts = shlex.split(m.group(1))
    return parts[0] if parts else ""


def is_ours(data: bytes | None) -> bool:
    return data is not None and MARKER in data[:512]


# -- helpers ----------------------------------------------------------------------------------


def _keep_aside(target: str, orig: str) -> bool:
    """Give the foreign hook its `.switchman-orig` name without a moment with no hook at all.

    False when `orig` is already taken (e.g. a concurrent install got there first). Never leaves
    our own script as `orig`: it would then chain itself.
    """
    try:
        os.link(target, orig, follow_symlinks=False)
        if faults.ACTIVE:  # fault point (crash harness): foreign hook has both names
            faults.hit("install.kept_aside")
    except FileExistsError:
        return False
    except OSError:  # no hard links on this filesystem
        if os.path.lexists(orig):
            return False
        os.rename(target, orig)
    if is_ours(_read(orig)):
        os.unlink(orig)
        return False
    return True


def _rechain(target: str, orig: str, current: bytes | None) -> str | None:
    """Make the foreign script now at `target` the chained one; never lose the previous one.

    A byte-identical previous script (a manager rewriting its own template) is simply replaced;
    a different one is kept under a numbered name, returned for the warning.
    """
    kept = None
    if _read(orig) != current:
        kept = next_free(orig)
        os.link(orig, kept, follow_symlinks=False)
    link_replace(target, orig)  # the manager's current script, bytes and mode as it wrote them
    return kept


def _is_executable_file(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def hooks_path_config(paths: RepoPaths) -> tuple[str | None, str | None]:
    """(scope, value) of core.hooksPath, or (None, None) when unset."""
    proc = run_git(
        ["config", "--show-scope", "--get", "core.hooksPath"],
        paths.toplevel or paths.git_dir,
        check=False,
    )
    out = os.fsdecode(proc.stdout).rstrip("\n")
    if proc.returncode != 0 or not out:
        return None, None
    scope, _, value = out.partition("\t")
    return scope, value


def _manifest_path(hooks_dir: str) -> str:
    return os.path.join(hooks_dir, MANIFEST_NAME)


def _read_manifest(hooks_dir: str) -> dict[str, Any]:
    try:
        with open(_manifest_path(hooks_dir), encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _audit(paths: RepoPaths, event_type: str, details: dict[str, Any], caller: Any = None) -> None:
    """Record the change when the repo is initialised; hooks can be installed before `init`.

    `caller` (ops.leases.Caller): removing the shared hooks weakens every worktree."""
    from .ops.leases import weakening
    from .state import is_initialised, open_store

    if not is_initialised(paths.state_dir):
        return
    store = open_store(paths)
    try:
        store.write(lambda tx: tx.audit(event_type, "info", details={**details, **weakening(tx, caller, None)}))
    finally:
        store.close()


def _relative_dir_warning(paths: RepoPaths, value: str, hooks_dir: str) -> str | None:
    """A relative core.hooksPath inside the worktree exists only where it was created/committed."""
    if os.path.isabs(value) or value.startswith("~") or not paths.toplevel:
        return None
    real = os.path.realpath(hooks_dir)
    if os.path.commonpath([real, paths.toplevel]) != paths.toplevel:
        return None
    rels = [os.path.relpath(os.path.join(real, name), paths.toplevel) for name in HOOK_NAMES]
    out = run_git(["ls-files", "-z", "--", *rels], paths.toplevel, env=git_env(), check=False).stdout
    tracked = {os.fsdecode(p) for p in out.split(b"\0") if p}
    if all(r in tracked for r in rels):
        return None
    rel_dir = os.path.relpath(real, paths.toplevel)
    return (
        f"core.hooksPath={value!r} resolves inside each worktree and {rel_dir}/ is not committed: "
        "worktrees created later will have no switchman hooks — run `switchman-hook hooks install` "
        "in each new worktree, or set an absolute core.hooksPath"
    )


# -- operations -------------------------------------------------------------------------------


def install(paths: RepoPaths, *, force: bool = False, interpreter: str | None = None) -> InstallResult:
    """Write our scripts into the effective hooks dir, chaining any foreign hook. Idempotent."""
    scope, value = hooks_path_config(paths)
    warnings: list[str] = []
    if scope is not None and scope not in HONOURED_SCOPES:
        if not force:
            raise BadInput(
                f"core.hooksPath is set in {scope} config ({value}); installing there would add "
                "switchman hooks to every repository that uses it",
                "unset it, set a repo-local one (`git config core.hooksPath <dir>`), or pass --force",
                code="hooks_path_not_local",
            )
        warnings.append(f"installed into the {scope} core.hooksPath {value}: every repository using it runs these hooks")
    if scope == "worktree":
        warnings.append(
            "core.hooksPath is set for this worktree only: other worktrees use their own hooks "
            "dir — run `switchman-hook hooks install` in each"
        )
    interp = default_interpreter() if interpreter is None else os.path.abspath(interpreter)
    hooks_dir = paths.hooks_dir
    os.makedirs(hooks_dir, exist_ok=True)
    from . import spool

    spool.ensure(paths.common_dir)  # the sh post-commit spools only into an existing directory

    actions: list[HookAction] = []
    recorded = _read_manifest(hooks_dir).get("chained")
    chained_before = recorded if isinstance(recorded, dict) else {}
    for name in HOOK_NAMES:
        target = os.path.join(hooks_dir, name)
        orig = target + ORIG_SUFFIX
        script = render_script(name, interp).encode("utf-8")
        current = _read(target)
        if not os.path.lexists(target):
            atomic_write(target, script, 0o755, fault="install")
            action = "installed"
        elif is_ours(current):
            if current == script and _is_executable_file(target):
                action = "unchanged"
            else:
                atomic_write(target, script, 0o755, fault="install")
                action = "updated"
        elif os.path.lexists(orig) and _same_file(target, orig):
            # An install killed after hard-linking the foreign hook aside: finish the job.
            atomic_write(target, script, 0o755, fault="install")
            action = "chained"
        elif (
            os.path.lexists(orig)
            and chained_before.get(name) == os.path.basename(orig)
            and (manager_of(current, target) is not None or current == _read(orig))
        ):
            # A hook manager rewrote the hook we had chained (husky on `npm install`, lefthook on
            # a lefthook.yml change): chain its current script instead of the old one.
            kept = _rechain(target, orig, current)
            if kept:
                warnings.append(f"{name}: the previously chained hook differed and is kept as {os.path.basename(kept)}; it no longer runs")
            atomic_write(target, script, 0o755, fault="install")
            action = "rechained"
        elif os.path.lexists(orig) or not _keep_aside(target, orig):
            if is_ours(_read(target)):  # a concurrent install just wrote ours
                actions.append(HookAction(name, "unchanged", target, orig if os.path.lexists(orig) else None))
                continue
            warnings.append(
                f"{name}: left alone — a foreign hook is in place and {os.path.basename(orig)} "
                "already holds an earlier one; merge or remove one of them, then reinstall"
            )
            actions.append(HookAction(name, "conflict", target, orig))
            continue
        else:
            atomic_write(target, script, 0o755, fault="install")
            action = "chained"
            if not _is_executable_file(orig):
                warnings.append(
                    f"{name}: the existing hook is not executable, so it is kept but not run "
                    "(git would not have run it either)"
                )
        actions.append(HookAction(name, action, target, orig if os.path.lexists(orig) else None))

    chained = {a.name: os.path.basename(a.chained) for a in actions if a.chained and a.action != "conflict"}
    manifest = {"version": 1, "interpreter": interp, "hooks": list(HOOK_NAMES), "chained": chained}
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    if _read(_manifest_path(hooks_dir)) != manifest_bytes:
        atomic_write(_manifest_path(hooks_dir), manifest_bytes, 0o644, fault="install")

    if scope in HONOURED_SCOPES and value:
        warning = _relative_dir_warning(paths, value, hooks_dir)
        if warning:
            warnings.append(warning)
    result = InstallResult(hooks_dir, scope, interp, tuple(actions), tuple(warnings))
    if result.changed:
        _audit(
            paths,
            "hooks_installed",
            {
                "hooks_dir": hooks_dir,
                "hooks": [a.name for a in actions if a.action != "conflict"],
                "chained": sorted(chained),
                "actions": {a.name: a.action for a in actions},
                "interpreter": interp,
            },
        )
    return result


def uninstall(paths: RepoPaths, caller: Any = None) -> UninstallResult:
    """Remove our scripts and put back exactly what each replaced; never touch a foreign hook."""
    hooks_dir = paths.hooks_dir
    actions: list[HookAction] = []
    warnings: list[str] = []
    for name in HOOK_NAMES:
        target = os.path.join(hooks_dir, name)
        orig = target + ORIG_SUFFIX
        has_orig = os.path.lexists(orig)
        if os.path.lexists(target) and not is_ours(_read(target)):
            actions.append(HookAction(name, "foreign", target, orig if has_orig else None))
            warnings.append(
                f"{name}: left alone — it was replaced after install and is not switchman's"
                + (f"; {os.path.basename(orig)} is kept too" if has_orig else "")
            )
            continue
        if has_orig:
            os.replace(orig, target)  # same inode back in place: bytes and mode exactly as before
            actions.append(HookAction(name, "restored", target, None))
        elif os.path.lexists(target):
            os.unlink(target)
            actions.append(HookAction(name, "removed", target, None))
        else:
            actions.append(HookAction(name, "absent", target, None))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_manifest_path(hooks_dir))
    result = UninstallResult(hooks_dir, tuple(actions), tuple(warnings))
    if result.changed:
        _audit(
            paths,
            "hooks_uninstalled",
            {
                "hooks_dir": hooks_dir,
                "hooks": [a.name for a in actions if a.action in ("removed", "restored")],
                "chained": [a.name for a in actions if a.action == "restored"],
                "actions": {a.name: a.action for a in actions},
            },
            caller,
        )
    return result


def hook_status(paths: RepoPaths) -> HooksStatus:
    """Per hook: ours and current, outdated, missing or foreign; what it chains and runs."""
    scope, value = hooks_path_config(paths)
    hooks_dir = paths.hooks_dir
    recorded = _read_manifest(hooks_dir).get("chained")
    recorded = recorded if isinstance(recorded, dict) else {}
    states: list[HookState] = []
    for name in HOOK_NAMES:
        target = os.path.join(hooks_dir, name)
        data = _read(target)
        interp: str | None = None
        if data is None and not os.path.lexists(target):
            state = "missing"
        elif is_ours(data):
            text = (data or b"").decode("utf-8", "surrogateescape")
            interp = script_interpreter(text)
            current = interp is not None and text == render_script(name, interp)
            state = "installed" if current else "outdated"
        else:
            state = "foreign"
        orig = target + ORIG_SUFFIX
        chained: str | None = None
        if isinstance(recorded.get(name), str):
            chained = os.path.join(hooks_dir, os.path.basename(recorded[name]))
        elif os.path.lexists(orig):
            chained = orig
        states.append(
            HookState(
                name=name,
                path=target,
                state=state,
                executable=_is_executable_file(target),
                chained=chained,
                chained_exists=chained is not None and os.path.lexists(chained),
                chained_executable=chained is not None and _is_executable_file(chained),
                interpreter=interp,
                interpreter_exists=bool(interp) and _is_executable_file(interp or ""),
            )
        )
    return HooksStatus(hooks_dir, value, scope, default_interpreter(), tuple(states))
