"""Hostile input (issue 7 §3): fuzzed argv, spec JSON, policy files, globs, paths, broken stores.

The contract under attack: a bad input or a broken environment ends with exit 2 (usage / bad
input) or 3 (environment) and exactly one `error: <what> — <how to fix>` line on stderr; never a
traceback, never an "internal error", never a half-applied change (row counts unchanged, the audit
trail still verifies), never a changed user file. Fuzzing runs in-process (the same `main()` the
console script calls) so hundreds of argv lists take seconds. Sizes: 150 examples per property by
default, 1500 with SWITCHMAN_STRESS_FULL=1; glob matching 2,000 × 2,000 (full: 10,000 × 10,000).
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchman.globs.matcher import Matcher
from switchman.globs.nfa import glob_sets_overlap
from switchman.store import audit_log, sqlite_audit
from testing.cli import CONSOLE, Cli, Result
from testing.git import git, write
from testing.stress import (
    FULL,
    UserWork,
    console,
    db_file,
    one_error_line,
    size,
    swarm,
    table_counts,
    verify,
)

EXAMPLES = size(150, 1500)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not FULL,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

HOSTILE = [
    "..", "../..", "a/../../b", "/", "/etc/passwd", "/tmp", "~", "~root/x", ".", "./", ".git", ".git/config",
    ".switchman/audit.key", ".switchman", "\x00", "a\x00b", "\n", "a\nb", "\r\n", "\t", "\udcff", "caf\udce9.py",
    "é", "💥", "\u202e", "x" * 5000, "-", "--", "--json", "-p", "--id", "--agent", "--help", "-h", "-C",
    "*", "**", "**/**/**/**/**", "[", "[!]", "[z-a]", "\\", "'", '"', "$(id)", "`id`", " ", "", "-1", "0",
    "99999999999999999999999", "9223372036854775808", "-9223372036854775809", "1e999", "NaN", "T0", "T1",
    "F1", "agent-0", "agent-1", "main", "shared/f.txt", "src/**", "observed", "guarded", "strict", "warn",
    "blocked", "none", "pending", "done", "HEAD", "refs/heads/main", "@{-1}", "--all-worktrees", "-d",
]
# A small grammar per command: positional slots and options, each filled from a pool of plausible
# values; the fuzzer then swaps some of them for hostile tokens, so runs get past argument parsing
# into the code that does things, with bad values where real ones belong.
TASKS, WTS, PATHS = ["T0", "T1", "F1", "NOPE"], ["agent-0", "agent-1", "main", "nowhere"], ["area0/a.py", "area1/b.py", "shared/s.txt", "docs/x.md"]
GLOBS, NUMS, MODES = ["src/**", "docs/*.md", "area0/**", "*.py", "gen/"], ["0", "1", "7", "60", "-3"], ["observed", "guarded", "strict"]
TEXT = ["why", "a title", "x"]
GRAMMAR: dict[tuple[str, ...], tuple[list[list[str]], dict[str, list[str] | None]]] = {
    ("task", "add"): ([TEXT], {"--id": ["N1", "N2", "T0"], "-d": TEXT, "-p": NUMS, "--spec": ["SPECFILE"]}),
    ("task", "show"): ([TASKS], {}),
    ("task", "list"): ([], {"--status": ["pending", "in_progress", "done", "failed"]}),
    ("task", "spec"): ([TASKS], {"--file": ["SPECFILE"], "--json-text": ['{"allowed_paths": ["docs/**"]}'], "--allowed-path": GLOBS, "--subsystem": ["auth", "billing"], "--pipeline": ["p1"], "--task-type": ["docs", "tests"], "--require-type": ["tests"], "--validation": ["warn", "blocked", "none"]}),
    ("task", "done"): ([TASKS], {}),
    ("task", "fail"): ([TASKS, TEXT], {}),
    ("task", "retry"): ([TASKS], {"--reason": TEXT}),
    ("lease", "acquire"): ([TASKS, WTS], {"--agent": ["bot"]}),
    ("lease", "next"): ([WTS], {"--agent": ["bot"]}),
    ("lease", "show"): ([["LEASE"]], {}),
    ("lease", "heartbeat"): ([["LEASE"]], {"--agent": ["bot"]}),
    ("lease", "done"): ([["LEASE"]], {}),
    ("lease", "fail"): ([["LEASE"], TEXT], {}),
    ("lease", "reap"): ([], {"--stale-after": NUMS}),
    ("lease", "list"): ([], {"--status": ["active", "expired"]}),
    ("claim",): ([TASKS, WTS, PATHS, PATHS], {"--agent": ["bot"]}),
    ("release",): ([TASKS], {}),
    ("claims",): ([], {"--worktree": WTS}),
    ("worktree", "mode"): ([WTS, MODES], {}),
    ("worktree", "list"): ([], {}),
    ("policy", "allow"): ([GLOBS, GLOBS], {}),
    ("policy", "mode"): ([MODES], {"--all-worktrees": None}),
    ("policy", "show"): ([], {}),
    ("audit", "list"): ([], {"--event-type": ["task_created", "file_claimed"], "--status": ["allowed", "denied", "info"], "--task": TASKS, "--limit": NUMS}),
    ("audit", "export"): ([], {"--since": NUMS}),
    ("audit", "verify"): ([], {"--against": ["refs/switchman/audit-checkpoint", "HEAD"]}),
    ("audit", "prove"): ([NUMS], {}),
    ("status",): ([], {}),
    ("gate", "commit"): ([], {}),
    ("gate", "ci"): ([], {"--base": ["HEAD", "HEAD~1", "main"]}),
    ("validation", "list"): ([], {"--status": ["blocked", "satisfied"], "--pipeline": ["p1"]}),
    ("invalidations", "list"): ([], {"--status": ["stale", "revalidated", "all"]}),
}
COMMANDS = sorted(GRAMMAR)
# Commands whose refusal (exit 1) legitimately records something (a gate records its verdict).
RECORDING_ON_REFUSAL = {"gate"}

# Plausible values too, so commands get past argument parsing into the code that does things.
PLAUSIBLE = [
    "T0", "T1", "F1", "agent-0", "agent-1", "main", "area0/a.py", "area1/b.py", "shared/s.txt", "docs/*.md",
    "--json", "--agent", "bot", "-p", "7", "--status", "pending", "--allowed-path", "--subsystem", "auth",
    "--limit", "3", "--event-type", "task_created", "--reason", "why", "--stale-after", "60", "1",
]


def _argv_tokens(extra: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.sampled_from(PLAUSIBLE + extra),
        st.sampled_from(PLAUSIBLE + extra),
        st.text(max_size=40),
        st.builds(lambda a, b: a + "/" + b, st.sampled_from(HOSTILE), st.sampled_from(HOSTILE)),
    )


def _contract(res: Result, argv: list[str]) -> list[str]:
    problems = []
    if res.code not in (0, 1, 2, 3):
        problems.append(f"exit {res.code}")
    if "Traceback" in res.err or "Traceback" in res.out:
        problems.append("traceback")
    if "internal error" in res.err:
        problems.append(f"internal error: {res.err.strip()[:300]}")
    if res.code:
        bad = one_error_line(res)
        if bad and not (res.code == 1 and argv[:1] in (["gate"], ["audit"])):  # gate/verify reports
            problems.append(bad)
    return problems


@pytest.fixture
def arena(initialised: Path, cli: Cli) -> tuple[Path, Cli, list]:  # type: ignore[type-arg]
    agents = swarm(initialised, cli, 2, mode="guarded", install_hooks=False)
    cli.ok("task", "add", "free", "--id", "F1")
    for a in agents:
        write(a.path / a.area / "mine.txt", "mine\n")
    write(initialised / "untracked.txt", "user data\n")
    return initialised, cli, agents


def _user_work(root: Path, agents: list) -> dict[Path, UserWork]:  # type: ignore[type-arg]
    return {p: UserWork.of(p) for p in [root] + [a.path for a in agents]}


def _same_work(before: dict[Path, UserWork], after: dict[Path, UserWork]) -> list[str]:
    return [f"{p}: {d}" for p in before for d in before[p].diff(after[p])]


def test_fuzzed_argv_never_crashes_or_half_writes(arena, tmp_path: Path, figures) -> None:  # type: ignore[no-untyped-def]
    root, cli, agents = arena
    codes: dict[int, int] = {}
    work0 = _user_work(root, agents)
    key = sqlite_audit.read_key(str(root / ".switchman"))

    leases = [a.lease for a in agents] + ["lease-nope"]
    spec_ok = tmp_path / "spec.json"
    spec_ok.write_text('{"allowed_paths": ["docs/**"], "subsystem_tags": ["docs"]}')
    spec_bad = tmp_path / "bad.json"
    spec_bad.write_bytes(b'{"allowed_paths": [1]}')
    spec_files = [str(spec_ok), str(spec_bad), str(tmp_path / "missing.json"), str(tmp_path)]
    hostile_token = _argv_tokens(leases)

    @st.composite
    def argv_for(draw, command: tuple[str, ...]) -> list[str]:  # type: ignore[no-untyped-def]
        slots, options = GRAMMAR[command]

        def value(pool: list[str]) -> str:
            if draw(st.integers(0, 3)) == 0:
                return draw(hostile_token)
            pool = {"LEASE": leases, "SPECFILE": spec_files}.get(pool[0], pool)
            return draw(st.sampled_from(pool))

        args = [value(pool) for pool in slots[: draw(st.integers(0, len(slots)))] ] if slots else []
        if slots and draw(st.booleans()):
            args = [value(pool) for pool in slots]
        for opt in draw(st.lists(st.sampled_from(sorted(options)), max_size=3)) if options else []:
            args += [opt] if options[opt] is None else [opt, value(options[opt])]
        if draw(st.integers(0, 4)) == 0:
            args.insert(draw(st.integers(0, len(args))), draw(hostile_token))
        return list(command) + args

    @FUZZ
    @given(
        argv=st.sampled_from(COMMANDS).flatmap(argv_for),
        json_flag=st.booleans(),
    )
    def run(argv: list[str], json_flag: bool) -> None:
        command = argv[:1]
        argv = argv + (["--json"] if json_flag else [])
        before = table_counts(root)
        res = cli(*argv)
        codes[res.code] = codes.get(res.code, 0) + 1
        problems = _contract(res, argv)
        assert not problems, f"switchman-hook {argv!r}: {problems}; stderr={res.err[:500]!r}"
        if res.code in (2, 3) or (res.code == 1 and command[0] not in RECORDING_ON_REFUSAL):
            after = table_counts(root)
            changed = {t: (before[t], after[t]) for t in before if before[t] != after[t] and t not in ("audit_log", "audit_tree")}
            if res.code in (2, 3):
                changed.update({t: (before[t], after.get(t)) for t in ("audit_log",) if before[t] != after.get(t)})
            assert not changed, f"switchman-hook {argv!r} exited {res.code} but changed rows: {changed}"
        conn = sqlite3.connect(db_file(root))
        try:
            result = audit_log.verify(conn, key)
        finally:
            conn.close()
        assert result.ok, f"after {argv!r}: {result.failures[:3]}"

    run()
    assert _same_work(work0, _user_work(root, agents)) == []
    assert verify(root)["ok"] is True
    figures("argv fuzz", f"{sum(codes.values())} runs, exit codes {dict(sorted(codes.items()))}")


@pytest.mark.parametrize("argv", [["audit", "verify", "--against", "a\x00b"], ["claims", "--worktree", "/\x00"], ["lease", "next", "x/\x00"]])
def test_nul_in_path_arguments_is_bad_input(initialised: Path, cli: Cli, argv: list[str]) -> None:
    res = cli(*argv)
    assert res.code == 2 and one_error_line(res) is None, res.err


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
spec_keys = st.sampled_from(["allowed_paths", "subsystem_tags", "pipeline_id", "task_type", "validation_rules", "enforcement", "x"])
spec_like = st.dictionaries(
    spec_keys,
    st.one_of(json_values, st.lists(st.sampled_from(HOSTILE), max_size=5), st.dictionaries(st.sampled_from(["enforcement", "required_completed_task_types", "rationale"]), json_values)),
    max_size=5,
)


def test_fuzzed_spec_json_is_refused_cleanly(arena, figures) -> None:  # type: ignore[no-untyped-def]
    root, cli, agents = arena
    codes: dict[int, int] = {}

    @FUZZ
    @given(
        doc=st.one_of(spec_like.map(json.dumps), json_values.map(json.dumps), st.text(max_size=200), st.sampled_from(["[" * 5000, '{"a":' * 3000, "1e99999", "NaN", '{"allowed_paths": ["\\u0000"]}', "\ufeff{}"])),
        task=st.sampled_from(["F1", "T0"]),
    )
    def run(doc: str, task: str) -> None:
        before = table_counts(root)
        res = cli("task", "spec", task, "--json-text", doc)
        codes[res.code] = codes.get(res.code, 0) + 1
        assert not _contract(res, ["task"]), (doc[:200], res.err)
        assert res.code in (0, 1, 2), (doc[:200], res.code, res.err)
        if res.code:
            after = table_counts(root)
            changed = {t for t in before if before[t] != after[t] and t not in ("audit_log", "audit_tree")}
            assert not changed, (doc[:200], changed)
        shown = cli("task", "show", task, "--json")
        assert shown.code == 0, shown.err
        json.loads(shown.out)  # whatever was stored prints back as valid JSON

    run()
    # Put the agents' scopes back for whoever runs next.
    cli.ok("task", "spec", "T0", "--allowed-path", "area0/**")
    figures("spec fuzz", f"exit codes {dict(sorted(codes.items()))}")


def test_fuzzed_policy_file_is_reported_not_crashed(arena, figures) -> None:  # type: ignore[no-untyped-def]
    root, cli, agents = arena
    policy = root / ".switchman" / "enforcement.json"
    original = policy.read_bytes()
    codes: dict[int, int] = {}

    @FUZZ
    @given(
        data=st.one_of(
            st.binary(max_size=200),
            json_values.map(lambda v: json.dumps(v).encode()),
            st.dictionaries(st.sampled_from(["default_mode", "allowed_generated_paths", "stale_lease_minutes", "x"]), json_values).map(lambda v: json.dumps(v).encode()),
            st.sampled_from([b"", b"{", b"\xff\xfe{}", b'{"default_mode": "strict"', b'{"allowed_generated_paths": ["[z-a]"]}', b'{"stale_lease_minutes": -1}', b'{"stale_lease_minutes": 1e308}']),
        ),
        command=st.sampled_from([["policy", "show"], ["status"], ["claims"], ["policy", "allow", "gen/**"], ["lease", "heartbeat", "nope"], ["lease", "reap"], ["gate", "commit"]]),
    )
    def run(data: bytes, command: list[str]) -> None:
        policy.write_bytes(data)
        res = cli(*command, cwd=agents[0].path)
        codes[res.code] = codes.get(res.code, 0) + 1
        assert not _contract(res, command), (data[:100], command, res.err)

    try:
        run()
    finally:
        policy.write_bytes(original)
    assert verify(root)["ok"] is True
    figures("policy fuzz", f"exit codes {dict(sorted(codes.items()))}")


def test_policy_file_not_utf8_names_the_file(initialised: Path, cli: Cli) -> None:
    (initialised / ".switchman" / "enforcement.json").write_bytes(b'{"default_mode": "\xff"}')
    res = cli("policy", "show")
    assert res.code in (2, 3) and one_error_line(res) is None, res.err
    assert "enforcement.json" in res.err


glob_piece = st.sampled_from(["*", "**", "?", "[a-z]", "[!x]", "[", "]", "\\", "/", "..", ".", "a", "b", "{a,b}", " ", "!", "#", "src", "**/", "/**", "***"])


def test_fuzzed_globs_are_validated_and_bounded(arena, figures) -> None:  # type: ignore[no-untyped-def]
    root, cli, agents = arena
    slowest = [0.0, ""]

    @FUZZ
    @given(patterns=st.lists(st.lists(glob_piece, min_size=1, max_size=12).map("".join), min_size=1, max_size=4))
    def run(patterns: list[str]) -> None:
        args = [a for p in patterns for a in ("--allowed-path", p)]
        t0 = time.perf_counter()
        res = cli("task", "spec", "F1", *args)
        took = time.perf_counter() - t0
        if took > slowest[0]:
            slowest[:] = [took, repr(patterns)]
        assert not _contract(res, ["task"]), (patterns, res.err)
        assert res.code in (0, 2), (patterns, res.code, res.err)
        if res.code == 0:
            Matcher(patterns).match("a/b/c.py")

    run()
    figures("glob fuzz", f"slowest `task spec` {slowest[0] * 1000:.0f}ms for {slowest[1][:120]}")


def test_glob_matching_stays_bounded(figures) -> None:  # type: ignore[no-untyped-def]
    n = size(2000, 10000)
    patterns = [f"src/m{i}/**/*.py" if i % 3 == 0 else (f"**/f{i}.*" if i % 3 == 1 else f"docs/{i}/*.md") for i in range(n)]
    paths = [f"src/m{i % 977}/deep/er/f{i}.py" for i in range(n)]
    matcher = Matcher(patterns)
    t0 = time.perf_counter()
    hits = sum(1 for p in paths if matcher.match(p))
    took = time.perf_counter() - t0
    figures("glob matching", f"{n} patterns x {n} paths: {took:.2f}s ({hits} hits)")
    assert hits > 0

    # Pathological shapes: repeated ** against deep paths, near-miss segments.
    evil = ["/".join(["**"] * k) + "/x" for k in range(1, 30)] + ["*" * 50 + "b", "**/" * 40 + "*a*a*a*a*a*a*a*a*b"]
    deep = ["/".join(["a"] * 60) + "/y", "a" * 200, "/".join(["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] * 40)]
    t0 = time.perf_counter()
    m = Matcher(evil)
    assert not any(m.match(p) for p in deep)
    took = time.perf_counter() - t0
    figures("pathological globs", f"{len(evil)} patterns x {len(deep)} deep paths: {took * 1000:.0f}ms")
    assert took < 30, "catastrophic backtracking in the glob matcher"

    k = size(300, 1000)
    a = [f"area{i}/**/*.py" for i in range(k)]
    b = [f"zone{i}/**" for i in range(k)]
    t0 = time.perf_counter()
    assert glob_sets_overlap(a, b) == []
    figures("scope overlap", f"{k} x {k} globs: {time.perf_counter() - t0:.2f}s")


def test_huge_scope_lists_through_the_cli(arena, figures) -> None:  # type: ignore[no-untyped-def]
    root, cli, agents = arena
    n = size(500, 5000)
    doc = json.dumps({"allowed_paths": [f"big{i}/**/*.py" for i in range(n)]})
    t0 = time.perf_counter()
    cli.ok("task", "spec", "F1", "--json-text", doc)
    spec_s = time.perf_counter() - t0
    cli.ok("task", "add", "other", "--id", "F2")
    cli.ok("task", "spec", "F2", "--json-text", json.dumps({"allowed_paths": [f"huge{i}/*" for i in range(n)]}))
    t0 = time.perf_counter()
    cli.ok("lease", "acquire", "F1", "main")
    res = cli("lease", "acquire", "F2", "agent-0")  # agent-0 already leases T0: a clean refusal
    lease_s = time.perf_counter() - t0
    assert not _contract(res, ["lease"]), res.err
    figures("huge scopes", f"{n} globs: spec {spec_s:.2f}s, two lease acquires with overlap checks {lease_s:.2f}s")


HOSTILE_PATHS = [
    ("..", 2), ("../outside.txt", 2), ("a/../../b", 2), ("/etc/passwd", 2), (".git/config", 2),
    (".switchman/audit.key", 2), ("a\x00b", 2), ("", 2), ("a\nb.txt", 0), ("caf\udce9.py", 0),
    ("x" * 5000, None), ("dir/" + "y" * 300, None), ("escape/x.txt", 2), ("escape/", None), ("escape", 0), ("./ok.txt", 0),
]


@pytest.mark.parametrize(("path", "expected"), HOSTILE_PATHS, ids=[repr(p)[:24] for p, _ in HOSTILE_PATHS])
def test_hostile_paths_for_claims(arena, tmp_path: Path, path: str, expected: int | None) -> None:  # type: ignore[no-untyped-def]
    root, cli, agents = arena
    a = agents[0]
    outside = tmp_path / "outside"
    outside.mkdir()
    (a.path / "escape").symlink_to(outside, target_is_directory=True)
    before_rows = table_counts(root)
    before = _user_work(root, agents)
    res = cli("claim", a.task, a.name, path)
    assert not _contract(res, ["claim"]), res.err
    if expected is not None:
        assert res.code == expected, (res.code, res.err)
    else:
        assert res.code in (0, 2), (res.code, res.err)
    if res.code:
        assert table_counts(root) == before_rows
    assert _same_work(before, _user_work(root, agents)) == []
    assert list(outside.iterdir()) == []


def test_spec_file_that_never_ends_is_refused(arena, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A directory, a missing file, a huge or binary file: one error line, exit 2."""
    root, cli, agents = arena
    huge = tmp_path / "huge.json"
    huge.write_bytes(b"[" + b"1," * 2_000_000 + b"1]")
    binary = tmp_path / "bin.json"
    binary.write_bytes(os.urandom(4096))
    for source in (str(tmp_path), str(tmp_path / "missing.json"), str(binary), str(huge)):
        res = cli("task", "add", "x", "--spec", source)
        assert not _contract(res, ["task"]), (source, res.err)
        assert res.code == 2, (source, res.code, res.err)


