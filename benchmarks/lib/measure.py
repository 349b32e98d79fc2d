"""Interleaved A/B rounds, statistics and the result of a case."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def interleave(variants: dict[str, Callable[[int], float]], runs: int, warmup: int) -> dict[str, list[float]]:
    """Each round runs every variant once, the order rotating; warm-up rounds are discarded."""
    names = list(variants)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + runs):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            ms = variants[name](r)
            if r >= warmup:
                times[name].append(ms)
    return times


def stats(samples: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


@dataclass
class Result:
    name: str
    params: dict[str, Any]
    samples: dict[str, list[float]]
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (A, B): ratio B/A
    unit: str = "ms"
    target: str = ""
    figure: str = ""
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)

    def med(self, variant: str) -> float:
        return statistics.median(self.samples[variant])

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params,
            "unit": self.unit,
            "variants": {k: {**stats(v), "samples": [round(x, 3) for x in v]} for k, v in self.samples.items()},
            "pairs": [
                {"a": a, "b": b, "ratio": self.med(b) / self.med(a), "delta": self.med(b) - self.med(a)} for a, b in self.pairs
            ],
            "target": self.target,
            "figure": self.figure,
            "met": self.met,
            "extra": self.extra,
            "load": {"before": self.load[0], "after": self.load[1]},
        }


# --- cases ------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    cache: Path
    runs: int
    warmup: int
    results: dict[str, Result] = field(default_factory=dict)
    baseline: Path | None = None  # --baseline-src: a hooks dir whose pre-commit runs that tree


def label(files: int) -> str:
    return f"{files // 1000}k" if files < 1_000_000 else f"{files // 1_000_000}m"
