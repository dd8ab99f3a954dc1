"""Fixtures shared by the unit tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture
def _frequent_thread_switches() -> Iterator[None]:
    """Make the interpreter switch threads very often so that unlocked read-modify-writes would lose updates."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
