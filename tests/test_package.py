"""The package as an application sees it: its public names and its manners."""

from __future__ import annotations

import ast
import email.parser
import importlib
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

import daramjwee as dj


def test_every_public_name_is_exported() -> None:
    assert sorted(dj.__all__) == dj.__all__
    for name in dj.__all__:
        assert hasattr(dj, name), name
    spec_names = {"Cache", "AsyncCache", "Config", "MemStore", "AsyncMemStore", "FileStore", "AsyncFileStore"}
    spec_names |= {"Metadata", "FetchResult", "Response", "Status", "Writer", "DaramjweeError", "NotFound"}
    spec_names |= {"NotModified", "CacheableNotFound", "CacheClosed", "ConfigError", "TierError"}
    spec_names |= {"BackgroundJobRejected"}
    assert spec_names <= set(dj.__all__)


def test_an_unconfigured_application_sees_no_library_logs_on_stderr() -> None:
    script = textwrap.dedent(
        """
        import daramjwee as dj
        from daramjwee.testing import FaultyStore

        broken = FaultyStore(dj.MemStore())
        broken.fail("get_stream")
        with dj.Cache(stores=[dj.MemStore(), broken]) as cache:
            print(cache.get_bytes("k", lambda old: dj.FetchResult(b"value")))
        print(cache.stats().tiers[1].errors)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["b'value'", "1"], "the failure happened and was counted"
    assert result.stderr == ""


def test_importing_daramjwee_imports_no_test_support_and_testing_no_pytest() -> None:
    script = textwrap.dedent(
        """
        import sys
        import daramjwee
        loaded = sorted(name for name in sys.modules if name.startswith("daramjwee."))
        assert not [name for name in loaded if name.startswith("daramjwee.testing")], loaded
        assert not [name for name in loaded if name.startswith(("daramjwee.server", "daramjwee.bench"))], loaded
        import daramjwee.testing
        assert "pytest" not in sys.modules, "daramjwee.testing imported pytest"
        assert "daramjwee.testing._loopback" not in sys.modules, "the loopback servers are imported on first use"
        assert daramjwee.testing.RedisServer.__module__ == "daramjwee.testing._loopback"
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_testing_exports_its_public_names() -> None:
    from daramjwee import testing  # noqa: PLC0415

    assert sorted(testing.__all__) == testing.__all__
    for name in testing.__all__:
        assert getattr(testing, name) is not None, name
    assert {"FaultyStore", "AsyncFaultyStore", "StoreConformance", "AsyncStoreConformance", "StoreFault"} <= set(
        testing.__all__
    )


_SOURCE = Path(dj.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(_SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """Every import in ``path`` (at any depth, lazy ones too) as (line, absolute module, names imported from it)."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module, [alias.name for alias in node.names]))
    return found


# Each application and the modules of daramjwee, besides the public ones, that it may import: its own.
_APPS = {
    "server": ("daramjwee.server",),
    "bench": ("daramjwee.bench",),
    # Each integration may import its own modules and the core's public names.  CacheMiddleware is serve's HTTP cache
    # in front of an app (one implementation of the HTTP rules), and CachedResponse matches If-None-Match as the core.
    "contrib/__init__.py": (),
    "contrib/django": ("daramjwee.contrib.django",),
    "contrib/asgi": ("daramjwee.contrib.asgi", "daramjwee.server", "daramjwee._etag"),
    "contrib/otel": ("daramjwee.contrib.otel",),
    "_demo.py": (),
    "_cachecmd.py": ("daramjwee._inspection",),  # reads the record format, which is not public
    "_cli.py": ("daramjwee._demo", "daramjwee.server", "daramjwee.bench", "daramjwee._cachecmd"),  # it runs them
}


def _app_files() -> list[tuple[Path, tuple[str, ...]]]:
    files = []
    for app, own in _APPS.items():
        path = _SOURCE / app
        files += [(file, own) for file in sorted(path.rglob("*.py"))] if path.is_dir() else [(path, own)]
    return files


def test_the_applications_import_only_public_names_of_the_core() -> None:
    """``server``, ``bench``, ``_demo.py``, ``_cachecmd.py`` and ``_cli.py`` use daramjwee as any application would."""
    assert len(_app_files()) > 30
    wrong = []
    for path, own in _app_files():
        for line, module, names in _imports(path):
            where = f"{path.relative_to(_SOURCE)}:{line}: {module}"
            if module.partition(".")[0] != "daramjwee" or any(module == o or module.startswith(f"{o}.") for o in own):
                continue
            if any(part.startswith("_") for part in module.split(".")):
                wrong.append(f"{where} is a private module")
                continue
            public = set(getattr(importlib.import_module(module), "__all__", ()))
            wrong += [f"{where} has no public {name}" for name in names if name not in public]
    assert not wrong, "\n".join(wrong)


def _cycle(package: str) -> list[str] | None:
    """An import cycle among the modules of ``package`` (lazy imports count), or ``None``."""
    paths = {_module_name(path): path for path in sorted((_SOURCE / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        edges = graph[name] = set()
        for _, module, names in _imports(path):
            edges |= {f"{module}.{item}" for item in names if f"{module}.{item}" in paths}
            if module in paths and not all(f"{module}.{item}" in paths for item in names):
                edges.add(module)
    done: set[str] = set()

    def visit(name: str, stack: list[str]) -> list[str] | None:
        if name in stack:
            return [*stack[stack.index(name) :], name]
        if name in done:
            return None
        for target in sorted(graph[name]):
            if cycle := visit(target, [*stack, name]):
                return cycle
        done.add(name)
        return None

    for name in graph:
        if cycle := visit(name, []):
            return cycle
    return None


@pytest.mark.parametrize("package", ["server", "bench", "testing", "contrib"])
def test_no_import_cycle_among_the_modules_of(package: str) -> None:
    assert _cycle(package) is None, " -> ".join(_cycle(package) or [])


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "daramjwee"
    (fake / "app").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "app" / "__init__.py").write_text("from ._a import A\n")
    (fake / "app" / "_a.py").write_text("def f():\n    from ._b import B\n")
    (fake / "app" / "_b.py").write_text("from ._a import f\n")
    monkeypatch.setattr(sys.modules[__name__], "_SOURCE", fake)
    assert _cycle("app") == ["daramjwee.app._a", "daramjwee.app._b", "daramjwee.app._a"]


def test_mypy_accepts_the_good_uses_of_the_api_and_rejects_each_bad_one() -> None:
    """Rules A3 and D6 for type checkers: every option of ``Cache``/``AsyncCache`` is a typed keyword, and a
    function decorated with ``cached`` keeps its parameters and return type.

    ``tests/typecheck/bad_*.py`` mark each wrong use with ``# type: ignore[code]``; with
    ``--warn-unused-ignores`` a marked line that type-checks is an error, and so is any unmarked error.
    """
    pytest.importorskip("mypy")
    root = Path(__file__).resolve().parent.parent
    files = sorted(str(path.relative_to(root)) for path in (root / "tests" / "typecheck").glob("*.py"))
    assert {"tests/typecheck/good_options.py", "tests/typecheck/bad_cached.py"} <= set(files)
    command = [sys.executable, "-m", "mypy", "--strict", "--warn-unused-ignores", *files]
    # Run from the root: pyproject.toml's [tool.mypy] applies (mypy_path finds src/) and its .mypy_cache is reused.
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"no issues found in {len(files)} source files" in result.stdout


_SYNC_WORKLOAD = textwrap.dedent(
    """
    import sys, tempfile, time
    import daramjwee as dj

    assert "asyncio" not in sys.modules, "import daramjwee imported asyncio"
    assert not [name for name in sys.modules if name.startswith("daramjwee._async")], "nor the async flavour"
    with tempfile.TemporaryDirectory() as directory:
        cache = dj.Cache(
            stores=[dj.MemStore("64KiB"), dj.FileStore(directory, "1MiB")],
            positive_fresh_for=0.05,
        )
        with cache:
            fetched = []

            def fetch(old):
                fetched.append(old)
                return dj.FetchResult(b"x" * 100_000, dj.Metadata(stale_while_revalidate=60.0))

            with cache.get("big", fetch) as response:
                assert response.read() == b"x" * 100_000
            part = cache.get_bytes("big", fetch, byte_range=dj.ByteRange(0, 9))
            assert part and set(part) == {ord("x")}, part
            time.sleep(0.1)
            with cache.get("big", fetch) as response:  # stale: served, refreshed by a background thread
                assert response.stale
                response.read()
            with cache.set("written") as writer:
                writer.write(b"by a writer")
            assert cache.get_bytes("written", fetch) == b"by a writer"
            cache.set_value("value", {"a": [1, 2]})
            assert cache.get_value("value", lambda: None) == {"a": [1, 2]}

            @cache.cached(key="square:{n}")
            def square(n: int) -> int:
                return n * n

            assert square(7) == square(7) == 49
            cache.delete("big")
            cache.stats()
        assert len(fetched) >= 2
    assert "asyncio" not in sys.modules, sorted(name for name in sys.modules if "asyncio" in name)
    assert not [name for name in sys.modules if name.startswith("daramjwee._async")]
    print("sync ok")
    """
)


def test_a_sync_workload_with_memory_and_file_tiers_never_imports_asyncio() -> None:
    """Rule for sync-only users: ``import daramjwee`` and everything ``Cache`` does leave asyncio unloaded."""
    result = subprocess.run(
        [sys.executable, "-c", _SYNC_WORKLOAD], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["sync", "ok"]


def test_the_async_names_are_imported_on_first_use_and_work() -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        import daramjwee as dj

        assert "daramjwee._async._cache" not in sys.modules
        assert {"AsyncCache", "AsyncMemStore", "AsyncFetcher"} <= set(dir(dj))
        async def main():
            async def fetch(old):
                return dj.FetchResult(b"async value")
            async with dj.AsyncCache(stores=[dj.AsyncMemStore("1MiB")]) as cache:
                return await cache.get_bytes("k", fetch)
        print(asyncio.run(main()).decode())
        from daramjwee import AsyncFileStore, AsyncWriter
        print(AsyncFileStore.__module__, AsyncWriter.__name__)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["async value", "daramjwee._async._filestore AsyncWriter"]


def test_the_wheel_carries_the_license_the_version_and_the_metadata(tmp_path: Path) -> None:
    """``pip wheel`` of the project (a copy: the build writes into its tree), read back as an installer would."""
    root = Path(__file__).resolve().parent.parent
    project = tmp_path / "project"
    shutil.copytree(root / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(root / name, project / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q"]
    result = subprocess.run(
        [*command, "-w", str(tmp_path / "dist"), str(project)], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "dist").glob("daramjwee-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert license_text == (root / "LICENSE").read_text()
    assert license_text.startswith("MIT License\n\nCopyright (c) 2026 the daramjwee authors\n")
    assert {"daramjwee/py.typed", "daramjwee/_async/_cache.py", "daramjwee/server/_serve.py"} <= names
    assert metadata["Name"] == "daramjwee"
    assert metadata["Version"] == dj.__version__, "pyproject reads the version from daramjwee.__version__"
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    classifiers = set(metadata.get_all("Classifier") or [])
    assert {
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Framework :: AsyncIO",
        "Framework :: Django",
        "Typing :: Typed",
        "Topic :: Internet :: Proxy Servers",
    } <= classifiers
    assert any(classifier.startswith("Development Status :: ") for classifier in classifiers)
    assert any(classifier.startswith("Operating System :: ") for classifier in classifiers)
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(urls)
    assert "caching proxy" in metadata["Keywords"].split(",")
    assert metadata["Summary"].startswith("An N-tier streaming cache")
    extras = set(metadata.get_all("Provides-Extra") or [])
    declared = set(tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert extras == declared
    assert {"cli", "redis", "s3", "serve", "django", "otel"} <= extras
    assert "daramjwee = daramjwee._cli:main" in entry_points
