"""``daramjwee bench`` scenarios that start real servers on loopback: ``shared-tiers`` and ``serve``.

The numbers are not asserted: benchmarks are reports, not timed tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from daramjwee.bench import Options, unavailable


def _bench(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "daramjwee", "bench", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False, env=env)


def test_shared_tiers_reports_every_cache_case_beside_its_raw_client_twin(tmp_path: Path) -> None:
    result = _bench("--quick", "--rounds", "1", "--out", str(tmp_path), "shared-tiers")
    assert result.returncode == 0, result.stderr
    scenario = json.loads((tmp_path / "report.json").read_text())["scenarios"]["shared-tiers"]
    pairs = [("redis-1k", "raw-redis-1k"), ("redis-1m", "raw-redis-1m"), ("s3-1m", "raw-s3-1m")]
    pairs.append(("raw-s3-large", "s3-large"))
    assert set(scenario["cases"]) == {name for pair in pairs for name in pair}
    assert scenario["cases"]["s3-large"]["unit"] == "MiB/s"
    assert all(case["best"] > 0 for case in scenario["cases"].values())
    cases = scenario["cases"]
    for (numerator, denominator), (name, ratio) in zip(pairs, scenario["ratios"].items(), strict=True):
        expected = cases[numerator]["best"] / cases[denominator]["best"]
        assert ratio["value"] == pytest.approx(expected), name
        assert ratio["verdict"] in ("PASS", "FAIL")
    assert (tmp_path / "shared-tiers.png").read_bytes().startswith(b"\x89PNG")


def test_a_scenario_whose_server_program_is_missing_is_refused_by_name_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    reasons = unavailable(["hot-path", "shared-tiers"], Options())
    assert list(reasons) == ["shared-tiers"]
    assert "redis-server" in reasons["shared-tiers"]
    refused = _bench("--out", str(tmp_path / "out"), "shared-tiers", env={**os.environ, "PATH": str(empty)})
    assert refused.returncode == 2
    assert "redis-server is not on PATH" in refused.stdout
    assert not (tmp_path / "out").exists()


def test_serve_measures_nginx_both_daramjwee_tiers_and_the_servers_ceiling_under_wrk(tmp_path: Path) -> None:
    result = _bench("--quick", "--rounds", "1", "--out", str(tmp_path), "serve")
    assert result.returncode == 0, result.stderr
    scenario = json.loads((tmp_path / "report.json").read_text())["scenarios"]["serve"]
    proxies, sizes = ("nginx", "dj-memory", "dj-file", "ceiling"), ("1k", "1m")
    rates = {f"{proxy}-{size}" for proxy in proxies for size in sizes}
    tails = {f"{name}-p99" for name in rates} | {f"{name}-paced-p99" for name in rates}
    costs = {f"{name}-cpu" for name in rates}
    assert set(scenario["cases"]) == rates | tails | costs
    for name in costs:  # seconds of the server's CPU per request: some, and less than a wrk run's 1 s per request
        assert scenario["cases"][name]["unit"] == "s"
        assert 0 < scenario["cases"][name]["best"] < 0.1
    for name in rates:
        assert scenario["cases"][name]["unit"] == "req/s"
        assert scenario["cases"][name]["best"] > 0
    for name in tails:
        assert scenario["cases"][name]["unit"] == "s"
        assert 0 < scenario["cases"][name]["best"] < 10
    ratios = scenario["ratios"]
    assert len(ratios) == 12 + 8 + 6
    for name, ratio in ratios.items():
        if "no-op app" in name or "CPU per request" in name:  # information, no goal
            assert ratio["goal"] is None
        elif name.endswith("req/s"):
            assert (ratio["at_most"], ratio["goal"]) == (False, 0.5 if name.startswith("1k") else 0.9)
        elif name.endswith("paced"):
            assert (ratio["at_most"], ratio["goal"]) == (True, 1.5)
        else:
            assert name.endswith("saturated")
            assert ratio["goal"] is None
        assert ratio["verdict"] in (("PASS", "FAIL") if ratio["goal"] else ("info",))
