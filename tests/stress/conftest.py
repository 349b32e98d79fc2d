"""Stress harness plumbing: every test here is marked `stress`, and figures reach the summary.

Figures (latencies, timings, trial counts) are attached to the test report as user properties, so
they survive pytest-xdist, and printed in a "stress figures" section at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/stress/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.stress)


@pytest.fixture
def figures(record_property: Callable[[str, object], None]) -> Callable[[str, str], None]:
    def add(name: str, text: str) -> None:
        record_property(f"stress:{name}", text)
        print(f"[stress] {name}: {text}")

    return add


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    lines = []
    for key in ("passed", "failed", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(key, []):
            if getattr(report, "when", "call") != "call":
                continue
            for name, value in getattr(report, "user_properties", []):
                if isinstance(name, str) and name.startswith("stress:"):
                    lines.append(f"{report.nodeid.split('::')[-1]}: {name[7:]}: {value}")
    if lines:
        terminalreporter.section("stress figures")
        for line in lines:
            terminalreporter.write_line(line)
