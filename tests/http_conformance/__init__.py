"""The public HTTP caching conformance suite (``http-cache-tests``, behind cache-tests.fyi) through nginx and daramjwee.

The suite is installed unmodified from npm (pinned, into
``~/.cache/daramjwee/http-cache-tests-<version>`` or ``$DARAMJWEE_HTTP_CACHE_TESTS_DIR``).
A run starts its origin server on a free loopback port and three proxies in
front of it: nginx ``proxy_cache`` (configured as the suite's own docker
setup configures it), ``daramjwee serve``, and ``CacheMiddleware`` over a
small reverse-proxy ASGI app on uvicorn (``middleware_proxy.py``, with
serve's options).  It runs the suite's cli against nginx and serve at once,
then against the middleware, and reports the tests each passes per test
group (the group ids of the suite's ``tests/index.mjs``).  Everything
listens on 127.0.0.1 only.

Run it as a command (from the repository root)::

    PYTHONPATH=src python -m tests.http_conformance [--json-dir DIR] [--id TEST_ID] [--proxy NAME]

``tests/server/test_http_conformance.py`` runs it under pytest.  Needs
Node.js and npm (the suite), nginx, the ``serve`` extra, httpx and uvicorn.
"""

from ._run import CLI_TIMEOUT, PROXIES, Conformance, explain, run_conformance
from ._suite import SUITE_NAME, SUITE_VERSION, Group, HarnessError, Suite, default_install_dir, install_suite

__all__ = [
    "CLI_TIMEOUT",
    "PROXIES",
    "SUITE_NAME",
    "SUITE_VERSION",
    "Conformance",
    "Group",
    "HarnessError",
    "Suite",
    "default_install_dir",
    "explain",
    "install_suite",
    "run_conformance",
]
