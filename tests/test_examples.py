"""The documented examples run and show what the docs say they show."""

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
    "fleet.py": ["30 cold reads on 3 instances: 1 distinct body, origin calls: 1", "gone from instances 1 and 2"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_example_runs_and_prints_what_the_docs_say(name: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for expected in EXPECTED[name]:
        assert expected in result.stdout


def test_every_example_is_tested() -> None:
    assert {path.name for path in EXAMPLES.glob("*.py")} == set(EXPECTED)


README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_section_code(heading: str) -> str:
    """The Python code block of the README section that starts with ``heading``."""
    section = README.read_text().split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


README_EXAMPLES = {
    "### Ranged reads": "416, Content-Range: bytes */1024\n",
    "### Per-entry freshness": None,  # it asserts what it shows
    "### Python values": "{1, 2, 3} 다람쥐\n",
    "### Decorator": "[42, 42, 1, 2]\n",
    "### Cache-aside: peek, contains, clear": (
        "computed b'profile of user:1'\ncached b'profile of user:1' fresh\nTrue\nFalse None\n"
    ),
    "### Tags": "2 ['user:42', 'user:42']\n",
}
"""README section heading: what its example prints (``None``: only that it runs without error)."""


@pytest.mark.parametrize("heading", list(README_EXAMPLES))
def test_each_readme_example_runs_and_prints_what_it_shows(heading: str) -> None:
    code = _readme_section_code(heading)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    expected = README_EXAMPLES[heading]
    if expected is not None:
        assert result.stdout == expected
