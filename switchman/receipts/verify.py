"""`gate ci`'s decision: does every commit in a range carry trusted provenance? (SPEC §11)

Why here and not in the store: CI runs in a fresh clone with no `.switchman/`, so the only
evidence is git itself (commits, the notes ref) and the trusted keys read from the base
revision. `decide` is pure over those facts; `commit_facts` / `range_facts` gather the git side
in one `git log` whatever the number of commits; `verify_range` wires the two together.

Per commit, first match wins: `receipt_ok`, `rebased`, `forge_merge`, else the failure the
commit's own receipts explain best (`commit_gate_bypassed`, `receipt_mode_too_weak`,
`receipt_signature_invalid`, `untrusted_key`, `receipt_mismatch`), else `missing_provenance`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from ..records import Record
from ..repo import git_env, run_git
from . import envelope
from .notes import REF, read_all

if TYPE_CHECKING:  # pragma: no cover
    from ..checkpoint.keys import VerifierKey

PASS_CODES = ("receipt_ok", "rebased", "forge_merge")
FAIL_CODES = (
    "commit_gate_bypassed",
    "receipt_mode_too_weak",
    envelope.SIGNATURE_INVALID,
    envelope.UNTRUSTED_KEY,
    "receipt_mismatch",
    "missing_provenance",
)
# How strongly a mode gates a commit; `require_mode` accepts a receipt at or above its rank.
MODE_RANK = {"observed": 0, "guarded": 1, "integrator": 1, "strict": 2}


# --- trusted keys ------------------------------------------------------------------------------


def parse_trusted_keys(text: str) -> list[VerifierKey]:
    """`.switchman-keys`: one verifier key per line as `audit pubkey` prints it; `#` comments.

    A bad line is an error naming its line number, never skipped: a typo must not quietly
    leave CI trusting fewer keys than the maintainer thinks (or none, failing every commit).
    """
    from ..checkpoint.keys import VerifierKey

    keys: list[VerifierKey] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            key = VerifierKey.parse(line)
        except BadInput as exc:
            raise BadInput(f".switchman-keys line {number}: {exc.message}", exc.fix) from None
        if key not in keys:
            keys.append(key)
    return keys


# --- git facts ---------------------------------------------------------------------------------


class CommitFacts(Record):
    """What git says about one commit: its tree, parents and changes against its first parent."""

    commit: str
    tree: str
    parents: tuple[str, ...]
    changes: tuple[str, ...]  # sorted `<status> <path> <blob>` (envelope.change_entry)

    @property
    def changes_digest(self) -> str:
        return envelope.changes_digest(self.changes)


_LOG = [
    "--no-replace-objects",
    "log",
    "--format=%H %T %P",
    "--raw",
    "-z",
    "--no-renames",
    "--no-abbrev",
    "--no-color",
    "--no-show-signature",
    "--diff-merges=first-parent",
    "--root",
]


def _parse_log(out: bytes) -> list[CommitFacts]:
    """Parse `git log --format='%H %T %P' --raw -z`: NUL-separated headers, metas and paths."""
    facts: list[CommitFacts] = []
    head: list[str] | None = None
    changes: list[str] = []
    tokens = out.split(b"\0")
    i = 0
    while i < len(tokens):
        tok = tokens[i].lstrip(b"\n")
        i += 1
        if not tok:
            continue
        if tok.startswith(b":"):  # ":oldmode newmode oldblob newblob status", then the path
            meta = tok[1:].decode("ascii").split(" ")
            path = os.fsdecode(tokens[i])
            i += 1
            changes.append(envelope.change_entry(meta[4][:1], path, meta[3]))
            continue
        if head is not None:
            facts.append(CommitFacts(head[0], head[1], tuple(head[2:]), tuple(envelope.sort_changes(changes))))
        head, changes = tok.decode("ascii").split(), []
    if head is not None:
        facts.append(CommitFacts(head[0], head[1], tuple(head[2:]), tuple(envelope.sort_changes(changes))))
    return facts


def _git_cwd_env(cwd: str | os.PathLike[str]) -> tuple[str, dict[str, str]]:
    return os.fspath(cwd), git_env(for_other_worktree=True)


def commit_facts(cwd: str | os.PathLike[str], commits: Sequence[str]) -> list[CommitFacts]:
    """Facts for the given commits, in the given order: one `git log --no-walk --stdin`."""
    if not commits:
        return []
    where, env = _git_cwd_env(cwd)
    data = "".join(f"{c}\n" for c in commits).encode("ascii")
    proc = run_git([*_LOG, "--no-walk=unsorted", "--stdin"], where, env=env, input=data)
    return _parse_log(proc.stdout)


def range_facts(cwd: str | os.PathLike[str], base: str, head: str) -> list[CommitFacts]:
    """Facts for every commit in `base..head`, oldest first: one `git log`."""
    where, env = _git_cwd_env(cwd)
    proc = run_git([*_LOG, "--topo-order", "--reverse", f"{base}..{head}", "--"], where, env=env)
    return _parse_log(proc.stdout)


# --- the decision ------------------------------------------------------------------------------


class Decision(Record):
    commit: str
    verdict: str  # "pass" | "fail"
    reason_code: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"commit": self.commit, "verdict": self.verdict, "reason_code": self.reason_code, "detail": self.detail}


class CiReport(Record):
    ok: bool
    commits: tuple[Decision, ...]
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "commits": [d.to_dict() for d in self.commits], "summary": self.summary}


class _Index:
    """The receipts, checked lazily and each line at most once.

    A commit's own receipts are verified when it is judged. Receipts of other commits are only
    peeked at (no signature check) to index them by `changes_digest` and by (path, blob); a
    candidate is verified when a rule wants it. So a PR whose commits all carry receipts costs
    one signature check per commit, however many receipts the repository holds.
    """

    def __init__(self, notes: Mapping[str, Sequence[str]], keys: Sequence[VerifierKey], require_mode: str | None) -> None:
        self.need = MODE_RANK.get(require_mode or "observed", 0)
        self.notes = notes
        self.ring = envelope.KeyRing(keys)
        self._checked: dict[str, envelope.Checked] = {}
        self._by_digest: dict[str, list[str]] | None = None
        self._by_blob: dict[tuple[str, str], list[str]] = {}

    def check(self, line: str) -> envelope.Checked:
        c = self._checked.get(line)
        if c is None:
            c = self._checked[line] = envelope.parse_line(line, self.ring)
        return c

    def own(self, commit: str) -> list[envelope.Checked]:
        return [self.check(line) for line in self.notes.get(commit, ())]

    def strong(self, c: envelope.Checked) -> bool:
        return MODE_RANK.get(str(c.predicate.get("mode")), 0) >= self.need

    def usable(self, c: envelope.Checked) -> bool:
        return c.ok and c.predicate.get("verdict") == "allowed" and self.strong(c)

    def _peek(self) -> dict[str, list[str]]:
        if self._by_digest is None:
            self._by_digest = {}
            seen: set[str] = set()
            for lines in self.notes.values():
                for line in lines:
                    if line in seen:
                        continue
                    seen.add(line)
                    pred = envelope.peek_predicate(line)
                    if not pred or pred.get("verdict") != "allowed" or not isinstance(pred.get("changes"), list):
                        continue
                    self._by_digest.setdefault(str(pred.get("changes_digest")), []).append(line)
                    for entry in pred["changes"]:
                        if isinstance(entry, str):
                            self._by_blob.setdefault(_path_of(entry), []).append(line)
        return self._by_digest

    def _first_usable(self, lines: Iterable[str], ok: Any) -> envelope.Checked | None:
        for line in lines:
            c = self.check(line)
            if self.usable(c) and ok(c):
                return c
        return None

    def with_digest(self, digest: str) -> envelope.Checked | None:
        """A valid, trusted, allowed receipt (for any commit) with these changes."""
        return self._first_usable(self._peek().get(digest, ()), lambda c: c.predicate["changes_digest"] == digest)

    def with_blob(self, entry: str) -> envelope.Checked | None:
        """A valid, trusted, allowed receipt that recorded this path at this blob."""
        self._peek()
        key = _path_of(entry)
        return self._first_usable(self._by_blob.get(key, ()), lambda c: key in {_path_of(e) for e in c.predicate["changes"]})


def _matches(c: envelope.Checked, f: CommitFacts, digest: str) -> bool:
    p = c.predicate
    return (
        c.subject == f.commit
        and p.get("tree") == f.tree
        and tuple(p.get("parents") or ()) == f.parents
        and p.get("changes_digest") == digest
    )


def _path_of(entry: str) -> tuple[str, str]:
    status_path, _, blob = entry.rpartition(" ")
    return status_path.partition(" ")[2], blob


def _judge(f: CommitFacts, ix: _Index) -> Decision:
    own = ix.own(f.commit)
    digest = f.changes_digest
    for c in own:
        if ix.usable(c) and _matches(c, f, digest):
            return Decision(f.commit, "pass", "receipt_ok", f"signed by {_name(c)}")
    other = ix.with_digest(digest)
    if other is not None:
        return Decision(f.commit, "pass", "rebased", f"same changes as {other.subject}, signed by {_name(other)}")
    if own:
        return _failure(f, own, ix, digest)
    if not f.changes:
        if len(f.parents) > 1:
            return Decision(f.commit, "pass", "forge_merge", "a merge that changes nothing against its first parent")
        return Decision(f.commit, "fail", "missing_provenance", "no receipt for this commit")
    sources: set[str] = set()
    for entry in f.changes:
        c = ix.with_blob(entry)
        if c is None:
            return Decision(
                f.commit, "fail", "missing_provenance",
                f"no receipt, and {_path_of(entry)[0]} ends at a blob no trusted allowed receipt recorded",
            )
        sources.add(c.subject or "?")
    return Decision(
        f.commit, "pass", "forge_merge",
        f"{len(f.changes)} path(s), each at a blob receipted for {', '.join(sorted(s[:12] for s in sources))}",
    )


def _failure(f: CommitFacts, own: Sequence[envelope.Checked], ix: _Index, digest: str) -> Decision:
    def fail(code: str, detail: str) -> Decision:
        return Decision(f.commit, "fail", code, detail)

    matching = [c for c in own if c.ok and _matches(c, f, digest)]
    for c in matching:
        if c.predicate.get("verdict") == "bypassed":
            return fail("commit_gate_bypassed", f"the commit gate was bypassed ({c.predicate.get('operation')})")
    for c in matching:
        if c.predicate.get("verdict") == "allowed" and not ix.strong(c):
            return fail("receipt_mode_too_weak", f"judged in {c.predicate.get('mode')} mode, guarded or stricter required")
    for code in (envelope.SIGNATURE_INVALID, envelope.UNTRUSTED_KEY):
        for c in own:
            if c.reason == code:
                return fail(code, c.detail)
    for c in own:
        if c.ok and not _matches(c, f, digest):
            return fail("receipt_mismatch", _mismatch(c, f))
    if matching:
        return fail("missing_provenance", f"receipt verdict is {matching[0].predicate.get('verdict')}, not allowed")
    bad = next((c for c in own if c.reason == envelope.MALFORMED), None)
    return fail("missing_provenance", f"no usable receipt ({bad.detail})" if bad else "no usable receipt")


def _mismatch(c: envelope.Checked, f: CommitFacts) -> str:
    p = c.predicate
    if c.subject != f.commit:
        return f"the receipt is for commit {c.subject}, not this one"
    if p.get("tree") != f.tree:
        return f"the receipt names tree {p.get('tree')}, the commit has {f.tree}"
    if tuple(p.get("parents") or ()) != f.parents:
        return "the receipt names other parents"
    return "the receipt's changes differ from the commit's changes against its first parent"


def _name(c: envelope.Checked) -> str:
    return (c.keyid or "").split("+", 1)[0] or "?"


def decide(
    facts: Iterable[CommitFacts],
    notes: Mapping[str, Sequence[str]],
    keys: Sequence[VerifierKey],
    *,
    require_mode: str | None = None,
) -> CiReport:
    """Judge each commit (pure). `notes` is every receipt known ({commit: [lines]}, from
    `read_all`), not only the range's: receipts of squashed-away commits count for forge merges."""
    if require_mode is not None and require_mode not in MODE_RANK:
        raise BadInput(f"unknown mode {require_mode!r}", "use observed, guarded or strict")
    ix = _Index(notes, keys, require_mode)
    decisions = tuple(_judge(f, ix) for f in facts)
    by_reason: dict[str, int] = {}
    for d in decisions:
        by_reason[d.reason_code] = by_reason.get(d.reason_code, 0) + 1
    failed = sum(d.verdict == "fail" for d in decisions)
    summary = {"commits": len(decisions), "passed": len(decisions) - failed, "failed": failed, "by_reason": by_reason}
    return CiReport(failed == 0, decisions, summary)


def verify_range(
    cwd: str | os.PathLike[str],
    base: str,
    head: str,
    keys: Sequence[VerifierKey],
    *,
    ref: str = REF,
    require_mode: str | None = None,
) -> CiReport:
    """`decide` over `base..head` with every note under `ref`: three git processes in all."""
    return decide(range_facts(cwd, base, head), read_all(os.fspath(cwd), ref), keys, require_mode=require_mode)
