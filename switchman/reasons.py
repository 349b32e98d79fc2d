"""Every reason code a judgement can give, in one table: code -> (allowed, text, fix).

The ownership order (SPEC §4), the gates and the human output all read this table, so a code's
meaning and its fix are written once; the README's "Reason codes" table lists the same codes.
A fix is a template: `fix(code, **values)` fills it, and gives "" when the code has no fix or a
value it names is not known (a fix that cannot name the lease or path would mislead).
"""

from __future__ import annotations


class Reason:
    """One row of the table; a plain class, because building a NamedTuple class is measurable on
    the hook path (every gate imports this module)."""

    __slots__ = ("allowed", "text", "fix")

    def __init__(self, allowed: bool, text: str, fix: str) -> None:
        self.allowed = allowed
        self.text = text
        # `{worktree}`, `{path}` (both shell-quoted by the caller), `{lease_id}`, `{task_id}`,
        # `{holder_task}`, `{holder_worktree}`, `{missing}` (task types, comma-separated).
        self.fix = fix


PATH_CLAIMED = "path_claimed"
PATH_WITHIN_TASK_SCOPE = "path_within_task_scope"
POLICY_EXCEPTION_ALLOWED = "policy_exception_allowed"
INTEGRATOR_ALLOWED = "integrator_allowed"
NO_ACTIVE_LEASE = "no_active_lease"
LEASE_EXPIRED = "lease_expired"
PATH_CLAIMED_BY_OTHER_LEASE = "path_claimed_by_other_lease"
PATH_SCOPED_BY_OTHER_LEASE = "path_scoped_by_other_lease"
PATH_NOT_CLAIMED = "path_not_claimed"
PATH_OUTSIDE_REPO = "path_outside_repo"
SCOPE_RESERVED_BY_OTHER_LEASE = "scope_reserved_by_other_lease"
COMMIT_GATE_BYPASSED = "commit_gate_bypassed"
MISSING_PROVENANCE = "missing_provenance"
BOUNDARY_VALIDATION_BLOCKED = "boundary_validation_blocked"
DEPENDENCY_INVALIDATED = "dependency_invalidated"
AUDIT_VERIFY_FAILED = "audit_verify_failed"
PROVENANCE_MISMATCH = "provenance_mismatch"
# Receipts (SPEC §11): what `gate ci` says about a commit, and the push gate about the notes.
RECEIPT_OK = "receipt_ok"
REBASED = "rebased"
FORGE_MERGE = "forge_merge"
LOCAL_PROVENANCE = "local_provenance"
RECEIPT_SIGNATURE_INVALID = "receipt_signature_invalid"
UNTRUSTED_KEY = "untrusted_key"
RECEIPT_MISMATCH = "receipt_mismatch"
RECEIPT_MODE_TOO_WEAK = "receipt_mode_too_weak"
RECEIPTS_NOT_PUSHED = "receipts_not_pushed"

_OTHER_HOLDER = (
    "coordinate with task {holder_task} in worktree {holder_worktree} (it holds this path), "
    "or unstage it: git restore --staged -- {path}"
)

