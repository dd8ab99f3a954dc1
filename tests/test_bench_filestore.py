"""The file-tier benchmark runs and reports every case and ratio (its numbers are not asserted: no timed tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_filestore.py"


def test_filestore_benchmark_reports_every_case_and_ratio(tmp_path: Path) -> None:
    output = tmp_path / "filestore.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--rounds", "2", "--stream-mib", "8", "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    cases = {"filestore-hit", "filestore-hit-2tier", "diskcache-get", "filestore-stream", "raw-read"}
    assert set(report["cases"]) == cases
    for case in report["cases"].values():
        assert case["best"] > 0
    for name in ("hit: filestore/diskcache", "stream: filestore/raw"):
        ratio = report["ratios"][name]
        assert ratio["value"] > 0
        assert ratio["verdict"] in ("PASS", "FAIL")
    assert "hit: filestore/diskcache" in result.stdout
