"""``daramjwee bench`` on the terminal: a rich progress bar per scenario, then the report's paths and verdicts."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._model import ScenarioResult
from ._runner import iter_scenarios, unavailable, write_report
from .scenarios import SCENARIOS, Options

__all__ = ["run_bench"]


def run_bench(
    names: Sequence[str],
    *,
    listing: bool,
    quick: bool,
    rounds: int | None,
    out: str,
    traces: Sequence[Path] = (),
) -> int:
    """Run the scenarios ``names`` (all when empty) and write the report to ``out``; the exit code.

    A scenario this machine cannot run (a missing program or package) is
    skipped with a note when running all, and is an error (exit 2) when named.
    A scenario that fails while it runs is reported, the others still run and
    are written, and the exit code is 1.  Ctrl-C writes the report of the
    scenarios done so far and exits with 130.
    """
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
    unreadable = [path for path in traces if not path.is_file()]
    if unreadable:
        console.print(f"[red]no trace file at {unreadable[0]}[/red]: --trace takes a file of one key per line")
        return 2
    options = Options.quick() if quick else Options()
    options = dataclasses.replace(options, traces=tuple(traces))
    if rounds is not None:
        options = dataclasses.replace(options, rounds=rounds)
    lacking = unavailable(selected, options)
    for name, reason in lacking.items():
        console.print(f"[yellow]skipping {name}[/yellow]: {reason}" if not names else f"[red]{name}[/red]: {reason}")
    if lacking and names:
        return 2
    selected = [name for name in selected if name not in lacking]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, int] = {}

        def report(scenario: str, done: int, total: int) -> None:
            if scenario not in tasks:
                tasks[scenario] = int(progress.add_task(scenario, total=total))
            progress.update(tasks[scenario], completed=done)  # type: ignore[arg-type]

        results: list[ScenarioResult] = []
        try:
            for result in iter_scenarios(selected, options, report):
                results.append(result)
                progress.console.print(f"{result.name} done" if result.error is None else f"{result.name} failed")
        except KeyboardInterrupt:
            if len(results) < len(selected):
                interrupted = selected[len(results)]
                results.append(ScenarioResult(interrupted, SCENARIOS[interrupted].title, [], [], error="interrupted"))
    written = write_report(results, Path(out))
    table = Table("scenario", "ratio", "value", "goal", "verdict")
    for result in results:
        if result.error is not None:
            table.add_row(result.name, "[red]failed[/red]", "", "", result.error)
            continue
        cases = result.by_name
        for ratio in result.ratios:
            goal = "" if ratio.goal is None else f"{'<=' if ratio.at_most else '>='} {ratio.goal:g}"
            table.add_row(result.name, ratio.name, f"{ratio.value(cases):.2f}", goal, ratio.verdict(cases))
    console.print(table)
    for path in written:
        console.print(f"wrote {path}")
    if results and results[-1].error == "interrupted":
        console.print(f"[red]interrupted[/red] during {results[-1].name}: the scenarios before it are in the report")
        return 130
    failed = [result.name for result in results if result.error is not None]
    if failed:
        console.print(f"[red]{len(failed)} scenario(s) failed[/red]: {', '.join(failed)} (see the report)")
        return 1
    return 0