REASONS: dict[str, Reason] = {
    PATH_CLAIMED: Reason(True, "claimed by this worktree's lease", ""),
    PATH_WITHIN_TASK_SCOPE: Reason(True, "inside this lease's reserved scope", ""),
    POLICY_EXCEPTION_ALLOWED: Reason(True, "matches the policy's allowed_generated_paths", ""),
    INTEGRATOR_ALLOWED: Reason(
        True, "an integrator worktree: no other lease holds it (or this commit merges the holder's branch)", ""
    ),
    NO_ACTIVE_LEASE: Reason(
        False,
        "this worktree holds no active lease",
        "switchman-hook lease next {worktree}  (or: lease acquire TASK {worktree})",
    ),
    LEASE_EXPIRED: Reason(
        False, "this worktree's lease is stale (no heartbeat)", "switchman-hook lease heartbeat {lease_id}"
    ),
    PATH_CLAIMED_BY_OTHER_LEASE: Reason(False, "claimed by another lease", _OTHER_HOLDER),
    PATH_SCOPED_BY_OTHER_LEASE: Reason(False, "inside another lease's reserved scope", _OTHER_HOLDER),
    PATH_NOT_CLAIMED: Reason(
        False, "not claimed and outside this lease's scope", "switchman-hook claim {task_id} {worktree} {path}"
    ),
    PATH_OUTSIDE_REPO: Reason(
        False,
        "outside the worktree (absolute, `..` escape, or through a symlinked directory)",
        "give a path inside the worktree, relative to the repository root",
    ),
    SCOPE_RESERVED_BY_OTHER_LEASE: Reason(
        False,
        "the spec's scope overlaps another active lease's",
        "narrow allowed_paths / subsystem_tags with `switchman-hook task spec`, or wait for the holder's lease to end",
    ),
    COMMIT_GATE_BYPASSED: Reason(
        False,
        "committed without a passing gate judging that change (--no-verify, or copied from an unjudged commit)",
        "redo the commits through the gate: git reset --soft <base> && git commit",
    ),
    MISSING_PROVENANCE: Reason(
        False,
        "no recorded provenance (committed without the hooks)",
        "install the hooks (switchman-hook hooks install) and redo the commits through the gate: "
        "git reset --soft <base> && git commit",
    ),
    BOUNDARY_VALIDATION_BLOCKED: Reason(
        False, "boundary validation is blocked", "complete the required task types first: {missing}"
    ),
    DEPENDENCY_INVALIDATED: Reason(
        False, "a dependency invalidated this task's work", "revalidate: switchman-hook task retry {task_id}"
    ),
    AUDIT_VERIFY_FAILED: Reason(
        False, "the audit trail does not verify", "run `switchman-hook audit verify` and `switchman-hook doctor`"
    ),
    PROVENANCE_MISMATCH: Reason(
        False,
        "the commit_provenance table disagrees with the signed audit rows (tampering)",
        "the signed log is authoritative: run `switchman-hook doctor`, find who edited .switchman/switchman.db, "
        "and redo the commits through the gate: git reset --soft <base> && git commit",
    ),
    RECEIPT_OK: Reason(True, "a trusted receipt with verdict allowed names this commit", ""),
    REBASED: Reason(True, "a trusted allowed receipt records the same changes (a rebase or cherry-pick)", ""),
    FORGE_MERGE: Reason(True, "a forge merge or squash: every changed path ends at a receipted blob", ""),
    LOCAL_PROVENANCE: Reason(True, "no receipt, but this repo's audit trail recorded the commit", ""),
    RECEIPT_SIGNATURE_INVALID: Reason(
        False,
        "the receipt's signature does not verify (edited or damaged)",
        "redo the commit through the installed hooks, then push again (the hooks push the receipts)",
    ),
    UNTRUSTED_KEY: Reason(
        False,
        "the receipt is signed by a key .switchman-keys at the base does not list",
        "if the key is yours: `switchman-hook trust add`, commit .switchman-keys and merge that first",
    ),
    RECEIPT_MISMATCH: Reason(
        False,
        "the receipt is for another commit, tree or set of changes",
        "redo the commit through the installed hooks; a receipt cannot be copied to another commit",
    ),
    RECEIPT_MODE_TOO_WEAK: Reason(
        False,
        "judged in a weaker enforcement mode than required",
        "set the worktree's mode to guarded (`switchman-hook worktree mode WORKTREE guarded`) and redo the commit",
    ),
    RECEIPTS_NOT_PUSHED: Reason(
        False,
        "the receipts could not be pushed to the remote's refs/notes/switchman",
        "check you may push refs/notes/switchman, then `switchman-hook push REMOTE`",
    ),
}

ALLOWED = frozenset(code for code, reason in REASONS.items() if reason.allowed)


def text(code: str) -> str:
    """What the code means, for a person; an unknown code stands for itself."""
    reason = REASONS.get(code)
    return reason.text if reason is not None else code


def fix(code: str, **values: object) -> str:
    """The code's fix with `values` filled in; "" when it has none or needs a value not given."""
    reason = REASONS.get(code)
    if reason is None or not reason.fix:
        return ""
    try:
        return reason.fix.format_map(values)
    except KeyError:
        return ""


def fix_names_path(code: str) -> bool:
    """Whether the fix is specific to the path (printed under it) rather than shared by many."""
    reason = REASONS.get(code)
    return reason is not None and "{path}" in reason.fix
