"""``AsyncCache(op_timeout=...)`` and stores whose ``get_stream`` runs inline (async only: sync calls are unbounded)."""

from __future__ import annotations

from pathlib import Path

import daramjwee as dj
from daramjwee.testing import AsyncFaultyStore


class _DeclaresInlineGet(AsyncFaultyStore):
    """A slow store that declares its ``get_stream`` inline, as ``AsyncFileStore(inline_open=True)`` does."""

    get_stream_inline = True


async def _get_through_slow_tier(tier1: AsyncFaultyStore) -> tuple[bytes, int | None, int]:
    writer = await tier1.inner.begin_set("k", dj.Metadata())
    await writer.write(b"value")
    await writer.commit()
    tier1.delay("get_stream", 0.1)
    calls = 0

    async def fetch(old: dj.Metadata | None) -> dj.FetchResult:
        nonlocal calls
        calls += 1
        return dj.FetchResult(b"origin")

    cache = dj.AsyncCache(stores=[dj.AsyncMemStore(), tier1], op_timeout=0.02)
    async with cache, await cache.get("k", fetch) as response:
        return await response.read(), response.source, calls


async def test_a_slow_get_stream_is_cancelled_by_op_timeout_and_the_origin_serves() -> None:
    assert await _get_through_slow_tier(AsyncFaultyStore(dj.AsyncMemStore())) == (b"origin", None, 1)


async def test_a_store_declaring_get_stream_inline_gets_no_timeout_on_get_stream() -> None:
    assert await _get_through_slow_tier(_DeclaresInlineGet(dj.AsyncMemStore())) == (b"value", 1, 0)


def test_the_file_store_declares_get_stream_inline_exactly_when_it_opens_inline(tmp_path: Path) -> None:
    assert dj.AsyncFileStore(f"{tmp_path}/a", inline_open=True).get_stream_inline is True
    assert dj.AsyncFileStore(f"{tmp_path}/b").get_stream_inline is False
