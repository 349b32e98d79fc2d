"""Checks of the state dir, the store, the HMAC key, the audit trail and the policy file."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
from collections.abc import Iterator

from .. import policy as policymod
from ..errors import SwitchmanError
from ..repo import run_git
from ..store import audit_log, sqlite_audit
from ..store.sqlite import DB_FILE, integrity_problems
from ..store.sqlite_schema import SCHEMA_VERSION, current_version
from ..trail import verify_trail
from . import server_checks
from .context import Check, Ctx, check, listed, q

MIN_GIT = (2, 31)


def git_check() -> Check:
    try:
        proc = run_git(["--version"], None, check=False)
    except SwitchmanError:
        return check("git", "fail", "git was not found on PATH", "install git 2.31 or newer")
    text = os.fsdecode(proc.stdout).strip()
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if proc.returncode != 0 or not m:
        return check("git", "fail", f"`git --version` answered {text!r}", "install git 2.31 or newer")
    version = (int(m.group(1)), int(m.group(2)))
    if version < MIN_GIT:
        return check(
            "git", "fail", f"{text}: 2.31 or newer is needed (rev-parse --path-format)", "upgrade git to 2.31 or newer"
        )
    return check("git", "ok", text)


def state_checks(c: Ctx) -> Iterator[Check]:
    if c.pg_error is not None and c.pg is None:  # store.json unreadable
        yield check("state_dir", "fail", c.pg_error.message, c.pg_error.fix)
        return
    if c.pg is not None and os.path.isdir(c.state_dir):
        yield from server_checks.state_checks(c)
        return
    if not os.path.isdir(c.state_dir) or not os.path.isfile(c.db_path):
        missing = c.state_dir if not os.path.isdir(c.state_dir) else c.db_path
        yield check("state_dir", "fail", f"{missing} does not exist: switchman is not initialised here", "switchman-hook init")
        return
    yield check("state_dir", "ok", c.state_dir)
    c.open_store()
    if c.conn is None:
        yield check(
            "integrity",
            "fail",
            f"{c.db_path} cannot be opened: {c.db_error}",
            f"mv {q(c.db_path)} {q(c.db_path + '.broken')}  # then restore it from a backup",
        )
        return
    try:
        version = current_version(c.conn)
    except sqlite3.DatabaseError as exc:
        yield check("integrity", "fail", f"{c.db_path} is not a readable SQLite database: {exc}",
                     f"mv {q(c.db_path)} {q(c.db_path + '.broken')}  # then restore it from a backup")
        c.close()
        return
    if version == SCHEMA_VERSION:
        yield check("schema", "ok", f"schema version {version}")
    elif version < SCHEMA_VERSION:
        yield check(
            "schema",
            "warn",
            f"schema version {version} is older than this switchman-hook's ({SCHEMA_VERSION}); "
            "the next write migrates it in place",
            "switchman-hook init",
        )
    else:
        yield check(
            "schema",
            "fail",
            f"schema version {version} is newer than this switchman-hook's ({SCHEMA_VERSION}): hooks refuse to run",
            "pip install -U switchman-hook",
        )
    try:
        rows = integrity_problems(c.conn, 20)
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    if rows == ["ok"]:
        yield check("integrity", "ok", "PRAGMA integrity_check: ok")
    else:
        yield check(
            "integrity",
            "fail",
            f"PRAGMA integrity_check: {listed(rows, 3)}",
            f"sqlite3 {q(c.db_path)} .recover | sqlite3 {q(c.db_path + '.recovered')}  # check it, then swap it in",
        )


def _audit_rows(c: Ctx) -> int:
    if c.conn is None or not c.has_table("audit_log"):
        return 0
    return audit_log.count(c.conn)


def key_checks(c: Ctx) -> Iterator[Check]:
    kpath = sqlite_audit.key_path(c.state_dir)
    key: str | None = "?"
    if c.pg is not None:
        yield from server_checks.key_check(c)
    else:
        try:
            key = sqlite_audit.read_key(c.state_dir)
        except SwitchmanError as exc:
            yield check("key", "fail", exc.message, f"restore {kpath} from a backup (never regenerate it)")
    if key is None:
        rows = _audit_rows(c)
        if rows:
            yield check(
                "key", "fail", f"{kpath} is missing but the audit log has {rows} rows (key_missing)",
                f"restore {kpath} from a backup (never regenerate it)",
            )
        else:
            yield check("key", "fail", f"{kpath} is missing", "switchman-hook init")
    elif key != "?":
        yield check("key", "ok", f"{kpath} present (64 hex chars)")
    if os.path.isfile(kpath):
        mode = stat.S_IMODE(os.stat(kpath).st_mode)
        if mode & 0o077:
            yield check(
                "key_mode", "fail", f"{kpath} has mode {mode:04o}: other users can read it and forge audit rows",
                f"chmod 600 {q(kpath)}",
            )
        else:
            yield check("key_mode", "ok", f"mode {mode:04o}")
    if c.paths.is_bare:
        yield check("key_tracked", "ok", "bare repository: the state dir is outside every tree")
        yield check("key_history", "ok", "bare repository: the state dir is outside every tree")
    else:
        rel = os.path.relpath(kpath, c.root)
        out = c.git(["ls-files", "-z", "--", rel]).stdout
        if out.strip(b"\0"):
            yield check(
                "key_tracked", "fail", f"{rel} is tracked by git: the next commit publishes it",
                f"git -C {q(c.root)} rm --cached -q -- {q(rel)}",
            )
        else:
            yield check("key_tracked", "ok", f"{rel} is not tracked")
        proc = c.git(["log", "--all", "--format=%H", "--", rel])
        commits = os.fsdecode(proc.stdout).split()
        if commits:
            backup = kpath + ".bak"
            yield check(
                "key_history",
                "fail",
                f"{rel} is in {len(commits)} commit(s) (latest {commits[0][:12]}): anyone with that "
                "history can forge audit rows; rewrite the history (and rely on signed checkpoints)",
                f"cp -p {q(kpath)} {q(backup)} && git -C {q(c.root)} filter-repo --force --invert-paths "
                f"--path {q(rel)} && cp -p {q(backup)} {q(kpath)}",
            )
        else:
            yield check("key_history", "ok", f"{rel} was never committed (git log --all)")
    yield from excluded_check(c)


def excluded_check(c: Ctx) -> Iterator[Check]:
    if c.paths.is_bare:
        yield check("excluded", "ok", "bare repository: nothing to exclude")
        return
    rel = os.path.relpath(os.path.join(c.state_dir, DB_FILE), c.root)
    proc = c.git(["check-ignore", "-q", "--no-index", "--", rel])
    if proc.returncode == 0:
        yield check("excluded", "ok", f"{os.path.relpath(c.state_dir, c.root)}/ is ignored by git")
    else:
        yield check(
            "excluded",
            "fail",
            f"{os.path.relpath(c.state_dir, c.root)}/ is not ignored: `git add -A` would commit the database and the key",
            "switchman-hook doctor --fix",
        )


def audit_chain_check(c: Ctx) -> Iterator[Check]:
    if c.conn is None or c.store is None or not c.has_table("audit_log"):
        return
    try:
        key = sqlite_audit.read_key(c.state_dir)
    except SwitchmanError:
        key = None
    c.trail = verify_trail(c.paths, c.store, key, contain=True)
    result = c.trail.chain
    if result.ok:
        yield check("audit_chain", "ok", f"{result.count} event(s) verify (sequence, chain, hash, signature)")
    else:
        first = result.failures[0]
        where = f" at sequence {first.sequence}" if first.sequence is not None else ""
        yield check(
            "audit_chain",
            "fail",
            f"{first.reason_code}{where}: {first.message} ({len(result.failures)} failure(s) in {result.count} event(s))",
            f"{server_checks.restore_hint(c)}; `switchman-hook audit verify` lists every failure",
        )


def checkpoint_check(c: Ctx) -> Iterator[Check]:
    """SPEC §9, from the verdict audit_chain_check obtained (one pass over the log for both)."""
    if c.trail is None:
        return
    if c.trail.error is not None:
        if not isinstance(c.trail.error, SwitchmanError):
            raise c.trail.error  # reported by the driver as "could not check"
        yield check("checkpoint", "fail", c.trail.error.message, c.trail.error.fix)
        return
    st = c.trail.checkpoint
    assert st is not None
    detail = st.detail or st.state
    if not st.ok:
        first = st.failures[0] if st.failures else None
        code = f"{first.reason_code}: " if first else ""
        yield check(
            "checkpoint",
            "fail",
            f"{code}{detail}",
            f"{server_checks.restore_hint(c)}; `switchman-hook audit verify` shows what changed",
        )
    elif st.state == "missing":
        yield check("checkpoint", "warn", detail, "switchman-hook audit checkpoint")
    elif st.state == "disabled":
        yield check("checkpoint", "warn", detail, "switchman-hook init")
    else:
        yield check("checkpoint", "ok", detail)


def policy_check(c: Ctx) -> Iterator[Check]:
    try:
        pol = policymod.load(c.state_dir)
    except SwitchmanError as exc:
        yield check("policy", "fail", exc.message, exc.fix or f"fix {policymod.policy_path(c.state_dir)}")
        return
    present = os.path.isfile(policymod.policy_path(c.state_dir))
    yield check(
        "policy",
        "ok",
        f"{policymod.POLICY_FILE}{'' if present else ' (absent: defaults)'}: default mode {pol.default_mode}, "
        f"{len(pol.allowed_generated_paths)} generated-path glob(s)",
    )
