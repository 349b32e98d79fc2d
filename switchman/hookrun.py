"""The hot path: installed hook scripts run `<python> -c 'from switchman.hookrun import main'`.

No click, no GitPython, no cryptography at import time: a commit pays only for git plumbing,
sqlite3 and hashing. Fail-closed rules (when the store is unusable): gating hooks refuse in
guarded/strict mode and warn in observed mode, with one line on stderr; recording hooks warn and
never fail the command. The mode used then is the strictest of the policy default and the
worktree's last known mode, kept in `<git dir>/switchman-mode` by every gate run.
"""

from __future__ import annotations

import os
import sys

GATING = ("pre-commit", "pre-merge-commit", "pre-push")
PROBE_ENV = "SWITCHMAN_DOCTOR_PROBE"
RECORDING = ("post-commit", "post-checkout", "post-merge", "post-rewrite")


def _err(text: str) -> None:
    if text:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def _framework_name(name: str, paths: object) -> str:
    """Map a pre-commit framework alias (`gate`, `record`, `push-gate`) to the git hook it stands for.

    pre-commit (>= 3.2; checked with 4.x) passes hooks no git argv and names no stage; it exports
    PRE_COMMIT=1 and, per stage: post-checkout PRE_COMMIT_CHECKOUT_TYPE (+ FROM_REF/TO_REF),
    post-merge PRE_COMMIT_IS_SQUASH_MERGE, post-rewrite PRE_COMMIT_REWRITE_COMMAND, post-commit
    nothing. `gate` serves pre-commit and pre-merge-commit, which get the same PRE_COMMIT_* set, so
    git's own traces decide. MERGE_HEAD cannot: git writes it only after pre-merge-commit ran,
    and it does exist when `git commit` concludes a stopped merge (a pre-commit run). `git merge`
    (also when run by `git pull`) exports GITHEAD_<oid> for each merged head and, unless already
    set, GIT_REFLOG_ACTION="merge <names>"; `git commit` and `git merge --continue` export no
    GITHEAD_* (a git may export "merge (continue)"), and their pre-commit judges the merge's own
    changes.
    """
    env = os.environ
    if name == "gate":
        action = env.get("GIT_REFLOG_ACTION", "")
        merging = any(k.startswith("GITHEAD_") for k in env) or (
            action.startswith(("merge ", "pull")) and "(continue)" not in action
        )
        return "pre-merge-commit" if merging else "pre-commit"
    if name == "record":
        if env.get("PRE_COMMIT_CHECKOUT_TYPE"):
            return "post-checkout"
        if env.get("PRE_COMMIT_IS_SQUASH_MERGE"):
            return "post-merge"
        if env.get("PRE_COMMIT_REWRITE_COMMAND"):
            return "post-rewrite"
        return "post-commit"
    if name == "push-gate":
        return "pre-push"
    return name


def _push_lines(args: list[str]) -> tuple[str, str, list[str]]:
    """(remote, url, ref lines) for the push gate, from git's argv + stdin or pre-commit's env.

    Run by git, the hook gets `REMOTE URL` as argv and `<local ref> <local oid> <remote ref>
    <remote oid>` lines on stdin. Under pre-commit (PRE_COMMIT=1, no argv) stdin was consumed by
    pre-commit, which runs the hook once, for the FIRST ref that brings new commits (not at all
    when none does), with PRE_COMMIT_REMOTE_NAME/URL and PRE_COMMIT_LOCAL/REMOTE_BRANCH, plus:
      - FROM_REF=<remote oid>, TO_REF=<local oid> when the remote oid is known locally;
      - FROM_REF=<parent of the first commit not on the remote>, TO_REF=<local oid> otherwise;
      - no FROM/TO at all when that first commit is a root (the whole history is new).
    The line is rebuilt so the gate excludes what it would for git's line: `--not <remote oid>`
    in the first case, `--not --remotes=<remote>` (a zero remote oid) in the others.
    """
    env = os.environ
    if args or env.get("PRE_COMMIT") != "1":
        remote = args[0] if args else ""
        url = args[1] if len(args) > 1 else ""
        return remote, url, sys.stdin.read().splitlines()

    from .repo import run_git

    zero = "0" * 40
    remote = env.get("PRE_COMMIT_REMOTE_NAME", "")
    url = env.get("PRE_COMMIT_REMOTE_URL", "")
    local_ref = env.get("PRE_COMMIT_LOCAL_BRANCH") or "HEAD"
    remote_ref = env.get("PRE_COMMIT_REMOTE_BRANCH") or local_ref
    from_ref = env.get("PRE_COMMIT_FROM_REF", "")
    to_ref = env.get("PRE_COMMIT_TO_REF", "")
    if from_ref and to_ref:
        remote_oid = from_ref
        if remote:
            # pre-commit's second case: FROM_REF is the first new commit's first parent.
            new = ["rev-list", "--parents", "--topo-order", "--reverse", to_ref, "--not", f"--remotes={remote}"]
            listed = run_git(new, None, check=False).stdout
            first = listed.split(b"\n", 1)[0].decode("ascii", "replace").split()
            if len(first) > 1 and first[1] == from_ref:
                remote_oid = zero
        return remote, url, [f"{local_ref} {to_ref} {remote_ref} {remote_oid}"]
    if not remote:  # `pre-commit run --hook-stage pre-push` with no push behind it: nothing pushed
        return remote, url, []
    # The pushed history includes a root commit: pre-commit gives no oids, so resolve the ref.
    resolve = ["rev-parse", "--verify", "--end-of-options", f"{local_ref}^{{commit}}"]
    local_oid = run_git(resolve, None).stdout.decode().strip()
    return remote, url, [f"{local_ref} {local_oid} {remote_ref} {zero}"]


