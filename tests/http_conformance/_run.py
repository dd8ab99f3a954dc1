"""One conformance run: the suite's origin; nginx, ``daramjwee serve`` and ``CacheMiddleware`` in front of it; its cli
against each."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

from ._processes import Child, start_daramjwee, start_middleware, start_nginx, start_origin
from ._suite import SUITE_NAME, Group, HarnessError, Suite, install_suite, node_environment

__all__ = ["CLI_TIMEOUT", "PROXIES", "Conformance", "explain", "run_conformance"]

PROXIES = ("nginx", "daramjwee", "middleware")
"""nginx ``proxy_cache``; ``daramjwee serve``; ``CacheMiddleware`` over a reverse proxy on uvicorn (same options)."""
REFERENCE = "nginx"
CLI_TIMEOUT = 300.0
"""Seconds one run of the suite's cli may take: 0.4.5 sets no timeout of its own, so a proxy that never answers
a request would hang it for ever (a whole run takes about 15 s)."""
DEFAULT_MEMORY = "1GiB"


@dataclasses.dataclass(frozen=True)
class Conformance:
    """The suite's results for each proxy, by test id, and what went wrong with a proxy's run (``errors``).

    A result is the suite's own: ``true`` for a pass, else ``[kind, message]``
    (kind ``Assertion``, ``Setup``, ...), as in the suite's ``results/*.json``.
    """

    suite: str
    groups: tuple[Group, ...]
    results: Mapping[str, Mapping[str, object]]
    errors: Mapping[str, str]
    seconds: float

    def tests(self) -> list[str]:
        """The ids of the tests the cli ran (browser-only ones it skips), in the groups' order."""
        ran = {test for results in self.results.values() for test in results}
        everything = [test for group in self.groups for test in group.tests]
        return [test for test in everything if test in ran] if ran else everything

    def passed(self, proxy: str) -> set[str]:
        return {test for test, result in self.results.get(proxy, {}).items() if result is True}

    def failure(self, proxy: str, test: str) -> str:
        """Why ``test`` failed through ``proxy``: the suite's message (``""`` when it passed)."""
        result = self.results.get(proxy, {}).get(test)
        if result is True:
            return ""
        if isinstance(result, list) and len(result) == 2:
            return f"{result[0]}: {str(result[1]).strip()}"
        return "not run" if result is None else json.dumps(result)

    def group_tests(self, group: Group) -> list[str]:
        ran = set(self.tests())
        return [test for test in group.tests if test in ran]

    def behind(self, proxy: str = "daramjwee", reference: str = REFERENCE) -> dict[str, list[str]]:
        """Per group id: the tests ``reference`` passes and ``proxy`` does not (groups without any left out)."""
        ahead = self.passed(reference) - self.passed(proxy)
        behind = {group.id: [test for test in self.group_tests(group) if test in ahead] for group in self.groups}
        return {group: tests for group, tests in behind.items() if tests}

    def differ(self, proxy: str = "middleware", other: str = "daramjwee") -> dict[str, str]:
        """The tests one of ``proxy`` and ``other`` passes and the other fails: id -> who fails it, and why."""
        ahead, behind = self.passed(other) - self.passed(proxy), self.passed(proxy) - self.passed(other)
        differ = {test: f"{proxy} fails ({self.failure(proxy, test)})" for test in ahead}
        differ |= {test: f"{other} fails ({self.failure(other, test)})" for test in behind}
        return {test: differ[test] for test in self.tests() if test in differ}

    def table(self) -> str:
        """Markdown: ``group | tests | nginx | daramjwee | middleware`` passes per group, then the totals."""
        lines = [f"| group | tests | {' | '.join(PROXIES)} |", "| --- | ---: |" + " ---: |" * len(PROXIES)]
        for group in self.groups:
            tests = set(self.group_tests(group))
            if tests:
                counts = " | ".join(str(len(self.passed(proxy) & tests)) for proxy in PROXIES)
                lines.append(f"| {group.id} | {len(tests)} | {counts} |")
        totals = " | ".join(f"**{len(self.passed(proxy))}**" for proxy in PROXIES)
        lines.append(f"| **total** | **{len(self.tests())}** | {totals} |")
        return "\n".join(lines)

    def report(self) -> str:
        """The table; the tests daramjwee and the middleware fail that nginx passes (per group, with the suite's
        message); the tests where the middleware and daramjwee differ; errors."""
        parts = [f"{self.suite}: tests passed through each proxy ({self.seconds:.0f} s)", "", self.table()]
        for proxy in PROXIES[1:]:
            behind = self.behind(proxy)
            count = sum(map(len, behind.values()))
            parts += ["", f"Tests {proxy} fails that nginx passes ({count}):"]
            for group, tests in behind.items():
                parts.append(f"- {group} ({len(tests)}):")
                parts += [f"  - {test}: {self.failure(proxy, test)}" for test in tests]
        differ = self.differ()
        parts += ["", f"Tests where the middleware and daramjwee differ ({len(differ)}):"]
        parts += [f"- {test}: {why}" for test, why in differ.items()]
        for proxy, error in self.errors.items():
            parts += ["", f"ERROR ({proxy}): {error}"]
        return "\n".join(parts)

    def write(self, directory: Path) -> None:
        """``<proxy>.json`` (the suite's raw results), ``groups.json`` and ``report.md`` into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        for proxy, results in self.results.items():
            (directory / f"{proxy}.json").write_text(json.dumps(results, indent=2) + "\n")
        groups = [dataclasses.asdict(group) for group in self.groups]
        (directory / "groups.json").write_text(json.dumps(groups, indent=2) + "\n")
        (directory / "report.md").write_text(self.report() + "\n")


@dataclasses.dataclass
class _Bench:
    """The origin and the proxies in front of it, running; ``errors`` has the proxies that did not start."""

    suite: Suite
    directory: Path
    origin: Child
    proxies: dict[str, Child]
    errors: dict[str, str]


def _start_bench(
    suite: Suite,
    directory: Path,
    cleanups: ExitStack,
    *,
    memory: str,
    serve_args: tuple[str, ...],
    only: tuple[str, ...] = PROXIES,
) -> _Bench:
    origin = start_origin(suite, directory, cleanups)
    starters: dict[str, Callable[[], Child]] = {
        "nginx": lambda: start_nginx(origin, directory, cleanups),
        "daramjwee": lambda: start_daramjwee(origin, directory, cleanups, memory=memory, extra=serve_args),
        "middleware": lambda: start_middleware(origin, directory, cleanups, memory=memory),
    }
    proxies, errors = {}, {}
    for name, start in starters.items():
        if name not in only:
            continue
        try:
            proxies[name] = start()
        except HarnessError as error:
            errors[name] = f"did not start: {error}"
    return _Bench(suite, directory, origin, proxies, errors)


def _start_cli(
    bench: _Bench, proxy: str, cleanups: ExitStack, test: str = ""
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """The suite's cli (``npm run cli --base=... [--id=...]``'s command) against ``proxy``, output to files.

    ``cleanups`` kills it if it is still running when they close.
    """
    out, err = bench.directory / f"cli-{proxy}.out", bench.directory / f"cli-{proxy}.err"
    env = node_environment(bench.suite, base=bench.proxies[proxy].url, id=test)
    command = ["node", "--no-warnings", str(bench.suite.cli)]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=bench.suite.root, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
    cleanups.callback(_kill, process)
    return process, out, err


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def _finish_cli(process: subprocess.Popen[bytes], timeout: float, deadline: float) -> str | None:
    """Wait for the cli until ``deadline`` (monotonic), then kill it. An error message, or ``None``."""
    try:
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill(process)
        return f"the suite's cli did not finish in {timeout:.0f} s (a request the proxy never answered?)"
    return None


def _parse(out: Path, err: Path) -> tuple[dict[str, object], str | None]:
    """The results the cli printed (JSON after any other output), or an error with its output's tail."""
    text = out.read_text(errors="replace")
    start = text.find("{")
    try:
        results = json.loads(text[start:]) if start >= 0 else None
    except ValueError:
        results = None
    if isinstance(results, dict) and results:
        return {str(test): result for test, result in results.items()}, None
    tail = (err.read_text(errors="replace") or text)[-3000:]
    return {}, f"the suite's cli printed no results; it printed:\n{tail}"


