"""The README's tables are the code's tables (after sqlite-utils' test_docs.py).

Every CLI command, doctor check id, reason code and `audit verify` failure code that the code
knows is in the README, and the README names none the code does not know.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
CODE = re.compile(r"`([a-z][a-z0-9_ -]*[a-z0-9])`")


def section(title: str) -> str:
    """The README text from heading `title` to the next heading of the same or higher level."""
    m = re.search(rf"^(#+) {re.escape(title)}\s*$", README, re.M)
    assert m, f"README has no section {title!r}"
    level = len(m.group(1))
    rest = README[m.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def first_column(text: str, header: str) -> set[str]:
    """Backticked names in the first column of the markdown table whose header starts `header`."""
    names: set[str] = set()
    in_table = False
    for line in text.splitlines():
        if line.startswith(f"| {header} |"):
            in_table = True
            continue
        if in_table:
            if not line.startswith("|"):
                break
            cell = line.split("|")[1]
            names.update(CODE.findall(cell))
    assert names, f"no table with a '{header}' column"
    return names


def cli_commands() -> set[str]:
    from switchman.cli import cli

    found: set[str] = set()

    def walk(cmd: click.Command, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                if not sub.hidden:
                    walk(sub, [*path, name])
        else:
            found.add(" ".join(path))

    walk(cli, [])
    return found


def test_every_command_is_in_the_readme_table_and_only_those() -> None:
    documented = first_column(section("Command line, JSON and exit codes"), "command")
    assert documented == cli_commands()


def test_every_doctor_check_is_in_the_readme_and_only_those() -> None:
    from switchman.doctor.checks import CHECK_IDS

    documented = first_column(section("Is it protecting my repo? `doctor`"), "check")
    assert documented == set(CHECK_IDS)


def test_every_reason_code_is_in_the_readme_and_only_those() -> None:
    from switchman.reasons import REASONS

    assert first_column(section("Reason codes"), "code") == set(REASONS)


def test_every_verify_failure_code_is_in_the_readme_and_only_those() -> None:
    from switchman.audit import FAILURE_CODES

    text = section("Reason codes")
    m = re.search(r"`audit verify` failure codes: (.*?)\.\n", text, re.S)
    assert m, "README's Reason codes section lists no audit verify failure codes"
    codes = {c for c in CODE.findall(m.group(1)) if re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", c)}
    assert codes == set(FAILURE_CODES)


@pytest.mark.parametrize("table", ["command", "check", "code"])
def test_the_table_parser_sees_rows(table: str) -> None:
    """A renamed header would make the comparisons above vacuous; they must read real rows."""
    where = {
        "command": "Command line, JSON and exit codes",
        "check": "Is it protecting my repo? `doctor`",
        "code": "Reason codes",
    }[table]
    assert len(first_column(section(where), table)) >= 10
