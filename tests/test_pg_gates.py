"""The team backend through the CLI's write wrapper (SPEC §12, §14). The gate, store, ownership and
hook tests themselves run on both backends where they are: marked `both_backends` (conftest)."""

from __future__ import annotations

from pathlib import Path

from testing.cli import Cli, run_cli
from testing.git import git
from testing.pg import Cluster

from .pg_fixtures import pg_cluster  # noqa: F401


def test_a_command_that_fails_on_its_key_changed_nothing_on_postgresql(
    repo: Path, cli: Cli, pg_cluster: Cluster  # noqa: F811
) -> None:
    """SPEC §14 on the team backend too: the signer is checked before the transaction."""
    url = pg_cluster.url(pg_cluster.create_database())
    cli.ok("store", "setup", url)
    cli.ok("init", "--store", url)
    cli.ok("task", "add", "a task", "--id", "T-fault")

    def snapshot() -> tuple[object, ...]:
        return (
            cli.json("audit", "list", "--limit", "1000")["events"],
            cli.json("task", "list")["tasks"],
            git(repo, "for-each-ref", "refs/switchman/"),
        )

    before = snapshot()
    res = run_cli("task", "add", "faulted", cwd=repo, env={"SWITCHMAN_FAULT": "checkpoint.read_key!raise"})
    assert res.code == 3, res.err + res.out
    assert "cannot read the checkpoint signing key" in res.err and "Traceback" not in res.err
    assert snapshot() == before