def _batches(proxies: list[str]) -> list[list[str]]:
    """nginx and serve at once, then the middleware alone: a third proxy sharing the two cores would slow serve down
    enough to fail tests whose outcome depends on timing (an ``Age`` a second off), as it did before the middleware."""
    first = [proxy for proxy in proxies if proxy != "middleware"]
    return [batch for batch in (first, [proxy for proxy in proxies if proxy == "middleware"]) if batch]


def run_conformance(
    install_dir: Path | None = None,
    *,
    memory: str = DEFAULT_MEMORY,
    serve_args: tuple[str, ...] = (),
    timeout: float = CLI_TIMEOUT,
    sequential: bool = False,
    logs: Path | None = None,
    proxies: tuple[str, ...] = PROXIES,
) -> Conformance:
    """Run the whole suite through nginx and ``daramjwee serve`` at once, then ``CacheMiddleware`` (or each in turn).

    Installs the suite first if needed (:func:`install_suite`).  A proxy that
    fails to start, exits during the run, or whose cli run fails has its
    message in ``errors``; a failure of the harness itself (the suite, its
    origin) raises :class:`HarnessError`.  ``logs``: a directory to copy
    every process's log and the cli's raw output to.  ``proxies``: run only
    these (of :data:`PROXIES`; ``ValueError`` for another name).
    """
    unknown = [proxy for proxy in proxies if proxy not in PROXIES]
    if unknown or not proxies:
        raise ValueError(f"proxies must be some of {', '.join(PROXIES)}, got {', '.join(proxies) or 'none'}")
    suite = install_suite(install_dir)
    groups = suite.groups()
    results: dict[str, dict[str, object]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="daramjwee-conformance-") as name, ExitStack() as cleanups:
        directory = Path(name)
        directory.chmod(0o755)  # nginx's workers run as another user when nginx is started by root
        try:
            bench = _start_bench(suite, directory, cleanups, memory=memory, serve_args=serve_args, only=proxies)
            errors = bench.errors
            batches = [[proxy] for proxy in bench.proxies] if sequential else _batches(list(bench.proxies))
            for batch in batches:
                clis = {proxy: _start_cli(bench, proxy, cleanups) for proxy in batch}
                deadline = time.monotonic() + timeout
                for proxy, (process, out, err) in clis.items():
                    error = _finish_cli(process, timeout, deadline)
                    results[proxy], parse_error = _parse(out, err) if error is None else ({}, None)
                    if error or parse_error:
                        errors[proxy] = str(error or parse_error)
            for proxy, child in bench.proxies.items():
                status = child.exited()
                if status is not None:
                    errors[proxy] = f"{child.name} exited with status {status} during the run:\n{child.log_tail()}"
            if bench.origin.exited() is not None:
                raise HarnessError(f"the suite's origin server exited during the run:\n{bench.origin.log_tail()}")
        finally:
            cleanups.close()  # stop every process before copying their logs
            if logs is not None:
                _copy_logs(directory, logs)
    seconds = time.monotonic() - started
    return Conformance(f"{SUITE_NAME} {suite.version}", groups, results, errors, seconds)


