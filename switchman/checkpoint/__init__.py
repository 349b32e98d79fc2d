"""Ed25519-signed checkpoints of the audit log's Merkle tree (SPEC §9).

The HMAC chain (SPEC §3) is only as strong as audit.key, which every agent running as the user
can read, and it cannot see a deleted tail or a deleted log. So, like Certificate Transparency,
the tree head is signed (a C2SP tlog-checkpoint inside a C2SP signed note) after every command or
hook that appended, and kept where rewriting the database cannot reach it without leaving traces:
a git blob on `refs/switchman/audit-checkpoint` (compare-and-swap, reflog on), which can also be
pushed or copied to CI as a witness.

Modules, low to high: note (text formats, Ed25519; pure), proofs (inclusion proofs; pure),
keys (key text forms, key files, keyring), ref (the only git I/O), writer, verify.
"""
