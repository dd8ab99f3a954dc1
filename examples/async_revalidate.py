"""Async stale-while-revalidate with conditional fetches (ETag) and negative caching.

python examples/async_revalidate.py
"""

from __future__ import annotations

import asyncio

import daramjwee as dj

VERSION = {"etag": '"v1"', "body": b"hello"}


async def fetch_greeting(old: dj.Metadata | None) -> dj.FetchResult:
    """Answers like an HTTP origin: NotModified when the client's etag is current."""
    await asyncio.sleep(0.01)
    if old is not None and old.etag == VERSION["etag"]:
        raise dj.NotModified()
    return dj.FetchResult(VERSION["body"], dj.Metadata(etag=str(VERSION["etag"])))


async def fetch_missing(old: dj.Metadata | None) -> dj.FetchResult:
    raise dj.CacheableNotFound()


async def main() -> None:
    async with dj.AsyncCache(stores=[dj.AsyncMemStore()], positive_fresh_for=0.1) as cache:
        print("read:", await cache.get_bytes("greeting", fetch_greeting))
        await asyncio.sleep(0.15)
        VERSION.update(etag='"v2"', body=b"hello again")
        print("stale read (refresh scheduled):", await cache.get_bytes("greeting", fetch_greeting))
        await asyncio.sleep(0.1)
        print("after refresh:", await cache.get_bytes("greeting", fetch_greeting))
        async with await cache.get("greeting", fetch_greeting, if_none_match='W/"v2"') as response:
            print("conditional read:", response.status.name)
        for _ in range(2):
            try:
                await cache.get("nobody", fetch_missing)
            except dj.NotFound:
                print("not found (negative entry cached)")
        print("stats:", cache.stats().as_dict())


if __name__ == "__main__":
    asyncio.run(main())
