"""Finding and creating the shared state (SPEC §2): `.switchman/` at the main worktree root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import policy as policymod
from .errors import EnvironmentProblem
from .jsonutil import dumps
from .models import Worktree
from .records import Record, factory
from .repo import RepoPaths, git_env, list_worktrees, locate, run_git
from .store.sqlite import DB_FILE, Store
from .store.sqlite import open_store as open_sqlite

EXCLUDE_LINE = "/.switchman/"


class InitResult(Record):
    state_dir: str
    created: bool
    key_created: bool
    mode: str
    excluded: bool
    registered: list[Worktree] = factory(list)


def after_commit(store: Any, rows: list[Any]) -> None:
    """The checkpoint writer, run after a transaction that appended audit rows commits.

    Imported on first use, so a hook that appended nothing never loads it.
    """
    from .checkpoint import writer

    writer.after_commit(store, rows)


def open_store(paths: RepoPaths, *, check_signer: bool = False) -> Store:
    """The store as commands and hooks use it: checkpoints follow every append.

    `check_signer` (commands): before each write, make sure the checkpoint that follows it can be
    signed, so a command that fails on its key fails before changing anything.
    """
    store = open_state_dir(paths.state_dir)
    if check_signer:
        store.before_write = before_write
    return store


def before_write(store: Any) -> None:
    from .checkpoint import writer

    writer.prepare(store)


def open_state_dir(state_dir: str, *, create: bool = False) -> Store:
    from .store import postgres_config  # no driver import: SQLite pays one stat (SPEC §12)

    pg = postgres_config.selected(state_dir)
    if pg is not None:
        return _open_postgres(state_dir, pg, create=create)
    return open_sqlite(state_dir, create=create, after_commit=after_commit)


def _open_postgres(state_dir: str, pg: Any, *, create: bool) -> Any:
    if pg.repo_id is None:
        raise EnvironmentProblem(
            f"{pg.url} is selected but this repository has not joined it",
            "run `switchman-hook init --store URL` in the repository",
            code="not_initialised",
        )
    from .store import postgres

    return postgres.open_store(state_dir, pg.url, pg.repo_id, create=create, after_commit=after_commit)


def ensure_excluded(paths: RepoPaths) -> bool:
    """Add `/.switchman/` to `<common dir>/info/exclude` so no state (and no key) is committed."""
    if paths.is_bare:
        return True
    info = os.path.join(paths.common_dir, "info")
    exclude = os.path.join(info, "exclude")
    os.makedirs(info, exist_ok=True)
    try:
        with open(exclude, encoding="utf-8", errors="surrogateescape") as fh:
            text = fh.read()
    except FileNotFoundError:
        text = ""
    if any(line.strip() in (EXCLUDE_LINE, ".switchman/", ".switchman", "/.switchman") for line in text.splitlines()):
        return False
    with open(exclude, "a", encoding="utf-8", errors="surrogateescape") as fh:
        if text and not text.endswith("\n"):
            fh.write("\n")
        fh.write(f"# switchman-hook state (database, audit key): never commit it\n{EXCLUDE_LINE}\n")
    return True


HISTORY_RESTARTED = "history_restarted"  # the first row of a trail begun by `init --new-history`


def init(
    paths: RepoPaths,
    mode: str | None = None,
    *,
    new_history: bool = False,
    store_url: str | None = None,
    repo_id: str | None = None,
) -> InitResult:
    """Create state dir, key, policy and schema; register git's worktrees. Idempotent.

    `store_url` (or SWITCHMAN_DATABASE_URL) joins a PostgreSQL store as `repo_id` (default: the
    oldest root commit); the server holds the audit key, so none is written here."""
    if mode is not None:
        policymod.check_mode(mode, policymod.DEFAULT_MODES)
    from .store import postgres_config

    store_url = store_url or os.environ.get(postgres_config.URL_ENV)
    if store_url is not None:
        repo_id = postgres_config.check_repo_id(repo_id or _known_repo_id(paths) or postgres_config.default_repo_id(paths.root))
    state_dir = paths.state_dir
    previous = _previous_history(paths, new_history)  # refuses before anything is created
    created = not os.path.isdir(state_dir)
    try:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot create the state directory {state_dir}: {exc.strerror or exc}",
            "make the repository writable (or move the file that is in the way) and rerun `switchman-hook init`",
            code="state_dir_unwritable",
        ) from exc
    # Agents often run `init` at the same time: without this, one reads a key file another is
    # still writing (key_malformed) or both append the exclude line.
    with _exclusive(state_dir):
        if store_url is not None:
            postgres_config.write_config(state_dir, store_url, repo_id)  # type: ignore[arg-type]
        return _init_locked(paths, mode, created, previous)


def _previous_history(paths: RepoPaths, new_history: bool) -> dict[str, Any] | None:
    """A checkpoint ref left by a removed store ("start over"): refuse, or set it aside."""
    from .checkpoint import ref

    if is_initialised(paths.state_dir):
        if new_history:
            raise EnvironmentProblem(
                f"a switchman store exists in {paths.state_dir}; --new-history only starts over after a reset",
                "remove it first (`switchman-hook uninstall --purge`), then run `switchman-hook init --new-history`",
                code="store_exists",
            )
        return None
    cwd = ref.git_cwd(paths.state_dir)
    env = git_env(for_other_worktree=True)
    cur = ref.read_ref(cwd, env, check=False)
    if cur is None:
        return None
    if not new_history:
        raise EnvironmentProblem(
            f"this repository has a signed checkpoint history ({ref.REF}) but its switchman store is gone",
            "restore .switchman/ from a backup, or, if you reset it on purpose, run `switchman-hook init --new-history`",
            code="previous_history",
        )
    from .checkpoint.note import parse_or_none

    note = parse_or_none(cur[1])
    aside = f"refs/switchman/previous/{cur[0][:16]}"
    run_git(["update-ref", aside, cur[0]], cwd, env=env)
    run_git(["update-ref", "-d", ref.REF, cur[0]], cwd, env=env)
    return {
        "previous_checkpoint": cur[0],
        "previous_origin": note.origin if note else None,
        "previous_size": note.size if note else None,
        "kept_as": aside,
    }


def _known_repo_id(paths: RepoPaths) -> str | None:
    from .store import postgres_config

    cfg = postgres_config.read_config(paths.state_dir) if os.path.isdir(paths.state_dir) else None
    return cfg.get("repo_id") if cfg else None


@contextmanager
def _exclusive(directory: str) -> Iterator[None]:
    """An advisory lock on the state directory itself (no lock file left behind)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _init_locked(paths: RepoPaths, mode: str | None, created: bool, previous: dict[str, Any] | None = None) -> InitResult:
    # Here, not at the top: opening a store for a read-only command (`check`, `whoami`) needs
    # none of them (`audit` loads hashlib/OpenSSL; ops.worktrees the snapshot tables).
    from .ops import worktrees as wtops
    from .store import audit_log, meta
    from .store.sqlite_audit import create_key, key_missing_error, read_key

    state_dir = paths.state_dir
    excluded = ensure_excluded(paths)
    db_exists = os.path.exists(os.path.join(state_dir, DB_FILE))
    from .store import postgres_config

    pg = postgres_config.selected(state_dir)  # the server holds the audit key: none written here
    if pg is not None:
        db_exists = True
    early_key = False
    if not db_exists and read_key(state_dir) is None:
        # Key first, database second: a command racing this first init then finds either no
        # database (not initialised) or a key, never a database without its key (key_missing).
        create_key(state_dir)
        early_key = True
    store = open_state_dir(state_dir, create=True)
    try:
        has_rows = audit_log.has_rows(store)
        key_created = early_key
        if pg is None and read_key(state_dir) is None:
            if has_rows:
                raise key_missing_error(state_dir)
            create_key(state_dir)
            key_created = True
        pol = policymod.load(state_dir)
        previous_mode = pol.default_mode
        if mode is not None and mode != pol.default_mode:
            pol = policymod.Policy(mode, pol.allowed_generated_paths, pol.extra)
            policymod.save(state_dir, pol)
        elif not os.path.exists(policymod.policy_path(state_dir)):
            policymod.save(state_dir, pol)
        git_wts = list_worktrees(paths.common_dir if paths.is_bare else paths.root)
        tips = _ref_tips(paths)

        def fn(tx):  # type: ignore[no-untyped-def]
            if previous is not None and not audit_log.has_rows(tx):  # the new trail says why it is new
                tx.audit(HISTORY_RESTARTED, "info", details={**previous, "via": "init --new-history"})
            # Whenever missing (a first init killed half-way, a migrated 0.1.3 store): checkpoints
            # are keyed by it and stay off without it.
            if meta.get(tx, "repo_id") is None:
                meta.insert(tx, "repo_id", pg.repo_id if pg is not None else os.urandom(8).hex())
            if meta.get(tx, "baseline_commits") is None:
                # History that existed before switchman is exempt from provenance checks; fixed at
                # the first init so re-running init can never launder newer commits.
                meta.insert(tx, "baseline_commits", dumps(tips))
            if pol.default_mode != previous_mode:  # `init --mode M` changed the policy: record it
                tx.audit(
                    "policy_updated",
                    "info",
                    details={"default_mode": pol.default_mode, "previous": previous_mode, "via": "init"},
                )
            return wtops.sync_rows(tx, git_wts, paths.root, pol.default_mode)

        registered = store.write(fn)
        # Create the Ed25519 checkpoint key (outside every worktree) on first init and sign a
        # checkpoint of what is there; a lost key is an error, never regenerated.
        from .checkpoint.writer import init_signing

        init_signing(paths, store)
        return InitResult(state_dir, created or not db_exists or (pg is not None and not has_rows), key_created, pol.default_mode, excluded, registered)
    finally:
        store.close()


def _ref_tips(paths: RepoPaths) -> list[str]:
    out = run_git(
        ["for-each-ref", "--format=%(objectname)", "refs/heads", "refs/tags", "refs/remotes"],
        paths.common_dir,
        env=git_env(for_other_worktree=True),
    ).stdout.decode()
    return sorted(set(out.split()))


def is_initialised(state_dir: str) -> bool:
    """A SQLite file, or a PostgreSQL selection this repository joined (`init --store`)."""
    if os.path.exists(os.path.join(state_dir, DB_FILE)):
        return True
    from .store import postgres_config

    pg = postgres_config.selected(state_dir)
    return pg is not None and pg.repo_id is not None


def require_initialised(paths: RepoPaths) -> None:
    if not is_initialised(paths.state_dir):
        raise EnvironmentProblem(
            f"switchman is not initialised in {paths.root}",
            "run `switchman-hook init`",
            code="not_initialised",
        )


__all__ = ["InitResult", "after_commit", "init", "locate", "open_state_dir", "open_store", "ensure_excluded", "require_initialised"]
