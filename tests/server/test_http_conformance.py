"""The public HTTP caching conformance suite (``http-cache-tests``) through nginx and ``daramjwee serve``.

One run per module (about 15 s once the suite is installed; the first run
installs it from npm): the suite's origin, nginx ``proxy_cache`` and
``daramjwee serve`` as real processes on loopback, the suite's cli against
both proxies at once (see ``tests/http_conformance``).  Print the full
table with ``PYTHONPATH=src python -m tests.http_conformance``.

- the harness works: nginx passes what it is known to pass;
- a ratchet: daramjwee passes at least ``FLOOR`` tests;
- the bar: daramjwee passes at least as many tests as nginx, and every test
  of ``FOCUS`` that nginx passes.
"""

from __future__ import annotations

import warnings

import pytest

from http_conformance import Conformance, run_conformance

NGINX_FLOOR = 150
"""nginx 1.22 passes 186 of the 350 tests of http-cache-tests 0.4.5 here, as the suite publishes for nginx 1.18."""

FLOOR = 282
"""The fewest tests daramjwee must pass: 286-289 of 350 when measured (2026-11-30, with HEAD freshening), less a margin
of the few tests whose outcome depends on timing on a loaded 2-core machine.  Raise it as serve improves."""

FOCUS = ("cc-response", "auth", "vary")
"""Groups (the suite's ids) where daramjwee must not fail a test that nginx passes."""

_RUN_TIMEOUT = 900  # the first run installs the suite from npm; a run then takes about 15 s


@pytest.fixture(scope="module")
def conformance() -> Conformance:
    """One run of the whole suite through both proxies; every process is stopped before it returns."""
    return run_conformance()


def _behind_in_focus(conformance: Conformance) -> dict[str, str]:
    """The tests of ``FOCUS`` that nginx passes and daramjwee fails: id -> the suite's message."""
    behind = conformance.behind("daramjwee", "nginx")
    return {test: conformance.failure("daramjwee", test) for group in FOCUS for test in behind.get(group, [])}


def _listing(failures: dict[str, str]) -> str:
    return "\n".join(f"  {test}: {message}" for test, message in sorted(failures.items()))


@pytest.mark.timeout(_RUN_TIMEOUT)
def test_harness_runs_the_suite_through_nginx(conformance: Conformance) -> None:
    assert "nginx" not in conformance.errors, conformance.errors["nginx"]
    assert len(conformance.tests()) >= 300, "the suite's cli ran fewer tests than 0.4.5 has"
    passed = len(conformance.passed("nginx"))
    assert passed >= NGINX_FLOOR, f"nginx passed only {passed} tests:\n{conformance.report()}"


@pytest.mark.timeout(_RUN_TIMEOUT)
def test_daramjwee_keeps_what_it_passed(conformance: Conformance) -> None:
    assert "daramjwee" not in conformance.errors, conformance.errors["daramjwee"]
    passed = conformance.passed("daramjwee")
    assert len(passed) >= FLOOR, f"daramjwee passed {len(passed)} tests, fewer than {FLOOR}:\n{conformance.report()}"
    if len(passed) > FLOOR + 10:
        warnings.warn(f"daramjwee passes {len(passed)} tests: raise FLOOR (now {FLOOR})", stacklevel=1)


@pytest.mark.timeout(_RUN_TIMEOUT * 2)
def test_daramjwee_conforms_at_least_as_nginx(conformance: Conformance) -> None:
    assert not conformance.errors, conformance.errors
    passed, nginx = len(conformance.passed("daramjwee")), len(conformance.passed("nginx"))
    assert passed >= nginx, f"daramjwee passed {passed} tests, nginx {nginx}:\n{conformance.report()}"
    behind = _behind_in_focus(conformance)
    if behind:  # a failure must happen twice to count: a loaded machine can fail one run's setup (a 502 on its PUT)
        again = _behind_in_focus(run_conformance())
        behind = {test: message for test, message in behind.items() if test in again}
    assert not behind, f"daramjwee fails tests of {', '.join(FOCUS)} that nginx passes:\n{_listing(behind)}"