def test_spec_file_from_an_endless_device(initialised: Path) -> None:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))

    proc = subprocess.run(
        [CONSOLE, "-C", str(initialised), "task", "add", "x", "--spec", "/dev/zero"],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
    )
    res = Result(proc.returncode, proc.stdout, proc.stderr)
    assert res.code == 2 and one_error_line(res) is None, res.err


# --- broken stores -----------------------------------------------------------------------------


def _truncate_half(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2)


def _header(db: Path) -> None:
    with open(db, "r+b") as fh:
        fh.write(b"this is not sqlite")


def _as_directory(db: Path) -> None:
    db.unlink()
    db.mkdir()


def _garbage_wal(db: Path) -> None:
    # A stray WAL that is not one: SQLite must ignore or refuse it, never apply it.
    Path(str(db) + "-wal").write_bytes(os.urandom(8192))


CORRUPTIONS = {
    "truncated-half": _truncate_half,
    "truncated-100": lambda db: os.truncate(db, 100),
    "bad-header": _header,
    "directory": _as_directory,
    "garbage-wal": _garbage_wal,
}
STORE_COMMANDS = [["status"], ["task", "list"], ["task", "add", "x"], ["claim", "T0", "agent-0", "area0/a.py"], ["audit", "verify"], ["lease", "heartbeat", "nope"], ["gate", "commit"]]


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_database_one_line_exit_3(arena, corruption: str) -> None:  # type: ignore[no-untyped-def]
    root, cli, agents = arena
    db = db_file(root)
    before = _user_work(root, agents)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no page of the file shadowed by the WAL
    conn.close()
    CORRUPTIONS[corruption](db)
    for command in STORE_COMMANDS:
        res = console("-C", str(agents[0].path), *command)
        assert not _contract(res, command), (command, res.err)
        if corruption != "garbage-wal":
            assert res.code == 3, (command, res.code, res.err)
    # The commit hook refuses in guarded mode with one line, and the user's work is untouched.
    write(agents[0].path / "area0" / "c.txt", "c\n")
    git(agents[0].path, "add", "area0/c.txt")
    staged = _user_work(root, agents)
    install = console("-C", str(root), "hooks", "install")
    proc = subprocess.run(["git", "commit", "-q", "-m", "c"], cwd=agents[0].path, capture_output=True, text=True)
    if corruption != "garbage-wal":
        assert proc.returncode == 1, (install.err, proc.stderr)
        assert [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")], proc.stderr
    assert "Traceback" not in proc.stderr
    after = _user_work(root, agents)
    for p in before:
        assert staged[p].diff(after[p]) == [], (p, staged[p].diff(after[p]))


def test_zero_length_database_is_not_silently_recreated(arena) -> None:  # type: ignore[no-untyped-def]
    root, cli, agents = arena
    os.truncate(db_file(root), 0)
    res = console("-C", str(root), "status")
    assert res.code == 3 and one_error_line(res) is None, (res.code, res.err)
    assert db_file(root).stat().st_size == 0


def _corrupt_root_page(db: Path, table: str) -> None:
    conn = sqlite3.connect(db)
    try:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page)
        fh.write(b"\xff" * 8)


