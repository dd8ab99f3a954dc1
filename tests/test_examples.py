"""Seed task 19: the documented examples run and show what the docs say they show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EXPECTED = {
    "three_tiers.py": ["from the origin", "after restart: served by tier 1", "next read: served by tier 0", "calls: 1"],
    "async_revalidate.py": ["after refresh: b'hello again'", "conditional read: NOT_MODIFIED", "negative entry"],
    "legacy_hot_cold.py": ["legacy chain: ['MemStore', 'MemStore']", "use stores= only"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed19_example_runs(name: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for expected in EXPECTED[name]:
        assert expected in result.stdout


def test_every_example_is_tested() -> None:
    assert {path.name for path in EXAMPLES.glob("*.py")} == set(EXPECTED)
