"""The store conformance suite (``daramjwee.testing``) on the file store."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import daramjwee as dj
from daramjwee.testing import AsyncStoreConformance


class TestFileStoreConformance(AsyncStoreConformance):
    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path
        self.stores = itertools.count()

    async def make_store(self) -> dj.AsyncStore:
        return dj.AsyncFileStore(self.directory / f"store-{next(self.stores)}")


class TestDurableFileStoreConformance(TestFileStoreConformance):
    """``fsync=True`` changes when bytes reach the disk, never what readers see."""

    async def make_store(self) -> dj.AsyncStore:
        return dj.AsyncFileStore(self.directory / f"store-{next(self.stores)}", fsync=True, capacity="256MiB")


class TestInlineOpenFileStoreConformance(TestFileStoreConformance):
    """``inline_open=True`` changes which thread opens an entry, never what readers see."""

    async def make_store(self) -> dj.AsyncStore:
        return dj.AsyncFileStore(self.directory / f"store-{next(self.stores)}", inline_open=True)
