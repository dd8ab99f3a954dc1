"""Django's own cache backend tests (``BaseCacheTests``, which LocMem, file, DB and Redis backends pass) against ours.

The sdist of the installed Django is downloaded once (``pip download``) into
``$DARAMJWEE_TEST_CACHE`` (default ``~/.cache/daramjwee-tests``), and its
``tests/cache`` package is extracted for the run, never into the repository.
Each chain runs the suite in a subprocess (Django's settings are
process-wide): every case passes but the ones listed in
:data:`NOT_APPLICABLE`, which are skipped, each for the reason given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import django
import pytest

from _servers import RedisServer

NOT_APPLICABLE = {
    "test_cull": (
        "entry-count culling (MAX_ENTRIES): the tiers are bounded by bytes, and the backend refuses "
        "MAX_ENTRIES with ImproperlyConfigured (test_django_backend.py checks that)"
    ),
    "test_zero_cull": "entry-count culling (CULL_FREQUENCY=0): refused like MAX_ENTRIES, as for test_cull",
    "test_cull_delete_when_store_empty": "sets the private _max_entries that LocMem/DB/file cull by; there is none",
}
"""Cases of ``BaseCacheTests`` that test what this backend does not have, and why."""

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def django_tests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding Django's ``cache`` test package, from the sdist of the installed version."""
    version = django.get_version()
    cache = Path(os.environ.get("DARAMJWEE_TEST_CACHE", Path.home() / ".cache" / "daramjwee-tests"))
    sdist = cache / f"django-{version}.tar.gz"
    if not sdist.exists():
        cache.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(cache)]
        done = subprocess.run([*command, f"django=={version}"], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"cannot download Django's sdist:\n{done.stderr}"
        assert sdist.exists(), f"pip download did not leave {sdist}:\n{done.stdout}"
    target = tmp_path_factory.mktemp("django-tests")
    prefix = f"django-{version}/tests/cache/"
    with tarfile.open(sdist) as archive:
        members = [member for member in archive.getmembers() if member.name.startswith(prefix) and member.isfile()]
        for member in members:
            member.name = "cache/" + member.name[len(prefix) :]
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            archive.extractall(target, members=members, filter="data")
        else:
            archive.extractall(target, members=members)  # the members are the sdist's regular files, renamed
    assert (target / "cache" / "tests.py").exists()
    return target


def run_suite(tests: Path, work: Path, location: str, options: dict[str, object]) -> dict[str, Any]:
    spec = {"tests_dir": str(tests), "location": location, "options": options, "not_applicable": NOT_APPLICABLE}
    (work / "spec.json").write_text(json.dumps(spec))
    src = str(HERE.parent.parent / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(HERE / "_django_suite_runner.py"), str(work / "spec.json"), str(work / "out.json")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=110, check=False)
    assert (work / "out.json").exists(), f"the suite did not finish:\n{done.stdout}\n{done.stderr}"
    result = json.loads((work / "out.json").read_text())
    failures = {**result["failures"], **result["errors"]}
    run, skipped = result["run"], len(result["skipped"])
    print(
        f"\nDjango {django.get_version()} BaseCacheTests, LOCATION={location!r} OPTIONS={options}: {run} cases, "
        f"{run - skipped - len(failures)} passed, {len(failures)} failed, {skipped} skipped as not applicable"
    )
    assert not failures, "\n".join(f"{name}:\n{trace}" for name, trace in failures.items())
    assert result["skipped"] == NOT_APPLICABLE
    assert not result["unexpected_successes"]
    assert run == len(result["defined"])  # every case of the mixin ran (or was skipped above)
    return result


def test_memory_chain(django_tests: Path, tmp_path: Path) -> None:
    run_suite(django_tests, tmp_path, "", {"memory": "32MiB"})


def test_memory_and_file_chain(django_tests: Path, tmp_path: Path) -> None:
    run_suite(django_tests, tmp_path, str(tmp_path / "files"), {"memory": "32MiB", "disk": "256MiB"})


def test_memory_file_and_redis_chain(
    django_tests: Path, tmp_path: Path, redis_server: RedisServer, redis_prefix: str
) -> None:
    options = {"memory": "32MiB", "disk": "256MiB", "redis": redis_server.url, "redis_prefix": redis_prefix}
    run_suite(django_tests, tmp_path, str(tmp_path / "files"), options)
