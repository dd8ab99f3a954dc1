"""``daramjwee bench`` on the terminal: a rich progress bar per scenario, then the report's paths and verdicts."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._runner import run_scenarios, write_report
from .scenarios import SCENARIOS, Options

__all__ = ["run_bench"]


def run_bench(names: Sequence[str], *, listing: bool, quick: bool, rounds: int | None, out: str) -> int:
    """Run the scenarios ``names`` (all when empty) and write the report to ``out``; the exit code."""
    console = Console()
    if listing:
        for name, scenario in SCENARIOS.items():
            console.print(f"{name:<14} {scenario.title}")
        return 0
    selected = list(names) or list(SCENARIOS)
    unknown = [name for name in selected if name not in SCENARIOS]
    if unknown:
        console.print(f"[red]unknown scenario {unknown[0]!r}[/red]; known: {', '.join(SCENARIOS)}")
        return 2
    options = Options.quick() if quick else Options()
    if rounds is not None:
        options = dataclasses.replace(options, rounds=rounds)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, int] = {}

        def report(scenario: str, done: int, total: int) -> None:
            if scenario not in tasks:
                tasks[scenario] = int(progress.add_task(scenario, total=total))
            progress.update(tasks[scenario], completed=done)  # type: ignore[arg-type]

        results = run_scenarios(selected, options, report)
    written = write_report(results, Path(out))
    table = Table("scenario", "ratio", "value", "goal", "verdict")
    for result in results:
        cases = result.by_name
        for ratio in result.ratios:
            goal = "" if ratio.goal is None else f"{'<=' if ratio.at_most else '>='} {ratio.goal:g}"
            table.add_row(result.name, ratio.name, f"{ratio.value(cases):.2f}", goal, ratio.verdict(cases))
    console.print(table)
    for path in written:
        console.print(f"wrote {path}")
    return 0
