"""What a benchmark run produces: cases with their samples, ratios with goals, and their renderings (pure)."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Mapping
from typing import Any, Literal

__all__ = ["Case", "Ratio", "ScenarioResult", "markdown"]

HIGHER_IS_BETTER = frozenset({"MiB/s", "req/s", "ops/s", "hit %"})


@dataclasses.dataclass
class Case:
    """One way of doing a thing; ``run()`` measures it once and returns one sample in ``unit``.

    ``unit`` is ``"ns/op"`` (lower is better) or a rate such as ``"MiB/s"``
    (higher is better); ``best`` is the most favourable sample, ``worst`` the
    least, ``median`` the median.
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
    def worst(self) -> float:
        return min(self.samples) if self.higher_is_better else max(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "unit": self.unit,
            "best": self.best,
            "median": self.median,
            "worst": self.worst,
            "samples": list(self.samples),
        }


@dataclasses.dataclass(frozen=True)
class Ratio:
    """``numerator`` over ``denominator``, each at its best sample; ``goal`` bounds it above (``at_most``) or below.

    ``of="worst"`` takes both cases at their worst sample instead: for a
    property that must hold on every run, such as one origin fetch per stampede.
    """

    name: str
    numerator: str
    denominator: str
    goal: float | None = None
    at_most: bool = True
    of: Literal["best", "worst"] = "best"

    def value(self, cases: Mapping[str, Case]) -> float:
        numerator, denominator = cases[self.numerator], cases[self.denominator]
        if self.of == "worst":
            return numerator.worst / denominator.worst
        return numerator.best / denominator.best

    def verdict(self, cases: Mapping[str, Case]) -> str:
        if self.goal is None:
            return "info"
        value = self.value(cases)
        return "PASS" if (value <= self.goal if self.at_most else value >= self.goal) else "FAIL"


@dataclasses.dataclass
class ScenarioResult:
    """The cases and ratios of one scenario after a run; ``error`` says why it failed (then it has none)."""

    name: str
    title: str
    cases: list[Case]
    ratios: list[Ratio]
    error: str | None = None

    @property
    def by_name(self) -> dict[str, Case]:
        return {case.name: case for case in self.cases}

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"title": self.title, "error": self.error, "cases": {}, "ratios": {}}
        cases = self.by_name
        return {
            "title": self.title,
            "cases": {case.name: case.to_json() for case in self.cases},
            "ratios": {
                ratio.name: {
                    "value": ratio.value(cases),
                    "goal": ratio.goal,
                    "at_most": ratio.at_most,
                    "of": ratio.of,
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
        if result.error is not None:
            lines.append(f"**Failed:** {result.error}")
            continue
        lines += ["| case | best | median | worst | unit | samples | what |", "|---|---:|---:|---:|---|---:|---|"]
        for case in result.cases:
            lines.append(
                f"| {case.name} | {_number(case.best)} | {_number(case.median)} | {_number(case.worst)} | {case.unit} "
                f"| {len(case.samples)} | {case.description} |"
            )
        if result.ratios:
            lines += ["", "| ratio | of | value | goal | verdict |", "|---|---|---:|---:|---|"]
            for ratio in result.ratios:
                goal = "" if ratio.goal is None else f"{'≤' if ratio.at_most else '≥'} {ratio.goal:g}"
                lines.append(
                    f"| {ratio.name} | {ratio.of} | {ratio.value(cases):.2f} | {goal} | {ratio.verdict(cases)} |"
                )
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    """Thousands separators for large values; three significant digits for small ones (seconds, ratios)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
