"""The store conformance suite (``daramjwee.testing``) on the object store: moto's S3 server, memory, local disk."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from obstore.store import LocalStore, S3Store

import daramjwee as dj
from _servers import MotoServer
from daramjwee.testing import AsyncStoreConformance

_MIB = 1024 * 1024
PART_SIZE = 5 * _MIB  # the smallest part S3 takes: the large value is a multipart upload of several parts


def _upload_bound(store_part_size: int = PART_SIZE, max_concurrency: int = 2) -> int:
    """What a sink may hold: obstore keeps the batches it is handed (no copy) until their part is uploaded.

    That is the part being filled and ``max_concurrency`` parts in flight,
    plus the batch the sink is gathering, plus slack for the over-allocation
    of growing buffers.
    """
    return store_part_size * (max_concurrency + 1) + 2 * _MIB


class TestS3ObjectStoreConformance(AsyncStoreConformance):
    """On moto's S3 API server: multipart uploads, ranged GETs, streamed responses over HTTP."""

    @property
    def memory_bound(self) -> int:
        return self.chunk_size + _upload_bound() + 16 * _MIB

    @pytest.fixture(autouse=True)
    def _bucket(self, s3_server: MotoServer) -> None:
        self.backend = S3Store(s3_server.bucket(), **s3_server.store_options())
        self.stores = itertools.count()

    async def make_store(self) -> dj.AsyncStore:
        return dj.AsyncObjectStore(self.backend, f"store-{next(self.stores)}", part_size=PART_SIZE)


class TestMemoryObjectStoreConformance(AsyncStoreConformance):
    """On obstore's ``MemoryStore`` (by URL)."""

    @property
    def memory_bound(self) -> int:
        """The backend holds the value in memory, and a GET hands it out as one chunk (a copy)."""
        return 2 * self.large_value_size + _upload_bound() + 16 * _MIB

    async def make_store(self) -> dj.AsyncStore:
        return dj.AsyncObjectStore("memory://", part_size=PART_SIZE)


class TestLocalObjectStoreConformance(AsyncStoreConformance):
    """On obstore's ``LocalStore``: one store by ``file://`` URL, the next on a ``LocalStore`` instance."""

    @property
    def memory_bound(self) -> int:
        return self.chunk_size + _upload_bound() + 16 * _MIB

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path
        self.stores = itertools.count()

    async def make_store(self) -> dj.AsyncStore:
        number = next(self.stores)
        root = self.directory / f"store-{number}"
        root.mkdir()
        if number % 2:
            return dj.AsyncObjectStore(LocalStore(root), "cache", part_size=PART_SIZE)
        return dj.AsyncObjectStore(root.as_uri(), part_size=PART_SIZE, read_chunk_size="256KiB")
