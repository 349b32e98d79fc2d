"""A throwaway PostgreSQL cluster for the tests (SPEC §12, DESIGN.md "Team backend").

    with start_cluster() as pg:              # or: pg = start_cluster(); ...; pg.stop()
        name = pg.create_database()          # a fresh, empty database
        url = pg.url(name)                   # postgresql://postgres@/NAME?host=/tmp/...&port=5432
        with pg.connect(name) as conn: ...   # psycopg 3, imported only here

Debian's `initdb`/`pg_ctl` (the highest /usr/lib/postgresql/*/bin, else the ones on PATH, or
$SWITCHMAN_PG_BINDIR) run as the `postgres` user when we are root, in a `tempfile.mkdtemp()`
directory chowned to that user (not pytest's 0700 tmp, which `postgres` cannot enter). The server
listens on a unix socket in that directory only (`listen_addresses=''`), or also on 127.0.0.1 with
a free port (`tcp=True`); fsync, synchronous_commit and full_page_writes are off, authentication is
`trust` (the socket directory is 0700: only that user and root can reach it).

initdb is the slow part (~1-2 s), so it runs once per PostgreSQL build: the initialised data
directory is kept as a template in the temp dir (owned by the server user, mode 0700, checked
before use) and every cluster starts from a copy of it. The server is started without `pg_ctl -w`
(which polls every 100 ms) and we poll `postmaster.pid` for "ready" instead: a start is a copy and
a boot, typically 0.2-0.5 s (`Cluster.start_seconds`).

Missing binaries raise `PostgresMissing`, whose message is one line ending in the fix
(`apt-get install postgresql`); tests/pg_fixtures.py turns it into a skip, or a failure when
SWITCHMAN_REQUIRE_PG=1.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

FIX = "apt-get install postgresql"
SUPERUSER = "postgres"
# Fast and unsafe on purpose: a crash loses the cluster, and the cluster is thrown away anyway.
DEFAULT_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "huge_pages": "off",
    "shared_buffers": "32MB",
    "max_connections": "100",
}
_INITDB_ARGS = ("-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--wal-segsize=1")
_TEMPLATE_FORMAT = "1"  # bump when _INITDB_ARGS change: old templates are then ignored
# The server has no TLS or GSSAPI: say so, so a TCP connect skips libpq's negotiation attempts
# (and a PGSSLMODE=require in the caller's environment cannot break the tests).
_NO_TLS = "sslmode=disable gssencmode=disable"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes; ".s.PGSQL.65535" must fit after the directory


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl, postgres) on this machine."""


class PostgresFailed(RuntimeError):
    """The binaries are there but the cluster would not initialise or start."""


# --- binaries --------------------------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)


