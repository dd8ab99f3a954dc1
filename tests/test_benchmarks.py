"""The benchmarks run and report every case and ratio (seed task 17).

Their numbers are not asserted: benchmarks are reports, not timed tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_benchmark(name: str, output: Path, *arguments: str) -> tuple[str, dict[str, dict[str, dict[str, object]]]]:
    """Run ``benchmarks/<name>`` with ``--json output``; return its stdout and its report."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *arguments, "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads(output.read_text())


def assert_ratios_reported(report: dict[str, dict[str, dict[str, object]]], *names: str) -> None:
    for name in names:
        ratio = report["ratios"][name]
        assert isinstance(ratio["value"], float)
        assert ratio["value"] > 0
        assert ratio["verdict"] in ("PASS", "FAIL")


def test_shared_tiers_benchmark_reports_every_case_and_ratio(tmp_path: Path) -> None:
    stdout, report = run_benchmark("bench_shared_tiers.py", tmp_path / "shared.json", "--quick", "--rounds", "1")
    assert set(report["cases"]) == {
        "redis-1k",
        "raw-redis-1k",
        "redis-1m",
        "raw-redis-1m",
        "s3-1m",
        "raw-s3-1m",
        "s3-large",
        "raw-s3-large",
    }
    assert all(case["best"] > 0 for case in report["cases"].values())  # type: ignore[operator]
    assert_ratios_reported(report, "redis-1k: cache/raw", "redis-1m: cache/raw", "s3-1m: cache/raw")
    assert_ratios_reported(report, "s3-large: cache/raw")
    assert "redis-1k: cache/raw" in stdout


def test_serve_benchmark_reports_every_case_and_ratio(tmp_path: Path) -> None:
    stdout, report = run_benchmark("bench_serve.py", tmp_path / "serve.json", "--quick", "--workers", "1")
    sizes = ("1k", "1m")
    servers = ("nginx", "dj-memory", "dj-file")
    assert set(report["cases"]) == {f"{server}-{size}" for server in servers for size in sizes}
    assert all(case["best"] > 0 for case in report["cases"].values())  # type: ignore[operator]
    for tier in ("memory", "file"):
        assert_ratios_reported(report, *(f"{size} {tier} hit: daramjwee/nginx req/s" for size in sizes))
    assert "p99 latency" in stdout