_FAST_EXIT = False  # set by main() for the hook process itself (see there)
MODE_MARKER = "switchman-mode"  # per-worktree (`--git-path`), read when the store is unusable
_RANK = {"observed": 0, "guarded": 1, "strict": 2}


def _probe(name: str) -> int:
    """`doctor` asks whether the hook reaches us: answer where we are, touch nothing."""
    import json

    from . import __version__
    from .errors import SwitchmanError
    from .repo import locate

    answer: dict[str, object] = {"hook": name, "version": __version__, "python": sys.executable}
    try:
        paths = locate()
        answer.update(
            toplevel=paths.toplevel,
            state_dir=paths.state_dir,
            managed=os.path.exists(os.path.join(paths.state_dir, "switchman.db")),
        )
    except SwitchmanError as exc:
        answer["error"] = exc.message
    sys.stdout.write("switchman-probe " + json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


def run(name: str, args: list[str]) -> int:
    from .errors import SwitchmanError
    from .repo import locate

    # Only the pre-commit gate answers the doctor's probe; post-commit ignores it, so a commit
    # made with the variable set is still checked for a bypass.
    if name in ("pre-commit", "gate") and os.environ.get(PROBE_ENV) == "1":
        return _probe(name)
    git_name = _framework_name(name, None)
    if _FAST_EXIT and git_name == "pre-commit":
        # The gate's first question (~10 ms of index reading at 100k files): ask it before even
        # locating the repository. Hooks are installed only where switchman is initialised.
        from .fingerprints import DIFF_INDEX_ARGS
        from .repo import prefetch_git

        prefetch_git([*DIFF_INDEX_ARGS, "HEAD", "--"])
    try:
        try:
            paths = locate()
        except SwitchmanError:
            return 0
        if paths.toplevel is None or not os.path.isdir(paths.state_dir):
            return 0  # not managed by switchman: hooks stay out of the way
        if _FAST_EXIT:
            _prefetch(git_name, paths)
        # A managed repo whose switchman.db vanished fails like a corrupted one (Store.open says so).
        name = git_name
        framework = os.environ.get("PRE_COMMIT") == "1"
        try:
            return _dispatch(name, args, paths, framework)
        except SwitchmanError as exc:
            return _fail(name, paths, exc.message, exc.fix)
        except Exception as exc:  # noqa: BLE001 - a hook must answer with one line, never a traceback
            if os.environ.get("SWITCHMAN_DEBUG"):
                import traceback

                traceback.print_exc()
            return _fail(name, paths, f"internal error: {type(exc).__name__}: {exc}", "rerun with SWITCHMAN_DEBUG=1 and report it")
    finally:
        if not _FAST_EXIT:
            from .repo import discard_prefetched

            discard_prefetched()


def _prefetch(name: str, paths: object) -> None:
    """Start the git commands this hook will need, so they run while Python imports the gate.

    Two cores: git reads the index (or walks the worktree) on one while the interpreter loads
    modules on the other. `run_git` hands each result to the first caller asking for exactly that
    command in this directory with the inherited environment (see `repo.prefetch_git`). Only in a
    managed repository, and only in the hook process itself (`_FAST_EXIT`).
    """
    from .repo import HEAD_ARGS, committed_paths_args, prefetch_git

    if name == "pre-commit":
        from .fingerprints import DIFF_INDEX_ARGS, STATUS_ARGS

        prefetch_git([*DIFF_INDEX_ARGS, "HEAD", "--"])  # started before `locate` already: a no-op
        if _remembered_mode(paths) == "strict":  # strict scans the whole worktree too
            prefetch_git(STATUS_ARGS)
    elif name == "post-commit":
        prefetch_git(HEAD_ARGS)
        prefetch_git(committed_paths_args("HEAD"))
    elif name in ("post-checkout", "post-merge", "post-rewrite"):
        from .fingerprints import STATUS_ARGS

        prefetch_git(STATUS_ARGS)  # the re-baseline's `git status`: the slowest step


def _remembered_mode(paths: object) -> str | None:
    try:
        with open(os.path.join(paths.git_dir, MODE_MARKER), encoding="ascii") as fh:  # type: ignore[attr-defined]
            mode = fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return mode if mode in _RANK else None


def _remember_mode(paths: object, mode: str) -> None:
    """Keep this worktree's mode beside its git dir, so a broken store still fails closed."""
    if mode not in _RANK or _remembered_mode(paths) == mode:
        return
    try:
        with open(os.path.join(paths.git_dir, MODE_MARKER), "w", encoding="ascii") as fh:  # type: ignore[attr-defined]
            fh.write(mode + "\n")
    except OSError:
        pass


def failure_mode(paths: object) -> str:
    """The strictest of the policy default and this worktree's last known mode."""
    try:
        from .policy import load

        mode = load(paths.state_dir).default_mode  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - an unreadable policy fails closed too
        mode = "guarded"
    remembered = _remembered_mode(paths)
    if remembered is not None and _RANK[remembered] > _RANK.get(mode, 1):
        mode = remembered
    return mode


FAILURE_LOG = "switchman-hook-failures.log"  # in the git common dir: outside the store that failed


def _fail(name: str, paths: object, what: str, fix: str) -> int:
    """Fail closed in guarded/strict, open in observed: one line on stderr, never a traceback.

    Each failure is also appended to FAILURE_LOG, so `doctor` can show what went unchecked or
    unrecorded after the store works again.
    """
    mode = failure_mode(paths)
    what = what.replace("\r", "\\r").replace("\n", "\\n")
    fix = fix or "run `switchman-hook doctor`"
    if name in GATING and mode != "observed":
        verdict, code = "refused", 1
        _err(f"error: switchman {name} refused ({mode} mode fails closed): {what} — {fix}")
    elif name in GATING:
        verdict, code = "allowed_unchecked", 0
        _err(f"warning: switchman {name} allowed unchecked ({mode} mode): {what} — {fix}")
    else:
        verdict, code = "not_recorded", 0
        _err(f"warning: switchman {name} could not record: {what} — {fix}")
    _log_failure(paths, name, mode, verdict, what)
    return code


def _log_failure(paths: object, name: str, mode: str, verdict: str, what: str) -> None:
    import json
    import time

    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hook": name,
        "mode": mode,
        "verdict": verdict,
        "worktree": getattr(paths, "toplevel", None),
        "reason": what,
    }
    try:
        fd = os.open(os.path.join(paths.common_dir, FAILURE_LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # type: ignore[attr-defined]
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
    except OSError:
        pass  # best effort: the stderr line above already told the person


def _dispatch(name: str, args: list[str], paths, framework: bool) -> int:  # type: ignore[no-untyped-def]
    from . import gates
    from .report import format_gate
    from .state import open_store

    store = open_store(paths)
    try:
        if name == "pre-commit":
            if _FAST_EXIT:
                _warm_signer()
            result = gates.commit_gate(paths, store, framework=framework)
        elif name == "pre-merge-commit":
            result = gates.merge_gate(paths, store, hook=True)
        elif name == "pre-push":
            remote, url, lines = _push_lines(args)
            result = gates.push_gate(paths, store, remote, url, lines)
        elif name == "post-commit":
            gates.post_commit(paths, store)
            return 0
        elif name == "post-merge":
            squash = (args[:1] == ["1"]) or os.environ.get("PRE_COMMIT_IS_SQUASH_MERGE") == "1"
            gates.post_merge(paths, store, squash=squash, framework=framework)
            return 0
        elif name == "post-rewrite":
            command = args[0] if args else os.environ.get("PRE_COMMIT_REWRITE_COMMAND", "rebase")
            # pre-commit does not forward the hook's stdin: recover the pairs from git's files.
            lines = gates.rewritten_pairs(paths, command) if framework else sys.stdin.read().splitlines()
            gates.post_rewrite(paths, store, command, lines, framework=framework)
            return 0
        elif name == "post-checkout":
            gates.rebaseline(paths, store, framework=framework)
            return 0
        else:
            _err(f"switchman: unknown hook {name!r}")
            return 0
    finally:
        if not _FAST_EXIT:
            store.close()
    _remember_mode(paths, result.mode)
    _err(format_gate(result))
    return 0 if result.ok else 1


def _warm_signer() -> None:
    """Import the Ed25519 signer (~4 ms) now: the gate is about to wait for `git diff-index` and
    `git write-tree` (prefetched, still running on a big index), and its audit row will need a
    signed checkpoint anyway. On a small index git is done already and this costs nothing extra.
    """
    import contextlib

    with contextlib.suppress(ImportError):  # a dependency; the checkpoint writer would say so
        from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Hook entry. Called without `argv` (the installed script), the process ends here.

    It then leaves with `os._exit` and never closes the database: everything is committed, and
    that skips SQLite's WAL checkpoint-on-close and the interpreter teardown (~5-10 ms a hook).
    """
    global _FAST_EXIT
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        _err("usage: python -m switchman.hookrun HOOK-NAME [ARGS...]")
        return 2
    _FAST_EXIT = argv is None
    code = run(args[0], args[1:])
    if _FAST_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
