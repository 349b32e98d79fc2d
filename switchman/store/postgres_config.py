"""Which store a state dir uses (SPEC §12), decided without importing a driver.

`SWITCHMAN_DATABASE_URL`, or `store.json` in the state dir (written by `init --store URL` and
`store migrate`, never holding a password: use libpq's .pgpass, a service file or a client
certificate), selects PostgreSQL; otherwise the SQLite file. The SQLite path pays one `stat`.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple

from ..errors import BadInput, EnvironmentProblem

CONFIG_FILE = "store.json"
URL_ENV = "SWITCHMAN_DATABASE_URL"
MACHINE_ENV = "SWITCHMAN_MACHINE_ID"


class Selected(NamedTuple):
    url: str
    repo_id: str | None
    source: str  # "env" or "store.json"


def redact(url: str) -> str:
    """The URL without a password (what we record and print)."""
    from urllib.parse import urlsplit, urlunsplit  # not on the SQLite path, which only stats

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    if password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def has_password(url: str) -> bool:
    return redact(url) != url or "password=" in url


def config_path(state_dir: str) -> str:
    return os.path.join(state_dir, CONFIG_FILE)


def read_config(state_dir: str) -> dict[str, str] | None:
    try:
        with open(config_path(state_dir), encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(
            f"cannot read {config_path(state_dir)}: {exc}",
            "rerun `switchman-hook init --store URL` to rewrite it",
            code="store_config_unreadable",
        ) from exc
    return data if isinstance(data, dict) else None


def selected(state_dir: str) -> Selected | None:
    """The PostgreSQL selection for this state dir, or None for SQLite."""
    env = os.environ.get(URL_ENV)
    cfg = read_config(state_dir) if (env or os.path.exists(config_path(state_dir))) else None
    repo_id = cfg.get("repo_id") if cfg else None
    if env:
        return Selected(env, repo_id, "env")
    if cfg and cfg.get("url"):
        return Selected(cfg["url"], repo_id, CONFIG_FILE)
    return None


def write_config(state_dir: str, url: str, repo_id: str) -> None:
    if has_password(url):
        raise BadInput(
            "the store URL holds a password, which would be written to .switchman/store.json",
            "put the password in ~/.pgpass (or a service file / client certificate) and pass the URL without it",
            code="password_in_url",
        )
    tmp = config_path(state_dir) + f".tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"backend": "postgresql", "url": redact(url), "repo_id": repo_id}, fh)
        fh.write("\n")
    os.replace(tmp, config_path(state_dir))


def check_repo_id(repo_id: str) -> str:
    if not repo_id or len(repo_id) > 200 or not repo_id.isprintable() or not repo_id.isascii():
        raise BadInput(
            f"repository id {repo_id!r} is not printable ASCII (1-200 chars)",
            "pass --repo-id ID",
            code="invalid_repo_id",
        )
    return repo_id


def default_repo_id(root: str) -> str:
    """The oldest root commit's oid (`git rev-list --max-parents=0 HEAD`, last line)."""
    import subprocess  # here only: every store open reads this module (~3 ms of import)

    out = subprocess.run(
        ["git", "rev-list", "--max-parents=0", "HEAD"], cwd=root, capture_output=True, check=False
    )
    oids = out.stdout.decode("ascii", "replace").split()
    if out.returncode != 0 or not oids:
        raise BadInput(
            "the repository has no commit yet, so it has no default repository id",
            "commit once, or pass `init --store URL --repo-id ID`",
            code="no_repo_id",
        )
    return oids[-1]


UNKNOWN_MACHINE = "unknown"


def machine_id() -> str:
    """This machine: SWITCHMAN_MACHINE_ID, else /etc/machine-id, else "unknown" (a shared store
    then cannot tell such machines apart; doctor warns)."""
    env = os.environ.get(MACHINE_ENV)
    if env:
        value = env.strip()
        if not value or len(value) > 200 or not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
            raise BadInput(
                f"{MACHINE_ENV}={value[:40]!r} is not a machine id (1-200 printable ASCII characters, no spaces)",
                f"set {MACHINE_ENV} to a short name for this machine, e.g. {MACHINE_ENV}=$(hostname)",
                code="invalid_machine_id",
            )
        return value
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path, encoding="ascii") as fh:
                text = fh.read().strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text:
            return text
    return UNKNOWN_MACHINE
