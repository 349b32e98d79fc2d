"""How a hook was invoked: git's argv and stdin, or the pre-commit framework's PRE_COMMIT_* env.

Git runs a hook with its own arguments and stdin; the pre-commit framework runs it under an alias
(`gate`, `record`, `push-gate`), with no argv, stdin consumed, and what git said in PRE_COMMIT_*
variables. These functions answer, either way, the questions the hook's handler asks.
"""

from __future__ import annotations

import os
import sys


def under_framework() -> bool:
    """Run by the pre-commit framework (which stashes unstaged changes while the hook runs)."""
    return os.environ.get("PRE_COMMIT") == "1"


def framework_name(name: str, paths: object) -> str:
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


def push_lines(args: list[str]) -> tuple[str, str, list[str]]:
    """(remote, url, ref lines) for the push gate, from git's argv + stdin or pre-commit's env.

    Run by git, the hook gets `REMOTE URL` as argv and `<local ref> <local oid> <remote ref>
    <remote oid>` lines on stdin. Under pre-commit (PRE_COMMIT=1, no argv) stdin was consumed by
    pre-commit, which runs the hook once, for the FIRST ref that brings new commits (not at all
    when none does), with PRE_COMMIT_REMOTE_NAME/URL and PRE_COMMIT_LOCAL/REMOTE_BRANCH, plus:
      - FROM_REF=<remote oid>, TO_REF=<local oid> when the remote oid is known locally;
      - FROM_REF=<parent of the first commit not on the remote>, TO_REF=<local oid> otherwise;
      - no FROM/TO at all when that first commit is a root (the whole history is new).
    pre-commit finds that "first commit not on the remote" with `--not --remotes=<remote>`, local
    remote-tracking refs any process can move (and with replace objects on): FROM_REF is no
    word of the remote's. The line is rebuilt with a zero remote oid, so the gate asks the remote
    what it has (`ls-remote`) and excludes exactly that (SPEC §10).
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
        # No remote: `pre-commit run --hook-stage pre-push --from-ref X --to-ref Y` by hand, whose
        # range is the caller's own question.
        return remote, url, [f"{local_ref} {to_ref} {remote_ref} {zero if remote else from_ref}"]
    if not remote:  # `pre-commit run --hook-stage pre-push` with no push behind it: nothing pushed
        return remote, url, []
    # The pushed history includes a root commit: pre-commit gives no oids, so resolve the ref.
    resolve = ["rev-parse", "--verify", "--end-of-options", f"{local_ref}^{{commit}}"]
    local_oid = run_git(resolve, None).stdout.decode().strip()
    return remote, url, [f"{local_ref} {local_oid} {remote_ref} {zero}"]


def squash_merge(args: list[str]) -> bool:
    """post-merge: git passes `1` for a squash merge; pre-commit says PRE_COMMIT_IS_SQUASH_MERGE."""
    return (args[:1] == ["1"]) or os.environ.get("PRE_COMMIT_IS_SQUASH_MERGE") == "1"


def rewrite_command(args: list[str]) -> str:
    """post-rewrite: `amend` or `rebase`, from git's argv or pre-commit's env."""
    return args[0] if args else os.environ.get("PRE_COMMIT_REWRITE_COMMAND", "rebase")


def rewrite_lines(paths: object, command: str, framework: bool) -> list[str]:
    """post-rewrite's `<old> <new>` lines: git's stdin, or git's own files under pre-commit.

    pre-commit does not forward the hook's stdin: the pairs are recovered from git's files.
    """
    if not framework:
        return sys.stdin.read().splitlines()
    from .gates.history import rewritten_pairs

    return rewritten_pairs(paths, command)  # type: ignore[arg-type]
