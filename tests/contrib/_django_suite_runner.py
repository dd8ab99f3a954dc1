"""Run Django's own ``BaseCacheTests`` against ``DaramjweeCache``, in a process of its own.

``python _django_suite_runner.py SPEC_JSON RESULT_JSON``: ``SPEC_JSON`` holds
``tests_dir`` (a directory holding Django's ``cache`` test package, extracted
from the sdist), ``location`` and ``options`` (the ``CACHES`` entry under
test) and ``not_applicable`` (``{test name: reason}``, skipped).  The result
lists every case by outcome; test_django_suite.py asserts on it.
"""

from __future__ import annotations

import json
import sys
import unittest
from typing import Any

import django
from django.conf import settings


def main(spec_path: str, result_path: str) -> None:
    with open(spec_path) as file:
        spec = json.load(file)
    sys.path.insert(0, spec["tests_dir"])
    settings.configure(
        SECRET_KEY="django-suite-" + "k" * 50,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "cache"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    )
    django.setup()
    from cache.tests import BaseCacheTests, caches_setting_for_tests  # noqa: PLC0415 (Django's, after setup)
    from django.test import TestCase, override_settings  # noqa: PLC0415
    from django.test.runner import DiscoverRunner  # noqa: PLC0415

    backend = "daramjwee.contrib.django.DaramjweeCache"
    caches = caches_setting_for_tests(BACKEND=backend, LOCATION=spec["location"], OPTIONS=spec["options"])

    class DaramjweeCacheTests(BaseCacheTests, TestCase):  # type: ignore[misc]
        pass

    for name, reason in spec["not_applicable"].items():
        setattr(DaramjweeCacheTests, name, unittest.skip(reason)(getattr(BaseCacheTests, name)))
    DaramjweeCacheTests = override_settings(CACHES=caches)(DaramjweeCacheTests)

    runner = DiscoverRunner(verbosity=0, interactive=False)
    runner.setup_test_environment()
    databases = runner.setup_databases()
    try:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(DaramjweeCacheTests)
        result = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(suite)
    finally:
        runner.teardown_databases(databases)
        runner.teardown_test_environment()
    from daramjwee.contrib.django import close_chains  # noqa: PLC0415

    close_chains()
    outcome: dict[str, Any] = {
        "run": result.testsRun,
        "defined": sorted(name for name in dir(BaseCacheTests) if name.startswith("test_")),
        "failures": {test.id(): trace for test, trace in result.failures},
        "errors": {test.id(): trace for test, trace in result.errors},
        "skipped": {test.id().rsplit(".", 1)[1]: reason for test, reason in result.skipped},
        "unexpected_successes": [test.id() for test in result.unexpectedSuccesses],
    }
    with open(result_path, "w") as file:
        json.dump(outcome, file)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
