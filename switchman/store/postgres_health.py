"""What `doctor` asks a PostgreSQL server (SPEC §8, §12): its version, the switchman schema
version, and what this machine's login role could do to the audit trail. Read-only.

The security claim of the team backend is that an agent machine cannot sign audit rows: the HMAC
keys (`switchman_audit_keys`) are readable only by the owner, and audit rows are written only by
`switchman_append`. That holds only when the machine logs in as a role that is a member of
switchman_agent and nothing more: a superuser, the owner, or a role granted more, can read the
key and forge the trail. `privileges` asks the server exactly that, for the login role
(`session_user`, whatever role the session has SET) and for the agent role itself.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ..errors import EnvironmentProblem
from ..records import Record
from . import postgres_schema as schema
from .postgres_config import redact

_WRITE = "INSERT, UPDATE, DELETE, TRUNCATE"


class Privileges(Record):
    """What a role may do to what makes the trail trustworthy."""

    role: str
    superuser: bool
    agent_member: bool  # a member of switchman_agent (how agents are meant to log in)
    reads_keys: bool  # SELECT on switchman_audit_keys: could compute valid HMACs
    writes_audit: bool  # INSERT/UPDATE/DELETE/TRUNCATE on audit_log: could rewrite rows
    writes_head: bool  # UPDATE on switchman_repos: could move the chain head


class ServerFacts(Record):
    server_version: str
    schema_version: int | None  # None: no switchman_schema row (setup never finished)
    login: Privileges
    agent: Privileges | None  # None: the agent role does not exist


def _privileges(pg: Any, role_expr: str) -> Privileges | None:
    row = pg.execute(
        "SELECT r.rolname, r.rolsuper, "
        f"pg_has_role(r.oid, '{schema.AGENT_ROLE}', 'MEMBER'), "
        "has_table_privilege(r.oid, 'switchman_audit_keys', 'SELECT'), "
        f"has_table_privilege(r.oid, 'audit_log', '{_WRITE}'), "
        "has_table_privilege(r.oid, 'switchman_repos', 'UPDATE') "
        f"FROM pg_roles r WHERE r.rolname = {role_expr}"
    ).fetchone()
    if row is None:
        return None
    return Privileges(str(row[0]), bool(row[1]), bool(row[2]), bool(row[3]), bool(row[4]), bool(row[5]))


def facts(store: Any) -> ServerFacts:
    """The facts for an open store (its connection has SET ROLE to the agent role)."""
    pg = store.pg
    try:
        version = str(pg.execute("SHOW server_version").fetchone()[0])
        row = pg.execute("SELECT version FROM switchman_schema WHERE id = 1").fetchone()
        login = _privileges(pg, "session_user")
        agent = _privileges(pg, f"'{schema.AGENT_ROLE}'")
    except psycopg.OperationalError as exc:
        raise EnvironmentProblem(
            f"the switchman store server {redact(store.url)} stopped answering: {str(exc).strip().splitlines()[0]}",
            "start the PostgreSQL server, then rerun `switchman-hook doctor`",
            code="store_unavailable",
        ) from exc
    except psycopg.Error as exc:
        raise EnvironmentProblem(
            f"store {redact(store.url)}: {str(exc).strip().splitlines()[0]}",
            f"run `switchman-hook store setup {redact(store.url)}` as the database owner",
            code="store_error",
        ) from exc
    assert login is not None  # the session's own role exists
    return ServerFacts(version, int(row[0]) if row else None, login, agent)


def has_table(store: Any, name: str) -> bool:
    """used by doctor (`Ctx.has_table`): does the server's schema have this table."""
    return store.pg.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0] is True
