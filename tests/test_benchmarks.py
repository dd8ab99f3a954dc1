"""Seed task 17: the benchmark runs and reports every ratio (its numbers are not asserted: no timed tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_hot_path.py"


def test_seed17_hot_path_benchmark_reports_every_ratio(tmp_path: Path) -> None:
    output = tmp_path / "hot_path.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    assert set(report["cases"]) >= {"baseline", "sync-1tier", "sync-8tier", "async-1tier"}
    for name in ("sync/baseline", "async/sync", "8-tier/1-tier (sync)"):
        ratio = report["ratios"][name]
        assert ratio["value"] > 0
        assert ratio["verdict"] in ("PASS", "FAIL")
