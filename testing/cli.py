"""The CLI as tests drive it: in-process (`Cli`) or the installed console script (`run_cli`), and
the shape every error must have (one `error: ` line, JSON on stdout with `--json`)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .env import BIN

CONSOLE = str(BIN / "switchman-hook")


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.out)


def run_cli(*args: str, cwd: Path | str | None = None, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """The installed console script in a subprocess: what agents and other tools really run."""
    proc = subprocess.run(
        [CONSOLE, *args], cwd=cwd, capture_output=True, text=True, input=input, env={**os.environ, **(env or {})}
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


class Cli:
    """`switchman-hook -C <repo> ...` in-process (fast) with the same exit-code mapping as the script."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, cwd: Path | str | None = None, input: str | None = None) -> Result:
        from click.testing import CliRunner

        from switchman.cli import main

        runner = CliRunner()
        argv = ["-C", str(cwd or self.root), *args]
        code_box: list[int] = []

        def invoke() -> None:
            code_box.append(main(argv))

        with runner.isolation(input=input) as (out, err, *_):
            invoke()
            stdout = out.getvalue().decode(errors="surrogateescape")
            stderr = err.getvalue().decode(errors="surrogateescape") if err else ""
        return Result(code_box[0], stdout, stderr)

    def ok(self, *args: str, **kw: object) -> Result:
        res = self(*args, **kw)  # type: ignore[arg-type]
        assert res.code == 0, f"switchman-hook {' '.join(args)} exited {res.code}: {res.err}{res.out}"
        return res

    def json(self, *args: str, **kw: object):  # type: ignore[no-untyped-def]
        return self.ok(*args, "--json", **kw).json  # type: ignore[arg-type]


def assert_error(res: Result, code: int, *needles: str) -> str:
    """An error: the exit code, exactly one `error: ` line on stderr, no traceback."""
    assert res.code == code, f"exit {res.code} (wanted {code}): {res.err}{res.out}"
    assert "Traceback" not in res.err
    lines = res.err.splitlines()
    assert len(lines) == 1, f"stderr is not one line: {res.err!r}"
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def json_error(res: Result, code: int, error_code: str | None = None) -> dict[str, Any]:
    """`--json` error: one line on stderr and exactly one JSON document on stdout."""
    assert_error(res, code)
    doc = json.loads(res.out)
    assert doc["ok"] is False
    if error_code is not None:
        assert doc["error"]["code"] == error_code, doc
    return doc["error"]
