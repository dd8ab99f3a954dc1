"""Three tiers in front of a slow origin: miss, fan-out, restart, promotion.

python examples/three_tiers.py
"""

from __future__ import annotations

import time

import daramjwee as dj

ORIGIN = {"report:2026": b"quarterly numbers " * 1000}
origin_calls: list[str] = []


def fetch_report(old: dj.Metadata | None) -> dj.FetchResult:
    """A slow origin; raises CacheableNotFound for unknown reports."""
    origin_calls.append("report:2026")
    time.sleep(0.05)
    try:
        body = ORIGIN["report:2026"]
    except KeyError:
        raise dj.CacheableNotFound() from None
    return dj.FetchResult(body, dj.Metadata(etag='"r1"', attrs={"content-type": "text/plain"}))


def main() -> None:
    disk_like, remote_like = dj.MemStore(), dj.MemStore()
    first_process = dj.Cache(stores=[dj.MemStore(capacity="64MiB"), disk_like, remote_like])
    with first_process.get("report:2026", fetch_report) as response:
        source = "the origin" if response.source is None else f"tier {response.source}"
        print(f"first read: {len(response.read())} bytes from {source}")
    first_process.close()  # waits for the background fan-out to the lower tiers
    # A new process: empty memory tier, same lower tiers (the fan-out filled them).
    with dj.Cache(stores=[dj.MemStore(capacity="64MiB"), disk_like, remote_like]) as cache:
        with cache.get("report:2026", fetch_report) as response:
            print(f"after restart: served by tier {response.source}, promoted while streaming")
            response.read()
        with cache.get("report:2026", fetch_report) as response:
            print(f"next read: served by tier {response.source}")
    print(f"origin calls: {len(origin_calls)}")


if __name__ == "__main__":
    main()