def test_corrupt_table_page_is_a_store_error(arena) -> None:  # type: ignore[no-untyped-def]
    root, cli, agents = arena
    _corrupt_root_page(db_file(root), "worktrees")
    res = console("-C", str(root), "status")
    assert res.code == 3 and one_error_line(res) is None, res.err


def test_corrupt_schema_with_undecodable_name_is_a_store_error(arena) -> None:  # type: ignore[no-untyped-def]
    root, cli, agents = arena
    conn = sqlite3.connect(db_file(root), isolation_level=None)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET name = CAST(X'61ff62' AS TEXT), sql = 'CREATE TABLE broken(' WHERE name = 'code_objects'")
    conn.close()
    res = console("-C", str(root), "status")
    assert res.code == 3 and one_error_line(res) is None, res.err


@pytest.fixture
def immutable():  # type: ignore[no-untyped-def]
    """`chattr +i`: read-only even for root (who ignores file modes); always undone."""
    marked: list[Path] = []

    def mark(*paths: Path) -> None:
        for p in paths:
            subprocess.run(["chattr", "+i", str(p)], check=True, capture_output=True)
            marked.append(p)

    yield mark
    for p in reversed(marked):
        subprocess.run(["chattr", "-i", str(p)], capture_output=True)


def _chattr_works(tmp_path: Path) -> bool:
    probe = tmp_path / "chattr-probe"
    probe.write_text("x")
    ok = subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
    return ok


