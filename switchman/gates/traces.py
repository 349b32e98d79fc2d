"""What git was doing when a commit was made, read from git's own files.

post-commit needs: the reflog entry git wrote for the new commit, GIT_REFLOG_ACTION, the
sequencer's state (CHERRY_PICK_HEAD, the last `rebase-merge/done` pick) and which in-progress
markers exist. They are gone or changed by the next pick, so they are read once: live, by the
in-process hook (`read_live`), or by the `sh` post-commit, which writes them into the spool line
that `parse_spool_fields` reads back (hooks/hook.sh, `switchman.spool`). Both give a `Traces`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from ..records import Record, factory

SEQUENCER_OPS = ("cherry-pick", "revert", "rebase")
MARKERS = {"rebase-merge": "m", "rebase-apply": "a", "CHERRY_PICK_HEAD": "c", "REVERT_HEAD": "r"}
OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class Traces(Record):
    reflog_old: str = ""  # the last HEAD reflog entry: old id, new id, action (before the ':')
    reflog_new: str = ""
    action: str = ""
    env_action: str = ""  # GIT_REFLOG_ACTION's first word
    cherry_pick_head: str = ""
    rebase_done: str = ""  # the commit named on the last line of rebase-merge/done
    markers: frozenset[str] = factory(frozenset)  # names from MARKERS that existed


def reflog_entry(git_dir: str) -> tuple[str, str, str]:
    """(old id, new id, message) of the last entry of this worktree's HEAD reflog."""
    try:
        with open(os.path.join(git_dir, "logs", "HEAD"), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4096))
            lines = fh.read().splitlines()
    except OSError:
        return "", "", ""
    if not lines:
        return "", "", ""
    last = lines[-1].decode("utf-8", "replace")
    head, _, message = last.partition("\t")
    ids = head.split(" ", 2)
    return (ids[0] if ids else ""), (ids[1] if len(ids) > 1 else ""), message


def _read_text(git_dir: str, rel: str) -> str:
    try:
        with open(os.path.join(git_dir, rel), encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def read_live(git_dir: str, env: Mapping[str, str] | None = None) -> Traces:
    """The traces as they are now (the in-process post-commit, post-merge)."""
    old, new, message = reflog_entry(git_dir)
    done = _read_text(git_dir, "rebase-merge/done").splitlines()
    words = done[-1].split() if done else []
    environ = env if env is not None else os.environ
    return Traces(
        reflog_old=old,
        reflog_new=new,
        action=message.split(":", 1)[0] if message else "",
        env_action=environ.get("GIT_REFLOG_ACTION", "").split(" ", 1)[0],
        cherry_pick_head=_read_text(git_dir, "CHERRY_PICK_HEAD").strip(),
        rebase_done=words[1] if len(words) >= 2 else "",
        markers=frozenset(m for m in MARKERS if os.path.exists(os.path.join(git_dir, m))),
    )


def parse_spool_fields(fields: list[str]) -> Traces:
    """Traces from a spool line's fields after the commit and worktree (see hooks/hook.sh)."""
    old, new, action, env_action, cph, done, flags = (fields + [""] * 7)[:7]
    return Traces(
        reflog_old=old,
        reflog_new=new,
        action=action,
        env_action=env_action,
        cherry_pick_head=cph,
        rebase_done=done,
        markers=frozenset(name for name, letter in MARKERS.items() if letter in flags),
    )


def spool_fields(t: Traces) -> list[str]:
    """The inverse of parse_spool_fields: what the sh post-commit would have written."""
    flags = "".join(letter for marker, letter in MARKERS.items() if marker in t.markers)
    return [t.reflog_old, t.reflog_new, t.action, t.env_action, t.cherry_pick_head, t.rebase_done, flags]


def operation_from_action(action: str) -> str | None:
    """Classify a reflog action (the part of `<action>: <subject>` before the ':')."""
    for op in SEQUENCER_OPS:
        if action.startswith(op):
            return op  # `cherry-pick`, `revert`, `rebase (pick)`, `rebase -i (pick)`, ...
    if action.startswith("pull") and action.endswith(")"):
        return "rebase"  # `pull --rebase ... (pick)`; a merging pull is `pull ...: Merge made by`
    if action == "commit (amend)":
        return "amend"
    if action == "commit (merge)" or action.startswith(("merge", "pull")):
        return "merge"
    if action.startswith("commit"):
        # Also `commit (cherry-pick)`: a conflicted pick concluded with `git commit` ran pre-commit.
        return "commit"
    return None


def operation(traces: Traces, head: str | None = None) -> str:
    """commit | amend | merge | cherry-pick | revert | rebase — from git's own traces.

    The reflog entry git wrote for the new commit is authoritative: in post-commit git 2.39 does
    not export GIT_REFLOG_ACTION to hooks, and REVERT_HEAD is already gone. Only when the reflog
    says nothing (disabled, or its last entry is not HEAD) do the environment and the sequencer
    state files decide; a `git commit` run by hand during a stopped rebase is a commit.
    """
    if traces.action and (head is None or traces.reflog_new == head):
        op = operation_from_action(traces.action)
        if op is not None:
            return op
    for op in SEQUENCER_OPS:
        if traces.env_action.startswith(op):
            return op
    for marker, op in (("rebase-merge", "rebase"), ("rebase-apply", "rebase"), ("CHERRY_PICK_HEAD", "cherry-pick"), ("REVERT_HEAD", "revert")):
        if marker in traces.markers:
            return op
    return "commit"


def picked_oid(traces: Traces, op: str) -> str | None:
    """The commit a cherry-pick or rebase pick copies: CHERRY_PICK_HEAD (git 2.39 keeps it for
    both while post-commit runs), else the last `rebase-merge/done` pick. A revert's source is in
    its message (history.py reads it from the commit)."""
    if op not in ("cherry-pick", "rebase"):
        return None
    for sha in (traces.cherry_pick_head, traces.rebase_done):
        if OID.fullmatch(sha):
            return sha
    return None
