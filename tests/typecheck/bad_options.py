"""Wrong uses of the cache constructors: each line marked ``# type: ignore[code]`` must be a mypy error.

tests/test_package.py runs ``mypy --strict --warn-unused-ignores`` on this file, so the check fails when a
marked line stops being an error (an unused ignore) or when an unmarked line is one.  Never imported or run.
"""

from __future__ import annotations

import logging

import daramjwee as dj


def wrong_values() -> None:
    dj.Cache(stores=[dj.MemStore("1MiB")], positive_fresh_for="60")  # type: ignore[arg-type]
    dj.Cache(stores=[dj.MemStore()], negative_fresh_for=[60])  # type: ignore[arg-type]
    dj.Cache(stores=[dj.MemStore()], op_timeout="30s")  # type: ignore[arg-type]
    dj.Cache(stores=[dj.MemStore()], workers="4")  # type: ignore[arg-type]
    dj.Cache(stores=[dj.MemStore()], chunk_size=64.5)  # type: ignore[arg-type]
    dj.Cache(stores=[dj.MemStore()], worker_strategy="threads")  # type: ignore[arg-type]
    dj.Cache(stores=[dj.MemStore()], tier_fresh_for={1: 5})  # type: ignore[dict-item]
    dj.Cache(stores=[dj.MemStore()], tier_fresh_for={"1": (5, 5)})  # type: ignore[dict-item]
    dj.Cache(stores=[dj.MemStore()], logger="daramjwee")  # type: ignore[arg-type]
    dj.AsyncCache(stores=[dj.AsyncMemStore()], coalesce_wait="5")  # type: ignore[arg-type]
    dj.Cache(stores=[dj.MemStore()], observer=logging.getLogger())  # type: ignore[arg-type]


def unknown_names() -> None:
    dj.Cache(stores=[dj.MemStore()], positive_fresh_fr=60)  # type: ignore[call-arg]
    dj.AsyncCache(stores=[dj.AsyncMemStore()], ttl=60)  # type: ignore[call-arg]


def wrong_shapes() -> None:
    dj.Cache([dj.MemStore()])  # type: ignore[call-arg]
    dj.Cache(stores=dj.MemStore())  # type: ignore[arg-type]


def mixed_flavours() -> None:
    dj.AsyncCache(stores=[dj.MemStore("1MiB")])  # type: ignore[list-item]
    dj.Cache(stores=[dj.AsyncMemStore()])  # type: ignore[list-item]
    dj.AsyncCache(hot_store=dj.MemStore())  # type: ignore[arg-type]
    dj.Cache(hot_store=dj.MemStore(), cold_store=dj.AsyncMemStore())  # type: ignore[arg-type]