@pytest.mark.parametrize("what", ["state-dir", "db-file"])
def test_read_only_store(arena, immutable, tmp_path: Path, what: str) -> None:  # type: ignore[no-untyped-def]
    """Root ignores permission bits, so the state is made immutable (chattr +i) instead."""
    if not _chattr_works(tmp_path):
        pytest.skip("chattr +i is not available here (needs CAP_LINUX_IMMUTABLE and ext4/xfs/btrfs)")
    root, cli, agents = arena
    state = root / ".switchman"
    counts = table_counts(root)
    if what == "state-dir":
        immutable(*sorted(state.iterdir()), state)
    else:
        immutable(state / "switchman.db")
    for command in (["task", "add", "x"], ["claim", "T0", "agent-0", "area0/b.py"], ["lease", "heartbeat", agents[0].lease], ["status"]):
        res = console("-C", str(root), *command)
        assert not _contract(res, command), (command, res.err)
        if command[0] != "status":  # reads may still work (WAL index files already there)
            assert res.code == 3, (command, res.code, res.err)
    write(agents[0].path / "area0" / "ro.txt", "ro\n")
    git(agents[0].path, "add", "area0/ro.txt")
    console("-C", str(root), "hooks", "install")
    proc = subprocess.run(["git", "commit", "-q", "-m", "ro"], cwd=agents[0].path, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr  # guarded: fails closed
    assert "Traceback" not in proc.stderr
    subprocess.run(["chattr", "-i", str(state)], capture_output=True)
    for p in state.iterdir():
        subprocess.run(["chattr", "-i", str(p)], capture_output=True)
    assert table_counts(root) == counts
    assert verify(root)["ok"] is True


def test_disk_full(arena, figures) -> None:  # type: ignore[no-untyped-def]
    """No mount here, so a full disk is RLIMIT_FSIZE: no file may grow past the limit (EFBIG).

    The limit leaves room for SQLite's 32 KiB -shm file and the existing files, so the store opens
    and only the growth a write needs fails, as on a full disk. (`PRAGMA max_page_count` would
    need a hook in Store.open: it is per connection, not stored in the file.)
    """
    root, cli, agents = arena
    db = db_file(root)
    limit = 32768 + 8192
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every write must grow the WAL past the limit
    conn.close()
    counts = table_counts(root)

    def full() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    results = []
    for command in (["task", "add", "y" * 100_000], ["task", "spec", "F1", "--json-text", json.dumps({"x": "z" * 100_000})], ["claim", "T0", "agent-0", *[f"area0/{i}" * 20 for i in range(300)]]):
        proc = subprocess.run([CONSOLE, "-C", str(root), *command], capture_output=True, text=True, preexec_fn=full)
        res = Result(proc.returncode, proc.stdout, proc.stderr)
        results.append(res.err.strip()[:160])
        assert not _contract(res, command[:1]), (command[:2], res.err)
        assert res.code == 3, (command[:2], res.code, res.err)
    assert table_counts(root) == counts, "a failed write left rows behind"
    assert db.exists()
    write(agents[0].path / "area0" / "full.txt", "x" * 200_000)
    git(agents[0].path, "add", "area0/full.txt")
    console("-C", str(root), "hooks", "install")
    staged = UserWork.of(agents[0].path)
    proc = subprocess.run(["git", "commit", "-q", "-m", "full"], cwd=agents[0].path, capture_output=True, text=True, preexec_fn=full)
    assert "Traceback" not in proc.stderr
    assert UserWork.of(agents[0].path).diff(staged) == []
    assert verify(root)["ok"] is True
    figures("disk full", f"limit {limit} bytes; errors: {results[0]}")


def test_read_only_state_dir_error_does_not_advise_discarding_the_store(arena, immutable, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not _chattr_works(tmp_path):
        pytest.skip("chattr +i is not available here")
    root, cli, agents = arena
    state = root / ".switchman"
    conn = sqlite3.connect(db_file(root), isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db_file(root)) + suffix).unlink(missing_ok=True)
    immutable(*sorted(state.iterdir()), state)
    res = console("-C", str(root), "task", "add", "x")
    assert res.code == 3 and one_error_line(res) is None, res.err
    assert "move it aside" not in res.err and "init" not in res.err, res.err