def _complete(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres: $SWITCHMAN_PG_BINDIR, the highest
    /usr/lib/postgresql/*/bin (Debian/Ubuntu), or wherever initdb is on PATH."""
    override = os.environ.get("SWITCHMAN_PG_BINDIR")
    if override:
        if _complete(Path(override)):
            return Path(override)
        raise PostgresMissing(f"SWITCHMAN_PG_BINDIR={override} has no initdb/pg_ctl/postgres; fix: {FIX}")
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bindir in debian:
        if _complete(bindir):
            return bindir
    on_path = shutil.which("initdb")
    if on_path and _complete(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    raise PostgresMissing(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on PATH; fix: {FIX}"
    )


# --- running as the server user ----------------------------------------------------------------


class _RunAs:
    """Who runs the server: `postgres` when we are root (initdb refuses root), else ourselves."""

    def __init__(self) -> None:
        if os.geteuid() == 0:
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresMissing(
                    f"running as root but there is no 'postgres' user to run the server as; fix: {FIX}"
                ) from None
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            self.switch = True
        else:
            self.uid, self.gid = os.geteuid(), os.getegid()
            self.switch = False

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        env.pop("LANG", None)
        return env

    def run(self, argv: list[str], cwd: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        kw: dict[str, Any] = {}
        if self.switch:
            kw = {"user": self.uid, "group": self.gid, "extra_groups": []}
        return subprocess.run(
            argv, cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, check=False, **kw,
        )

    def chown(self, path: str) -> None:
        if self.switch:
            os.chown(path, self.uid, self.gid)


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise PostgresFailed(f"{what} failed (exit {proc.returncode}): {' | '.join(detail[-5:])}")


def _mkdtemp(prefix: str) -> str:
    path = tempfile.mkdtemp(prefix=prefix)
    if len(path) + len("/.s.PGSQL.65535") > _MAX_SOCKET_PATH:  # a long $TMPDIR: the socket won't fit
        os.rmdir(path)
        path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    return path


# --- the initdb'd template -----------------------------------------------------------------------


def _template_dir(bindir: Path, runas: _RunAs) -> Path:
    postgres = bindir / "postgres"
    st = postgres.stat()
    ident = f"{_TEMPLATE_FORMAT}|{postgres.resolve()}|{st.st_size}|{st.st_mtime_ns}|{' '.join(_INITDB_ARGS)}"
    tag = hashlib.sha256(ident.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"switchman-pg-template-{runas.uid}-{tag}"


def _usable_template(path: Path, runas: _RunAs) -> bool:
    """Ours and complete: owned by the server user, nobody else can write it, initdb finished."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != runas.uid or st.st_mode & 0o077:
        return False
    return (path / "complete").is_file() and (path / "data" / "PG_VERSION").is_file()


def _ensure_template(bindir: Path, runas: _RunAs) -> Path:
    final = _template_dir(bindir, runas)
    if _usable_template(final, runas):
        return final
    build = _mkdtemp("switchman-pg-initdb-")
    runas.chown(build)
    try:
        _check(runas.run([str(bindir / "initdb"), "-D", f"{build}/data", *_INITDB_ARGS], cwd=build), "initdb")
        Path(build, "complete").write_text("initdb finished\n")
        runas.chown(f"{build}/complete")
        try:
            os.rename(build, final)  # atomic; a concurrent builder (another xdist worker) may win
        except OSError:
            pass
        else:
            return final
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    if _usable_template(final, runas):
        shutil.rmtree(build, ignore_errors=True)
        return final
    return Path(build)  # something foreign sits at `final`: use (and later delete) our own copy


# --- the cluster ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A running throwaway cluster. Connect as superuser `postgres`, no password."""

    def __init__(self, bindir: Path, base: str, port: int, tcp_port: int | None, runas: _RunAs) -> None:
        self.bindir = bindir
        self.base = base  # mkdtemp dir: data/, the unix socket, postgres.log
        self.datadir = os.path.join(base, "data")
        self.socket_dir = base
        self.port = port  # of the unix socket (.s.PGSQL.<port>), and of TCP when tcp_port is set
        self.tcp_port = tcp_port
        self.user = SUPERUSER
        self.logfile = os.path.join(base, "postgres.log")
        self.start_seconds = 0.0
        self._runas = runas
        self._admin: Any = None
        self._stopped = False

    # connection strings
    def conninfo(self, dbname: str = "postgres", *, tcp: bool = False) -> str:
        """libpq key=value conninfo for the superuser (unix socket unless tcp=True)."""
        host = self._host(tcp)
        info = f"host={_kv(host)} port={self.port} user={self.user} dbname={_kv(dbname)}"
        return info + (" " + _NO_TLS if tcp else "")

    def url(self, dbname: str = "postgres", *, tcp: bool = False) -> str:
        """postgresql:// URL for the superuser (unix socket unless tcp=True)."""
        if tcp:
            return (
                f"postgresql://{self.user}@{self._host(True)}:{self.port}/{quote(dbname, safe='')}"
                f"?{_NO_TLS.replace(' ', '&')}"
            )
        return (
            f"postgresql://{self.user}@/{quote(dbname, safe='')}"
            f"?host={quote(self.socket_dir, safe='/')}&port={self.port}"
        )

    def env(self, dbname: str = "postgres", *, tcp: bool = False) -> dict[str, str]:
        """PG* variables that point libpq (psql, a subprocess) at this cluster."""
        return {"PGHOST": self._host(tcp), "PGPORT": str(self.port), "PGUSER": self.user, "PGDATABASE": dbname}

    def _host(self, tcp: bool) -> str:
        if tcp:
            if self.tcp_port is None:
                raise ValueError("this cluster listens on its unix socket only: start_cluster(tcp=True)")
            return "127.0.0.1"
        return self.socket_dir

    # databases
    def connect(self, dbname: str = "postgres", *, tcp: bool = False, **kwargs: Any) -> Any:
        """A psycopg 3 connection as the superuser (psycopg is imported here, not at import)."""
        import psycopg

        return psycopg.connect(self.conninfo(dbname, tcp=tcp), **kwargs)

    def execute(self, sql: str) -> None:
        """Run one statement as the superuser in database `postgres`, autocommit (psql if no psycopg)."""
        try:
            import psycopg  # noqa: F401
        except ImportError:
            proc = self._runas.run(
                [str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.conninfo(), "-c", sql],
                cwd=self.base,
            )
            _check(proc, f"psql -c {sql!r}")
            return
        if self._admin is None or self._admin.closed:
            self._admin = self.connect(autocommit=True)
        self._admin.execute(sql)

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """Create a database (a fresh random name unless given) and return its name."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        sql = f"CREATE DATABASE {_ident(name)}"
        if template:
            sql += f" TEMPLATE {_ident(template)}"
        self.execute(sql)
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whatever a test left connected to it."""
        self.execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")

    # lifetime
    def stop(self) -> None:
        """Stop the server (immediate: nothing here is worth a checkpoint) and delete the directory."""
        if self._stopped:
            return
        self._stopped = True
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
        if not self._signal_stop():
            with contextlib.suppress(Exception):
                self._runas.run([str(self.bindir / "pg_ctl"), "-D", self.datadir, "-m", "immediate", "-w", "stop"],
                                cwd=self.base, timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)

    def _signal_stop(self, timeout: float = 10.0) -> bool:
        """SIGQUIT (pg_ctl's immediate mode) and wait for postmaster.pid to go, polling faster than
        pg_ctl's 100 ms; False when that did not work and pg_ctl should try."""
        pidfile = Path(self.datadir, "postmaster.pid")
        try:
            os.kill(int(pidfile.read_text().split("\n", 1)[0]), signal.SIGQUIT)
        except (OSError, ValueError):
            return not pidfile.exists()
        deadline = time.monotonic() + timeout
        while pidfile.exists():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(Path(self.logfile).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Cluster {self.url()} tcp_port={self.tcp_port}>"


def _kv(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _wait_ready(cluster: Cluster, timeout: float) -> None:
    """Poll postmaster.pid until the postmaster says "ready" (line 8), or fail with its log."""
    pidfile = Path(cluster.datadir, "postmaster.pid")
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            lines = pidfile.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            lines = []
        if len(lines) >= 8 and lines[7].strip() == "ready":
            return
        if lines and lines[0].strip().isdigit():
            try:
                os.kill(int(lines[0]), 0)
            except ProcessLookupError:
                raise PostgresFailed(f"postgres exited during startup: {cluster.log_tail(5)}") from None
            except PermissionError:  # alive, another user's process (we are not root)
                pass
        if time.monotonic() > deadline:
            raise PostgresFailed(f"postgres not ready after {timeout:.0f}s: {cluster.log_tail(5)}")
        if "FATAL" in cluster.log_tail(5) and not pidfile.exists():
            raise PostgresFailed(f"postgres failed to start: {cluster.log_tail(5)}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.02)


def start_cluster(
    *, tcp: bool = False, settings: dict[str, str] | None = None, bindir: Path | str | None = None,
    timeout: float = 30.0,
) -> Cluster:
    """Start a throwaway cluster; the caller stops it (`stop()` or `with`). tcp=True also listens on
    127.0.0.1 at a free port; `settings` adds or overrides server settings (-c name=value)."""
    started = time.perf_counter()
    bin_path = Path(bindir) if bindir else find_bindir()
    runas = _RunAs()
    template = _ensure_template(bin_path, runas)
    attempts = 3 if tcp else 1
    for attempt in range(attempts):
        t0 = time.perf_counter() if attempt else started
        base = _mkdtemp("switchman-pg-")
        runas.chown(base)
        port = free_port() if tcp else 5432
        cluster = Cluster(bin_path, base, port, port if tcp else None, runas)
        try:
            _check(runas.run(["cp", "-a", f"{template}/data", cluster.datadir], cwd=base), "copying the initdb template")
            opts = {
                **DEFAULT_SETTINGS,
                "listen_addresses": "127.0.0.1" if tcp else "",
                "unix_socket_directories": base,
                "port": str(port),
                **(settings or {}),
            }
            options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in opts.items())
            _check(
                runas.run([str(bin_path / "pg_ctl"), "-D", cluster.datadir, "-l", cluster.logfile, "-o", options,
                           "-W", "start"], cwd=base),
                "pg_ctl start",
            )
            _wait_ready(cluster, timeout)
        except PostgresFailed:
            log = cluster.log_tail()
            cluster.stop()
            if tcp and attempt + 1 < attempts and "could not bind" in log:  # lost the free port race
                continue
            raise
        except BaseException:
            cluster.stop()
            raise
        cluster.start_seconds = time.perf_counter() - t0
        atexit.register(cluster.stop)  # a crashed test run still stops its server
        if template.name.startswith("switchman-pg-initdb-"):  # an uncached, private template
            shutil.rmtree(template, ignore_errors=True)
        return cluster
    raise AssertionError("unreachable")  # pragma: no cover
