"""Migrating from the two-tier hot/cold configuration to ``stores=``.

python examples/legacy_hot_cold.py
"""

from __future__ import annotations

import daramjwee as dj


def fetch(old: dj.Metadata | None) -> dj.FetchResult:
    return dj.FetchResult(b"value")


def main() -> None:
    hot, cold = dj.MemStore(), dj.MemStore()
    legacy = dj.Cache(hot_store=hot, cold_store=cold)  # still supported
    print("legacy chain:", [type(store).__name__ for store in legacy.stores])
    legacy.close()

    hot, cold = dj.MemStore(), dj.MemStore()
    with dj.Cache(stores=[hot, cold]) as cache:  # the same chain, the preferred spelling
        print("stores= chain:", [type(store).__name__ for store in cache.stores])
        print(cache.get_bytes("k", fetch))
    try:
        dj.Cache(stores=[hot], cold_store=cold)
    except dj.ConfigError as error:
        print("mixing both is an error:", error)


if __name__ == "__main__":
    main()
