"""``daramjwee demo``: runs offline, prints one summary when not on a terminal."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from rich.console import Console

from daramjwee._cli import main
from daramjwee._demo import BURST_CALLERS, SOURCES, DemoOptions, play


@pytest.fixture
def not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure rich sees a plain pipe, whatever the CI environment forces."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("not_a_terminal")
def test_demo_runs_and_prints_only_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--duration", "2"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("daramjwee demo:")  # no live frames before the summary
    assert out.count("who served each request") == 1
    requests = {row[0]: int(row[1]) for row in re.findall(r"^ (tier \d|origin|negative) .*?(\d+) +\d+%", out, re.M)}
    assert set(requests) == {"tier 0", "tier 1", "tier 2", "origin", "negative"}
    coalesced = re.search(r"^ coalesced +waited for another +(\d+) ", out, re.M)
    assert coalesced is not None
    assert int(coalesced.group(1)) >= BURST_CALLERS - 1  # the stampede's waiters, at least
    assert "what the rows mean" in out
    for term in ("tier 0-2", "coalesced", "negative", "promotion", "stale hit", "fan-out"):
        assert re.search(rf"^ {term} ", out, re.M), term
    assert requests["tier 0"] > 0
    assert requests["tier 1"] > 0  # at least the restart is served from below tier 0
    assert requests["origin"] > 0
    promotions = re.search(r"promotions\s+(\d+)", out)
    assert promotions is not None
    assert int(promotions.group(1)) > 0
    assert "20 concurrent misses on burst-key → 1 origin fetch" in out
    assert "verdict: OK, 20 concurrent misses caused exactly 1 origin fetch" in out


@pytest.mark.usefixtures("not_a_terminal")
def test_request_budget_stops_the_workload_early(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--duration", "30", "--requests", "40"]) == 0

    out = capsys.readouterr().out
    # 40 workload requests plus the 20 of the stampede.
    assert "; 60 requests in " in out


@pytest.mark.parametrize("bad", [["demo", "--duration", "0"], ["demo", "--requests", "-1"], []])
def test_bad_arguments_exit_with_usage_error(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(bad)
    assert exit_info.value.code == 2
    assert "usage: daramjwee" in capsys.readouterr().err


def test_python_dash_m_and_import_without_rich() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "daramjwee", "demo", "--help"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert "--duration" in help_text
    assert "--requests" in help_text
    check = "import sys, daramjwee, daramjwee.testing; assert 'rich' not in sys.modules, 'rich was imported'"
    subprocess.run([sys.executable, "-c", check], check=True, timeout=30)


@pytest.mark.usefixtures("not_a_terminal")
def test_coalesced_waiters_are_counted_apart_from_the_tier_that_served_them() -> None:
    out = io.StringIO()
    result = play(DemoOptions(duration=30, requests=40), Console(file=out, width=120))

    assert result.ok
    # The stampede: one caller fetched, every other one waited for it and is in the coalesced row, not in tier 0's.
    assert result.burst.origin_fetches == 1
    assert result.burst.coalesced_waiters == BURST_CALLERS - 1
    assert result.burst.coalesced_responses == BURST_CALLERS - 1
    assert result.requests["coalesced"] >= BURST_CALLERS - 1
    assert set(result.requests) == set(SOURCES)
    assert sum(result.requests.values()) == 60  # each request in exactly one row
    row = re.search(r"^ coalesced .*?(\d+) +\d+%", out.getvalue(), re.M)
    assert row is not None
    assert int(row.group(1)) == result.requests["coalesced"]
