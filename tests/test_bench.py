"""``daramjwee bench``: scenarios by name, a report in JSON, markdown and PNG, the machine recorded.

The numbers are not asserted: benchmarks are reports, not timed tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from daramjwee.bench import SCENARIOS, Case, Ratio, ScenarioResult
from daramjwee.bench._model import markdown
from daramjwee.policy import POLICIES


def _bench(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "daramjwee", "bench", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_a_quick_run_writes_json_markdown_and_a_plot_per_scenario(tmp_path: Path) -> None:
    result = _bench("--quick", "--out", str(tmp_path), "hot-path", "n-tier")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["machine"]["cpus"] >= 1
    assert report["machine"]["versions"]["daramjwee"]
    assert set(report["scenarios"]) == {"hot-path", "n-tier"}
    sync = report["scenarios"]["hot-path"]["cases"]["sync"]
    assert len(sync["samples"]) == 3
    assert sync["best"] == min(sync["samples"]) > 0
    assert min(sync["samples"]) <= sync["median"] <= max(sync["samples"])
    assert set(report["scenarios"]["n-tier"]["cases"]) == {"1-tier", "2-tier", "3-tier", "5-tier", "8-tier"}
    assert report["scenarios"]["hot-path"]["ratios"]["sync / cachetools"]["verdict"] in ("PASS", "FAIL")
    text = (tmp_path / "report.md").read_text()
    assert "| sync / cachetools |" in text
    assert "## N-tier scaling of a tier-0 hit (`n-tier`)" in text
    for name in ("hot-path", "n-tier"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "sync / cachetools" in result.stdout


def test_the_peer_disk_and_streaming_scenarios_report_their_cases(tmp_path: Path) -> None:
    result = _bench("--quick", "--out", str(tmp_path), "memory-peers", "disk-hits", "streaming")
    assert result.returncode == 0, result.stderr
    scenarios = json.loads((tmp_path / "report.json").read_text())["scenarios"]
    peers = {"daramjwee-sync", "cachebox", "theine", "dogpile", "daramjwee-async", "cashews", "aiocache"}
    assert set(scenarios["memory-peers"]["cases"]) == peers
    assert set(scenarios["disk-hits"]["cases"]) == {"filestore-1k", "diskcache-1k", "filestore-1m", "diskcache-1m"}
    assert set(scenarios["streaming"]["cases"]) == {"memory-stream", "file-stream", "raw-read"}
    stream = scenarios["streaming"]["cases"]["file-stream"]
    assert stream["unit"] == "MiB/s"
    assert stream["best"] == max(stream["samples"])
    assert scenarios["streaming"]["ratios"]["file-stream / raw-read"]["at_most"] is False


def test_the_path_latency_and_concurrency_scenarios_report_their_cases(tmp_path: Path) -> None:
    names = ("tier-paths", "miss-latency", "threads", "stampede", "cacheme")
    result = _bench("--quick", "--rounds", "2", "--out", str(tmp_path), *names)
    assert result.returncode == 0, result.stderr
    scenarios = json.loads((tmp_path / "report.json").read_text())["scenarios"]
    assert set(scenarios) == set(names)
    assert {"promote-8", "miss-1", "miss-8"} <= set(scenarios["tier-paths"]["cases"])
    assert {"cache-ttfb", "origin-ttfb", "cache-total", "origin-total"} == set(scenarios["miss-latency"]["cases"])
    assert scenarios["stampede"]["cases"]["sync-origin-fetches"]["samples"] == [1.0, 1.0], "one origin fetch"
    assert scenarios["stampede"]["cases"]["async-origin-fetches"]["samples"] == [1.0, 1.0], "one origin fetch"
    cacheme = scenarios["cacheme"]["cases"]
    runs = ("daramjwee", "daramjwee-2tier", "cashews", "aiocache")
    expected = {f"{run}-{what}" for run in runs for what in ("seconds", "origin-loads")}
    assert set(cacheme) == expected | {"daramjwee-2tier-lower-tier-reads", "distinct-keys"}
    distinct = cacheme["distinct-keys"]["best"]
    for run in ("daramjwee", "daramjwee-2tier"):
        assert distinct <= min(cacheme[f"{run}-origin-loads"]["samples"]), "every distinct key loads once"
    assert cacheme["daramjwee-origin-loads"]["samples"] == [distinct] * 2, "single-flight: one load per key"
    assert cacheme["daramjwee-2tier-lower-tier-reads"]["best"] >= 0
    assert set(scenarios["threads"]["cases"]) == {f"threads-{count}" for count in (1, 2, 4, 8, 16)}


def test_list_names_every_scenario_and_an_unknown_one_is_refused(tmp_path: Path) -> None:
    listing = _bench("--list")
    assert listing.returncode == 0
    assert all(name in listing.stdout for name in SCENARIOS)
    unknown = _bench("--out", str(tmp_path), "no-such-scenario")
    assert unknown.returncode == 2
    assert "unknown scenario 'no-such-scenario'" in unknown.stdout
    assert not (tmp_path / "report.json").exists()
    no_trace = _bench("--out", str(tmp_path), "--trace", str(tmp_path / "absent.trace"), "eviction")
    assert no_trace.returncode == 2
    assert "no trace file at" in no_trace.stdout
    assert not (tmp_path / "report.json").exists()


def test_ratios_judge_rates_and_times_by_their_direction() -> None:
    fast = Case("fast", "", "MiB/s", lambda: 0.0, [900.0, 1000.0])
    slow = Case("slow", "", "MiB/s", lambda: 0.0, [400.0, 500.0])
    assert fast.best == 1000.0
    cases = {"fast": fast, "slow": slow}
    assert Ratio("slow/fast", "slow", "fast", 0.4, at_most=False).verdict(cases) == "PASS"
    assert Ratio("slow/fast", "slow", "fast", 0.6, at_most=False).verdict(cases) == "FAIL"
    quick = Case("quick", "", "ns/op", lambda: 0.0, [10.0, 12.0])
    assert quick.best == 10.0
    assert Ratio("info", "quick", "quick").verdict({"quick": quick}) == "info"
    text = markdown([ScenarioResult("s", "Title", [fast, slow], [Ratio("r", "slow", "fast", 0.4, False)])], {"cpus": 2})
    assert "| r | best | 0.50 | ≥ 0.4 | PASS |" in text
    assert "- **cpus**: 2" in text
    assert "| fast | 1,000 | 950 | 900 | MiB/s | 2 |" in text
    seconds = Case("wall", "", "s", lambda: 0.0, [1.234, 1.5])
    assert "| wall | 1.23 | 1.37 | 1.5 | s | 2 |" in markdown([ScenarioResult("t", "T", [seconds], [])], {})


def test_a_worst_of_ratio_fails_when_any_sample_misses_the_goal() -> None:
    fetches = Case("fetches", "", "fetches", lambda: 0.0, [1.0, 2.0, 1.0])
    one = Case("one", "", "fetches", lambda: 1.0, [1.0, 1.0, 1.0])
    cases = {"fetches": fetches, "one": one}
    assert (fetches.best, fetches.worst) == (1.0, 2.0)
    assert Ratio("best", "fetches", "one", 1.0).verdict(cases) == "PASS"
    assert Ratio("worst", "fetches", "one", 1.0, of="worst").verdict(cases) == "FAIL"
    rate = Case("rate", "", "hit %", lambda: 0.0, [40.0, 50.0])
    assert (rate.best, rate.worst) == (50.0, 40.0)


def test_the_eviction_scenario_reports_every_policy_under_the_optimum(tmp_path: Path) -> None:
    mine = tmp_path / "mine.trace"
    mine.write_text("".join(f"k{index % 50}\nhot\n" for index in range(2_000)))
    result = _bench("--quick", "--rounds", "1", "--out", str(tmp_path), "--trace", str(mine), "eviction")
    assert result.returncode == 0, result.stderr
    scenario = json.loads((tmp_path / "report.json").read_text())["scenarios"]["eviction"]
    cases = scenario["cases"]
    assert cases["mine.trace@10%:lru"]["best"] == pytest.approx(100 * 1_999 / 4_000)  # only "hot" hits, after once
    traces = ("zipf-0.7", "zipf-0.9", "zipf-1.1", "scan-mix", "loop", "mine.trace")
    expected = {
        f"{trace}@{fraction}:{column}"
        for trace in traces
        for fraction in ("1%", "10%")
        for column in (*POLICIES, "belady")
    }
    assert set(cases) == expected
    for name, case in cases.items():
        assert case["unit"] == "hit %"
        assert all(0.0 <= sample <= 100.0 for sample in case["samples"]), name
    for trace in traces:
        for fraction in ("1%", "10%"):
            optimum = cases[f"{trace}@{fraction}:belady"]["best"]
            assert optimum > 0
            for policy in POLICIES:
                assert cases[f"{trace}@{fraction}:{policy}"]["best"] <= optimum, (trace, fraction, policy)
    assert {ratio["verdict"] for ratio in scenario["ratios"].values()} == {"info"}
    assert (tmp_path / "eviction.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_memory_scenario_reports_peak_growth_of_each_phase_against_the_budget(tmp_path: Path) -> None:
    result = _bench("--quick", "--rounds", "1", "--out", str(tmp_path), "memory")
    assert result.returncode == 0, result.stderr
    scenario = json.loads((tmp_path / "report.json").read_text())["scenarios"]["memory"]
    cases = scenario["cases"]
    growths = ("miss-rss-growth", "promotion-rss-growth", "miss-tracemalloc-peak", "promotion-tracemalloc-peak")
    assert set(cases) == {*growths, "budget"}
    for name in growths:
        assert cases[name]["unit"] == "MiB"
        assert len(cases[name]["samples"]) == 1
        assert all(0.0 <= sample < float("inf") for sample in cases[name]["samples"]), name
    assert cases["budget"]["samples"] == [32.0]
    ratios = scenario["ratios"]
    assert set(ratios) == {f"{name} / budget" for name in growths}
    for name in ("miss-rss-growth / budget", "promotion-rss-growth / budget"):
        assert (ratios[name]["goal"], ratios[name]["of"]) == (1.0, "worst")
        assert ratios[name]["verdict"] in ("PASS", "FAIL")
    assert ratios["miss-tracemalloc-peak / budget"]["verdict"] == "info"


def test_the_read_through_scenario_reports_first_byte_times_throughputs_and_ratios(tmp_path: Path) -> None:
    result = _bench("--quick", "--rounds", "1", "--out", str(tmp_path), "read-through")
    assert result.returncode == 0, result.stderr
    scenario = json.loads((tmp_path / "report.json").read_text())["scenarios"]["read-through"]
    units = {name: case["unit"] for name, case in scenario["cases"].items()}
    assert units == {
        "daramjwee-cold-ttfb": "s",
        "fsspec-cold-ttfb": "s",
        "daramjwee-cold": "MiB/s",
        "fsspec-cold": "MiB/s",
        "daramjwee-warm": "MiB/s",
        "fsspec-warm": "MiB/s",
        "raw-read": "MiB/s",
    }
    for case in scenario["cases"].values():
        assert len(case["samples"]) == 1
        assert min(case["samples"]) <= case["median"] <= max(case["samples"])
        assert case["best"] in case["samples"]
        assert case["best"] > 0
    assert set(scenario["ratios"]) == {
        "daramjwee-cold-ttfb / fsspec-cold-ttfb",
        "daramjwee-cold / fsspec-cold",
        "daramjwee-warm / fsspec-warm",
        "daramjwee-warm / raw-read",
    }
    assert all(ratio["verdict"] == "info" for ratio in scenario["ratios"].values())
    assert (tmp_path / "read-through.png").stat().st_size > 0


def test_a_scenario_that_fails_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    broken = tmp_path / "broken.trace"
    broken.write_bytes(b"key\n\xff\xfe not utf-8\n")
    result = _bench("--quick", "--rounds", "1", "--out", str(tmp_path), "--trace", str(broken), "eviction", "n-tier")
    assert result.returncode == 1
    assert "1 scenario(s) failed" in result.stdout
    scenarios = json.loads((tmp_path / "report.json").read_text())["scenarios"]
    assert scenarios["eviction"]["error"].startswith("UnicodeDecodeError")
    assert scenarios["eviction"]["cases"] == {}
    assert len(scenarios["n-tier"]["cases"]["8-tier"]["samples"]) == 1, "the scenario after it still ran"
    assert "**Failed:** UnicodeDecodeError" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "n-tier.png").exists()
    assert not (tmp_path / "eviction.png").exists()


def test_ctrl_c_writes_the_scenarios_done_so_far_and_exits_130(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "daramjwee", "bench", "--quick", "--out", str(tmp_path), "n-tier", "cacheme"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if "n-tier done" in line:
                break
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=60)
    assert child.returncode == 130, output
    assert "interrupted during cacheme" in output
    scenarios = json.loads((tmp_path / "report.json").read_text())["scenarios"]
    assert len(scenarios["n-tier"]["cases"]["1-tier"]["samples"]) == 3
    assert scenarios["cacheme"]["error"] == "interrupted"
