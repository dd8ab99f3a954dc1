"""Shared pytest configuration."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _quiet_daramjwee_logger() -> None:
    """Tests that check logs use caplog; keep the rest quiet but capturable."""
    logging.getLogger("daramjwee").setLevel(logging.DEBUG)
