"""Logging (rules E1, E2): structured tier/key fields, sensible levels."""

from __future__ import annotations

import logging

import pytest

import daramjwee as dj

from ._helpers import Origin, eventually, holding, mem_tiers, put


async def test_hits_misses_and_promotions_log_at_debug_with_tier_and_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"v")
    async with dj.AsyncCache(stores=tiers) as cache:
        with caplog.at_level(logging.DEBUG, logger="daramjwee"):
            await cache.get_bytes("k", Origin().fetcher("k"))
            await cache.get_bytes("m", Origin({"m": b"x"}).fetcher("m"))
            await eventually(lambda: holding(tiers, "m") == [True, True])
    records = [record for record in caplog.records if record.name == "daramjwee"]
    assert records
    assert all(record.levelno == logging.DEBUG for record in records)
    assert all(record.key in ("k", "m") for record in records)  # type: ignore[attr-defined]
    messages = [record.getMessage() for record in records]
    assert any("hit in tier 1" in message for message in messages)
    assert any("promoted" in message for message in messages)
    assert any("miss" in message for message in messages)
    hit = next(record for record in records if "hit in tier 1" in record.getMessage())
    assert hit.tier == 1  # type: ignore[attr-defined]


async def test_nothing_is_logged_at_info_per_request(caplog: pytest.LogCaptureFixture) -> None:
    origin = Origin({"k": b"v"})
    async with dj.AsyncCache(stores=mem_tiers(2)) as cache:
        with caplog.at_level(logging.INFO, logger="daramjwee"):
            for _ in range(5):
                await cache.get_bytes("k", origin.fetcher("k"))
    assert [record for record in caplog.records if record.name == "daramjwee"] == []


async def test_swallowed_store_failure_logs_a_warning_with_tier_key_and_op(caplog: pytest.LogCaptureFixture) -> None:
    tiers = mem_tiers(2)
    tiers[1].fail("begin_set")
    async with dj.AsyncCache(stores=tiers) as cache:
        with caplog.at_level(logging.WARNING, logger="daramjwee"):
            await cache.get_bytes("k", Origin({"k": b"v"}).fetcher("k"))
            await eventually(lambda: any(getattr(r, "op", None) == "begin_set" for r in caplog.records))
    record = next(r for r in caplog.records if getattr(r, "op", None) == "begin_set")
    assert record.levelno == logging.WARNING
    assert (record.tier, record.key) == (1, "k")  # type: ignore[attr-defined]


async def test_custom_logger_is_used() -> None:
    logger = logging.getLogger("myapp.cache")
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Collect(level=logging.DEBUG)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        async with dj.AsyncCache(stores=mem_tiers(1), logger=logger) as cache:
            await cache.get_bytes("k", Origin({"k": b"v"}).fetcher("k"))
    finally:
        logger.removeHandler(handler)
    assert any(record.getMessage().startswith("miss") for record in seen)


async def test_disabled_logging_does_not_format_messages() -> None:
    logger = logging.getLogger("daramjwee.silent")
    logger.setLevel(logging.CRITICAL)
    tiers = mem_tiers(2)
    await put(tiers[1], "k", b"v")
    async with dj.AsyncCache(stores=tiers, logger=logger) as cache:
        original = logger.makeRecord

        def guard(*args: object, **kwargs: object) -> logging.LogRecord:
            raise AssertionError("built a log record while logging was off")

        logger.makeRecord = guard  # type: ignore[method-assign]
        try:
            await cache.get_bytes("k", Origin().fetcher("k"))
            await cache.get_bytes("k", Origin().fetcher("k"))
        finally:
            logger.makeRecord = original  # type: ignore[method-assign]
