"""The lease stale window is read in one place (`policy.stale_minutes`), so status, `lease reap`,
the gates, the monitor and doctor cannot disagree on which lease is stale."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from switchman import policy
from switchman.errors import BadInput
from testing.cli import Cli
from testing.db import age_heartbeat

PACKAGE = Path(__file__).resolve().parent.parent / "switchman"


def write_policy(state_dir: Path, **extra: object) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / policy.POLICY_FILE).write_text(json.dumps({"default_mode": "observed", **extra}))


def test_default_when_unset(tmp_path: Path) -> None:
    assert policy.stale_minutes(str(tmp_path)) == policy.DEFAULT_STALE_MINUTES == 15.0
    write_policy(tmp_path)
    assert policy.stale_minutes(str(tmp_path)) == 15.0


@pytest.mark.parametrize("value", [0, 2, 2.5, 1e308])
def test_numbers_of_minutes(tmp_path: Path, value: float) -> None:
    write_policy(tmp_path, stale_lease_minutes=value)
    assert policy.stale_minutes(str(tmp_path)) == float(value)


@pytest.mark.parametrize("value", [True, False, -1, "5", None, [], math.nan])
def test_anything_else_is_refused(tmp_path: Path, value: object) -> None:
    write_policy(tmp_path, stale_lease_minutes=value)
    with pytest.raises(BadInput) as err:
        policy.stale_minutes(str(tmp_path))
    assert err.value.code == "policy_malformed" and "stale_lease_minutes" in err.value.message


def test_a_loaded_policy_is_not_read_again(tmp_path: Path) -> None:
    write_policy(tmp_path, stale_lease_minutes=3)
    loaded = policy.load(str(tmp_path))
    (tmp_path / policy.POLICY_FILE).write_text("{broken")
    assert policy.stale_minutes(str(tmp_path), loaded) == 3.0


def test_only_policy_reads_the_key() -> None:
    readers = sorted(
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "stale_lease_minutes" in p.read_text()
    )
    assert readers == ["policy.py"]


def _doctor_stale(cli: Cli) -> dict[str, str]:
    res = cli("doctor", "--json")
    return next(c for c in res.json["checks"] if c["id"] == "stale_leases")


def test_doctor_uses_the_same_window(agents: tuple[Path, Path], initialised: Path, cli: Cli) -> None:
    cli.ok("task", "add", "T1", "--id", "T1")
    lease = cli.json("lease", "acquire", "T1", "agent-a")["lease"]["id"]
    age_heartbeat(initialised, lease, 5)
    state = initialised / ".switchman"
    write_policy(state, stale_lease_minutes=2)
    c = _doctor_stale(cli)
    assert c["status"] == "warn" and lease in c["detail"] and "2+ min" in c["detail"], c
    assert cli.json("lease", "show", lease)["lease"]["stale"] is True
    # A value status and `lease reap` refuse is not a window for doctor either (true once read as
    # 1 minute there, making this 5-minute-old lease stale): doctor falls back to the default,
    # and the policy problem is reported by the commands that refuse it.
    write_policy(state, stale_lease_minutes=True)
    c = _doctor_stale(cli)
    assert c["status"] == "ok" and "window 15 min" in c["detail"], c
    res = cli("lease", "reap")
    assert res.code == 2 and "stale_lease_minutes" in res.err
