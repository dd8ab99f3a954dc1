"""``daramjwee bench``: the benchmark suite (docs/benchmarks.md) as a product feature.

Scenarios compare daramjwee with what its users would otherwise pick, side by
side in one run; the report is JSON, a markdown table and PNG plots, with the
machine and library versions recorded.  Needs the ``bench`` extra.
"""

from ._model import Case, Ratio, ScenarioResult, markdown
from ._runner import machine, measure, run_scenarios, unavailable, write_report
from .scenarios import SCENARIOS, Options, Scenario

__all__ = [
    "SCENARIOS",
    "Case",
    "Options",
    "Ratio",
    "Scenario",
    "ScenarioResult",
    "machine",
    "markdown",
    "measure",
    "run_scenarios",
    "unavailable",
    "write_report",
]