def _copy_logs(directory: Path, logs: Path) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    for path in [*directory.glob("*.log"), *directory.glob("cli-*")]:
        shutil.copyfile(path, logs / path.name)
    for path in directory.glob("nginx/*.log"):
        shutil.copyfile(path, logs / f"nginx-{path.name}")


def explain(
    test: str,
    install_dir: Path | None = None,
    *,
    memory: str = DEFAULT_MEMORY,
    serve_args: tuple[str, ...] = (),
) -> str:
    """One test through each proxy in turn with the suite's dump: requests, responses and the result, as text."""
    suite = install_suite(install_dir)
    parts = []
    with tempfile.TemporaryDirectory(prefix="daramjwee-conformance-") as name, ExitStack() as cleanups:
        directory = Path(name)
        directory.chmod(0o755)
        bench = _start_bench(suite, directory, cleanups, memory=memory, serve_args=serve_args)
        for proxy in PROXIES:
            parts.append(f"######## {proxy}")
            if proxy not in bench.proxies:
                parts.append(bench.errors[proxy])
                continue
            seen = bench.origin.log.stat().st_size
            process, out, err = _start_cli(bench, proxy, cleanups, test)
            error = _finish_cli(process, CLI_TIMEOUT, time.monotonic() + CLI_TIMEOUT)
            parts += [out.read_text(errors="replace"), err.read_text(errors="replace"), error or ""]
            with bench.origin.log.open("rb") as log:
                log.seek(seen)
                parts += ["######## the origin server's side", log.read().decode(errors="replace")]
    return "\n".join(part for part in parts if part)
