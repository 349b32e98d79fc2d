"""doctor on the PostgreSQL team backend (SPEC §8, §12): the server answers, its schema is this
code's, and this machine's login cannot read the HMAC keys or rewrite audit rows.

These checks appear only when the clone uses a server (as `key_mode` appears only when there is
a key file); on SQLite they are not reported. SQLite's own `integrity` (PRAGMA integrity_check)
is not reported on a server, which keeps its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from ..store import sqlite_audit
from ..store.postgres_config import UNKNOWN_MACHINE, machine_id
from ..store.postgres_schema import AGENT_ROLE, SCHEMA_VERSION
from .context import Check, Ctx, check, q


def state_checks(c: Ctx) -> Iterator[Check]:
    """`state_dir`, `server`, `schema` for a clone that uses a server."""
    assert c.pg is not None
    yield check("state_dir", "ok", f"{c.state_dir} (store: PostgreSQL {c.server}, selected by {c.pg.source})")
    c.open_store()
    if c.store is None:
        assert c.pg_error is not None
        fix = c.pg_error.fix
        if c.pg_error.code == "store_unavailable":
            fix = f"start the PostgreSQL server at {c.server} (or fix SWITCHMAN_DATABASE_URL / .switchman/store.json), then: switchman-hook doctor"
        yield check("server", "fail", c.pg_error.message, fix)
        return
    from ..store import postgres_health

    facts = postgres_health.facts(c.store)
    c.server_facts = facts
    detail = (
        f"PostgreSQL {facts.server_version} at {c.server}: repository {c.pg.repo_id} joined, "
        f"login role {facts.login.role}, machine {machine_id()}"
    )
    if machine_id() == UNKNOWN_MACHINE:
        yield check(
            "server", "warn",
            detail + ": no /etc/machine-id and no SWITCHMAN_MACHINE_ID, so every such machine counts as one "
            "(the same path there is the same worktree)",
            "systemd-machine-id-setup  # or set SWITCHMAN_MACHINE_ID=<a name of its own> for every agent on this machine",
        )
    else:
        yield check("server", "ok", detail)
    version = facts.schema_version
    if version == SCHEMA_VERSION:
        yield check("schema", "ok", f"server schema version {version}")
    elif version is not None and version > SCHEMA_VERSION:
        yield check(
            "schema", "fail",
            f"server schema version {version} is newer than this switchman-hook's ({SCHEMA_VERSION}): commands and hooks refuse to run",
            "pip install -U 'switchman-hook[postgres]'",
        )
    else:
        yield check(
            "schema", "fail",
            f"server schema version {version if version is not None else 'unknown'} is older than this "
            f"switchman-hook's ({SCHEMA_VERSION}): commands and hooks refuse to run until the owner upgrades it",
            f"switchman-hook store setup {q(with_user(c.server, 'OWNER'))}  # as the database owner",
        )
    if version != SCHEMA_VERSION:
        c.close()  # the store checks would read columns that schema lacks: fix the schema first


def key_check(c: Ctx) -> Iterator[Check]:
    """`key` for a server: the key is there, and a copy left here from SQLite should go."""
    kpath = sqlite_audit.key_path(c.state_dir)
    try:
        left = sqlite_audit.read_key(c.state_dir) is not None
    except Exception:  # noqa: BLE001 - malformed: still a file that should not be here
        left = True
    if left:
        yield check(
            "key", "warn",
            f"{kpath} is left from the SQLite store: the server {c.server} holds the HMAC key now, and an "
            "agent machine should hold none (SPEC §12)",
            f"rm {q(kpath)}",
        )
    else:
        yield check("key", "ok", f"the HMAC key stays on the server {c.server} (none on this machine)")


def server_key_check(c: Ctx) -> Iterator[Check]:
    """`server_key`: neither this machine's login role nor the agent role can read the HMAC keys
    or write audit rows (otherwise the server's signature proves nothing about this machine)."""
    facts = c.server_facts
    if c.pg is None or facts is None:
        return
    login, agent = facts.login, facts.agent
    problems = []
    if login.superuser:
        problems.append(f"login role {login.role} is a superuser")
    else:
        problems += [f"login role {login.role} {what}" for what in _powers(login)]
    if agent is not None:
        problems += [f"role {AGENT_ROLE} {what}" for what in _powers(agent)]
    if not problems:
        how = f"a member of {AGENT_ROLE}" if login.agent_member else "no more than the agent role"
        yield check(
            "server_key", "ok",
            f"login role {login.role} ({how}) cannot read the HMAC keys or write audit rows: only the server signs",
        )
        return
    if agent is not None and _powers(agent):
        fix = f"switchman-hook store setup {q(with_user(c.server, 'OWNER'))}  # as the database owner: re-applies the grants"
    else:
        role = agent_role_name(machine_id())
        fix = (
            f"psql {q(c.server)} -c 'CREATE ROLE {role} LOGIN IN ROLE {AGENT_ROLE}' && "
            f"switchman-hook init --store {q(with_user(c.server, role))}"
        )
    yield check(
        "server_key", "fail",
        "; ".join(problems) + ": an agent on this machine could forge the audit trail the server signs",
        fix,
    )


def _powers(p: object) -> list[str]:
    out = []
    if getattr(p, "reads_keys", False):
        out.append("can read the HMAC keys (switchman_audit_keys)")
    if getattr(p, "writes_audit", False):
        out.append("can write audit_log rows")
    if getattr(p, "writes_head", False):
        out.append("can move the chain head (switchman_repos)")
    return out


def with_user(url: str, user: str) -> str:
    """`url` with another login role (the fix commands name the role to connect as)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query, parts.fragment))


def agent_role_name(machine: str) -> str:
    """A login role name for this machine's agents: agent_<machine id, letters and digits>."""
    return "agent_" + (re.sub(r"[^a-z0-9_]", "_", machine.lower())[:16] or "machine")


def restore_hint(c: Ctx) -> str:
    """Where the altered rows must come back from."""
    if c.pg is not None:
        return f"restore the database behind {c.server} from a backup (only its owner can alter audit rows)"
    return f"restore {q(c.db_path)} from a backup"
