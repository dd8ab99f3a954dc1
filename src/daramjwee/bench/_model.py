"""What a benchmark run produces: cases with their samples, ratios with goals, and their renderings (pure)."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Case", "Ratio", "ScenarioResult", "markdown"]

HIGHER_IS_BETTER = frozenset({"MiB/s", "req/s", "ops/s"})


@dataclasses.dataclass
class Case:
    """One way of doing a thing; ``run()`` measures it once and returns one sample in ``unit``.

    ``unit`` is ``"ns/op"`` (lower is better) or a rate such as ``"MiB/s"``
    (higher is better); ``best`` is the best sample, ``median`` the median.
    """

    name: str
    description: str
    unit: str
    run: Callable[[], float]
    samples: list[float] = dataclasses.field(default_factory=list)

    @property
    def higher_is_better(self) -> bool:
        return self.unit in HIGHER_IS_BETTER

    @property
    def best(self) -> float:
        return max(self.samples) if self.higher_is_better else min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "unit": self.unit,
            "best": self.best,
            "median": self.median,
            "samples": list(self.samples),
        }


@dataclasses.dataclass(frozen=True)
class Ratio:
    """``numerator``'s best over ``denominator``'s best; ``goal`` is an upper bound (``at_most``) or a lower one."""

    name: str
    numerator: str
    denominator: str
    goal: float | None = None
    at_most: bool = True

    def value(self, cases: Mapping[str, Case]) -> float:
        return cases[self.numerator].best / cases[self.denominator].best

    def verdict(self, cases: Mapping[str, Case]) -> str:
        if self.goal is None:
            return "info"
        value = self.value(cases)
        return "PASS" if (value <= self.goal if self.at_most else value >= self.goal) else "FAIL"


@dataclasses.dataclass
class ScenarioResult:
    """The cases and ratios of one scenario after a run."""

    name: str
    title: str
    cases: list[Case]
    ratios: list[Ratio]

    @property
    def by_name(self) -> dict[str, Case]:
        return {case.name: case for case in self.cases}

    def to_json(self) -> dict[str, Any]:
        cases = self.by_name
        return {
            "title": self.title,
            "cases": {case.name: case.to_json() for case in self.cases},
            "ratios": {
                ratio.name: {
                    "value": ratio.value(cases),
                    "goal": ratio.goal,
                    "at_most": ratio.at_most,
                    "verdict": ratio.verdict(cases),
                }
                for ratio in self.ratios
            },
        }


def markdown(results: list[ScenarioResult], machine: Mapping[str, Any]) -> str:
    """A report people read at a glance: the machine, then per scenario a table of cases and one of ratios."""
    lines = ["# daramjwee benchmark report", ""]
    lines += [f"- **{key}**: {value}" for key, value in machine.items()]
    for result in results:
        cases = result.by_name
        lines += ["", f"## {result.title} (`{result.name}`)", ""]
        lines += ["| case | best | median | unit | samples | what |", "|---|---:|---:|---|---:|---|"]
        for case in result.cases:
            lines.append(
                f"| {case.name} | {_number(case.best)} | {_number(case.median)} | {case.unit} | {len(case.samples)} "
                f"| {case.description} |"
            )
        if result.ratios:
            lines += ["", "| ratio | value | goal | verdict |", "|---|---:|---:|---|"]
            for ratio in result.ratios:
                goal = "" if ratio.goal is None else f"{'≤' if ratio.at_most else '≥'} {ratio.goal:g}"
                lines.append(f"| {ratio.name} | {ratio.value(cases):.2f} | {goal} | {ratio.verdict(cases)} |")
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    """Thousands separators for large values; three significant digits for small ones (seconds, ratios)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
