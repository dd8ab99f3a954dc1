"""scripts/unasync.py: code tokens are rewritten, prose is not, and a rule that rewrites nothing is an error."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "unasync.py"


@pytest.fixture(scope="module")
def unasync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_comments_and_strings_are_copied_as_written(unasync: ModuleType) -> None:
    source = (
        '"""AsyncCache: call ``await cache.aclose()``, an async one."""\n'
        "\n"
        "\n"
        "async def close(cache: AsyncCache) -> None:\n"
        "    # await the AsyncCache's aclose (redis.asyncio too)\n"
        '    await cache.aclose()  # "async with" stays\n'
        '    print("AsyncCache aclose", f"{cache!r} async_sleep")\n'
    )
    expected = (
        '"""AsyncCache: call ``await cache.aclose()``, an async one."""\n'
        "\n"
        "\n"
        "def close(cache: Cache) -> None:\n"
        "    # await the AsyncCache's aclose (redis.asyncio too)\n"
        '    cache.close()  # "async with" stays\n'
        '    print("AsyncCache aclose", f"{cache!r} async_sleep")\n'
    )
    assert unasync.unasync_source(source, Counter()) == expected


def test_multi_token_rules_and_spacing(unasync: ModuleType) -> None:
    source = (
        "import redis.asyncio\n"
        "from redis.asyncio import Redis\n"
        "\n"
        "\n"
        "async def f(x: Awaitable[tuple[int, AsyncReader]],  y = 1) -> AsyncIterator[int]:\n"
        "    async with x:  # keep  these  spaces\n"
        "        async for chunk in redis.asyncio.Redis():\n"
        "            yield [c async for c in await async_sleep( y )]\n"
    )
    expected = (
        "import redis\n"
        "from redis import Redis\n"
        "\n"
        "\n"
        "def f(x: tuple[int, Reader],  y = 1) -> Iterator[int]:\n"
        "    with x:  # keep  these  spaces\n"
        "        for chunk in redis.Redis():\n"
        "            yield [c for c in sleep( y )]\n"
    )
    used: Counter[str] = Counter()
    assert unasync.unasync_source(source, used) == expected
    assert used["redis.asyncio"] == 3
    assert used["Awaitable[X]"] == 1
    assert used["async for"] == 2


def test_an_async_twin_module_becomes_its_sync_twin(unasync: ModuleType) -> None:
    """The asyncio twins live in ``_async_*`` modules that the sync flavour never imports (nor asyncio)."""
    source = (
        "from .._async_primitives import AsyncEvent, async_sleep\n"
        "from daramjwee._async_runtime import AsyncBackgroundRunner\n"
        "from .._async._store import AsyncStore\n"
    )
    expected = (
        "from .._primitives import Event, sleep\n"
        "from daramjwee._runtime import BackgroundRunner\n"
        "from .._sync._store import Store\n"
    )
    used: Counter[str] = Counter()
    assert unasync.unasync_source(source, used) == expected
    assert used["_async_module"] == 2


def test_names_in_all_are_code(unasync: ModuleType) -> None:
    source = '__all__ = ["AsyncCache", "async_sleep", "Published"]\nNAMES = ["AsyncCache"]\n'
    expected = '__all__ = ["Cache", "sleep", "Published"]\nNAMES = ["AsyncCache"]\n'
    assert unasync.unasync_source(source, Counter()) == expected


def test_a_name_the_rules_rewrite_inside_an_fstring_is_an_error(unasync: ModuleType) -> None:
    with pytest.raises(SystemExit, match=r"x\.py:2: an f-string holds aclose"):
        unasync.unasync_source('x = 1\nmessage = f"{reader.aclose}"\n', Counter(), "x.py")
    with pytest.raises(SystemExit, match="an f-string holds await"):
        unasync.unasync_source('async def f():\n    return f"{await g()}"\n', Counter(), "y.py")


def _fake_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unasync: ModuleType, source: str) -> Path:
    async_dir, sync_dir = tmp_path / "_async", tmp_path / "_sync"
    async_dir.mkdir()
    sync_dir.mkdir()
    (async_dir / "mod.py").write_text(source)
    monkeypatch.setattr(unasync, "ROOT", tmp_path)
    monkeypatch.setattr(unasync, "PAIRS", [(async_dir, sync_dir)])
    monkeypatch.setattr(unasync, "ruff", lambda text, path: text)
    return sync_dir


def test_a_rule_that_rewrites_nothing_is_reported(
    unasync: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_tree(tmp_path, monkeypatch, unasync, "async def f() -> None:\n    await g()\n")
    assert "aclose" in unasync.unused_rules(Counter({"await": 1}))
    assert "await" not in unasync.unused_rules(Counter({"await": 1}))
    with pytest.raises(SystemExit, match=r"rewrote nothing in any file: .*aclose.*delete them"):
        unasync.plan()


def test_check_fails_on_stale_and_stray_files(
    unasync: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(unasync, "RULES", ("async def", "await"))
    sync_dir = _fake_tree(tmp_path, monkeypatch, unasync, "async def f() -> None:\n    await g()\n")
    assert unasync.main(["--check"]) == 1
    assert "stale generated file: _sync/mod.py" in capsys.readouterr().out
    assert unasync.main([]) == 0
    assert (sync_dir / "mod.py").read_text().endswith("def f() -> None:\n    g()\n")
    assert unasync.main(["--check"]) == 0
    (sync_dir / "extra.py").write_text("")
    assert unasync.main(["--check"]) == 1
    assert "stray file in a generated directory: _sync/extra.py" in capsys.readouterr().out
