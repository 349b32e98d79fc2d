"""testing/pg.py and tests/pg_fixtures.py: the throwaway cluster, and a missing server failing the
suite under SWITCHMAN_REQUIRE_PG=1 (skipping without it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testing import pg

from .pg_fixtures import pg_cluster, pg_url  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def test_cluster_settings_and_both_transports(pg_cluster: pg.Cluster) -> None:  # noqa: F811
    import psycopg

    with pg_cluster.connect() as conn:
        values = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit',"
            " 'full_page_writes', 'listen_addresses', 'unix_socket_directories', 'server_encoding')"
        ).fetchall())
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    assert values == {
        "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "server_encoding": "UTF8",
        "listen_addresses": "127.0.0.1", "unix_socket_directories": pg_cluster.socket_dir,
    }
    with psycopg.connect(pg_cluster.url(tcp=True)) as conn:
        assert str(conn.execute("SELECT inet_server_addr()").fetchone()[0]) == "127.0.0.1"
    with psycopg.connect(pg_cluster.conninfo(tcp=True)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert os.stat(pg_cluster.base).st_mode & 0o077 == 0  # private: only the server user (and root)


def test_each_test_gets_a_fresh_database(pg_url: str, pg_cluster: pg.Cluster) -> None:  # noqa: F811
    import psycopg

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").fetchone() == (0,)
        name = conn.execute("SELECT current_database()").fetchone()[0]
    assert name.startswith("t_") and name in pg_url


def test_unix_only_cluster_listens_on_no_tcp_port() -> None:
    with pg.start_cluster() as cluster:
        assert cluster.tcp_port is None
        with cluster.connect() as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
        with pytest.raises(ValueError, match="tcp=True"):
            cluster.url(tcp=True)
        base = cluster.base
    assert not os.path.exists(base)  # stop() deletes the directory


def test_missing_binaries_is_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWITCHMAN_PG_BINDIR", str(tmp_path))
    with pytest.raises(pg.PostgresMissing) as info:
        pg.find_bindir()
    message = str(info.value)
    assert "\n" not in message and message.endswith("fix: apt-get install postgresql")


PROBE = """
import sys
sys.path.insert(0, {root!r})
from tests.pg_fixtures import pg_cluster, pg_url  # noqa: F401

def test_needs_pg(pg_url):
    pass
"""


@pytest.mark.parametrize(("require", "outcome"), [("1", "1 error"), ("", "1 skipped")])
def test_missing_server_fails_under_require_pg_else_skips(tmp_path: Path, require: str, outcome: str) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE.format(root=str(ROOT)))
    env = {**os.environ, "SWITCHMAN_PG_BINDIR": str(tmp_path / "nowhere"), "SWITCHMAN_REQUIRE_PG": require,
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(probe)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert outcome in out, out
    assert "apt-get install postgresql" in out, out
    assert (proc.returncode != 0) == (require == "1"), out
