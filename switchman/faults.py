"""Env-controlled fault points for the crash-injection harness (tests/stress/).

`SWITCHMAN_FAULT` is read once, when this module is imported. Unset (always, outside the tests)
`ACTIVE` is None and a call site costs one attribute check and nothing else:

    if faults.ACTIVE:
        faults.hit("store.before_commit")

A fault kills the process the way `kill -9` does (SIGKILL to itself: no finally blocks, no atexit,
no flush, no rollback), so the harness sees exactly what a crashed agent leaves behind.

`SWITCHMAN_FAULT` is a comma-separated list of rules `POINT[@N][~P]`:
  POINT  a fault point name or an fnmatch pattern (`store.*`, `*`)
  @N     kill on the Nth hit of a matching point in this process (default 1)
  ~P     kill at each matching hit with probability P instead, drawn from a generator seeded with
         `SWITCHMAN_FAULT_SEED` (default 0) so a failing trial can be replayed
`SWITCHMAN_FAULT_LOG=FILE` appends `proc PID ARGV` once per process, `hit PID POINT` for every hit
and `kill PID POINT N` just before the kill, so the harness knows how far each process got and
where it died.

Fault points (grep for `faults.hit`):
  store.begin          switchman/store/sqlite.py  `_write`: BEGIN IMMEDIATE succeeded, fn not run
  store.execute        switchman/store/sqlite.py  `Tx.execute`: after each statement, mid-transaction
  store.audit          switchman/store/sqlite.py  `Tx.audit`: after an audit row was appended
  store.before_commit  switchman/store/sqlite.py  `_write`: fn(tx) returned, COMMIT not yet run
  store.after_commit   switchman/store/sqlite.py  `_write`: committed, after_commit (checkpoint) not run
  install.tmp_written  switchman/install.py  `_atomic_write`: temp file complete, not yet renamed
  install.replaced     switchman/install.py  `_atomic_write`: renamed into place (before the next hook)
  install.kept_aside   switchman/install.py  `_keep_aside`: foreign hook hard-linked to .switchman-orig
  checkpoint.read_key  switchman/checkpoint/keys.py  `read_signer`: about to open the private key

A rule ending in `!raise` (`checkpoint.read_key!raise`) raises PermissionError at the point
instead of killing: a fault the tool must report (an unreadable key), not a crash.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# Only `os` and `sys` at import (both already loaded): everything else is imported when a fault
# plan exists, so a normal run pays nothing for this module beyond reading one variable.

ENV = "SWITCHMAN_FAULT"
SEED_ENV = "SWITCHMAN_FAULT_SEED"
LOG_ENV = "SWITCHMAN_FAULT_LOG"

POINTS = (
    "store.begin",
    "store.execute",
    "store.audit",
    "store.before_commit",
    "store.after_commit",
    "install.tmp_written",
    "install.replaced",
    "install.kept_aside",
    "checkpoint.read_key",
)


class Rule:
    __slots__ = ("pattern", "nth", "probability", "hits", "raises")

    def __init__(self, pattern: str, nth: int = 1, probability: float | None = None, raises: bool = False) -> None:
        self.raises = raises
        self.pattern = pattern
        self.nth = nth
        self.probability = probability
        self.hits = 0


class Plan:
    __slots__ = ("rules", "rng", "log", "introduced")

    def __init__(self, rules: list[Rule], rng: Any, log: str | None) -> None:
        self.rules = rules
        self.rng = rng
        self.log = log
        self.introduced = False


def parse(text: str, seed: str = "0", log: str | None = None) -> Plan | None:
    """The plan for a `SWITCHMAN_FAULT` value; None when it names no rule."""
    rules: list[Rule] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        probability: float | None = None
        nth = 1
        raises = item.endswith("!raise")
        item = item.removesuffix("!raise")
        if "~" in item:
            item, _, p = item.partition("~")
            probability = float(p)
        if "@" in item:
            item, _, n = item.partition("@")
            nth = max(1, int(n))
        rules.append(Rule(item, nth, probability, raises))
    if not rules:
        return None
    import random

    return Plan(rules, random.Random(seed), log)


def _load() -> Plan | None:
    text = os.environ.get(ENV)
    if not text:
        return None
    try:
        return parse(text, os.environ.get(SEED_ENV, "0"), os.environ.get(LOG_ENV) or None)
    except ValueError:
        return None  # a malformed test setting never breaks the tool


ACTIVE: Plan | None = _load()


def reload() -> None:
    """Read SWITCHMAN_FAULT again (a warm helper's child takes its client's environment)."""
    global ACTIVE
    ACTIVE = _load()


def _note(plan: Plan, line: str) -> None:
    if plan.log is None:
        return
    try:
        fd = os.open(plan.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(fd, (line + "\n").encode("utf-8", "replace"))
    finally:
        os.close(fd)


def hit(name: str) -> None:
    """A fault point was reached: count it and, if a rule says so, die like `kill -9`."""
    plan = ACTIVE
    if plan is None:
        return
    import fnmatch
    import signal

    pid = os.getpid()
    if not plan.introduced:  # who this process is (a hook's argv names the hook)
        plan.introduced = True
        _note(plan, f"proc {pid} " + " ".join(a.replace("\n", " ") for a in sys.argv[:3]))
    _note(plan, f"hit {pid} {name}")
    for rule in plan.rules:
        if not fnmatch.fnmatchcase(name, rule.pattern):
            continue
        rule.hits += 1
        if rule.probability is not None:
            fire = plan.rng.random() < rule.probability
        else:
            fire = rule.hits == rule.nth
        if fire and rule.raises:
            _note(plan, f"raise {pid} {name} {rule.hits}")
            raise PermissionError(13, f"fault injected at {name}")
        if fire:
            _note(plan, f"kill {pid} {name} {rule.hits}")
            os.kill(pid, signal.SIGKILL)
