"""Scenario ``serve``: ``daramjwee serve`` against nginx ``proxy_cache`` in front of the same origin, under ``wrk``.

Everything runs on loopback from a temporary directory, sharing the
machine's cores with ``wrk``, as a same-machine comparison must:

- the origin: nginx serving static files of 1 KiB and 1 MiB;
- ``nginx``: nginx with ``proxy_cache`` in front of it (its cache is files on
  disk, read through the page cache; ``worker_processes auto``);
- ``dj-memory``: ``daramjwee serve`` with a memory tier large enough for both
  objects, so hits come from memory;
- ``dj-file``: ``daramjwee serve`` with a memory tier too small for them, so
  every hit comes from the file tier;
- ``ceiling``: granian, run as ``daramjwee serve`` runs it, serving the same
  objects from an ASGI app that does nothing but answer
  (:mod:`._serve_ceiling`): what any ASGI app could reach on this server.

Both ``daramjwee serve`` instances and the ceiling run one worker process per CPU, sharing
their file tier's directory.  Every proxy is warmed (each object fetched
twice) before measuring.  A sample is one ``wrk -t2`` run of 2 s (1 s quick)
against one object: ``-c32`` for the 1 KiB object, ``-c8`` for the 1 MiB one.

- ``{proxy}-{1k,1m}`` (req/s): the run's requests per second;
- ``{proxy}-{1k,1m}-p99`` (s): the same run's 99th-percentile latency, at
  saturation;
- ``{proxy}-{1k,1m}-cpu`` (s): the CPU time (user and system) the server's
  processes spent per request during that run, read from ``/proc``: steadier
  than the rate on a busy machine, and what an app adds to its server;
- ``{proxy}-{1k,1m}-paced-p99`` (s): the 99th-percentile latency of a
  second run, the same connections each pausing between requests (4 ms for
  1 KiB, 10 ms for 1 MiB), which offers at most a third of what either proxy
  serves at saturation.

Ratios: daramjwee's requests per second over nginx's, per object size and
serving tier (goals: at least 0.5 for 1 KiB and 0.9 for 1 MiB), and
daramjwee's p99 over nginx's (goal: at most 1.5 at the paced load); the
ceiling's requests per second and paced p99 over nginx's, daramjwee's
requests per second over the ceiling's, and each server's CPU per request
over nginx's (no goal: they say how much of a gap the server leaves to the
app, and what the app costs).  At
saturation a closed loop's latency is its connections over its throughput,
so the p99 there mostly restates the throughput ratio; it is reported
without a goal.

Needs ``nginx`` and ``wrk`` on ``PATH`` (Debian packages) and the ``serve`` extra.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from ...testing import HttpServer, free_port
from .._model import Case, Ratio
from ._common import Options, Paired

__all__ = ["serve", "serve_missing"]

OBJECTS = {"1k": ("/small.bin", 1 << 10, 32, 4), "1m": ("/big.bin", 1 << 20, 8, 10)}
"""Object label: (path, size, wrk connections, each connection's pause between requests in the paced run, in ms)."""

GOALS = {"1k": 0.5, "1m": 0.9}
"""The least daramjwee's requests per second may be, as a share of nginx's (issue 12), per object size."""
P99_GOAL = 1.5
"""The most daramjwee's p99 latency at the paced load may be, as a multiple of nginx's."""
_PACE = "function delay() return {ms} end\n"
"""A wrk script: each connection pauses ``ms`` between a response and its next request."""

_NGINX = """
worker_processes auto;
error_log {root}/error-{name}.log error;
pid {root}/nginx-{name}.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    {extra}
    server {{
        listen 127.0.0.1:{port};
        {location}
    }}
}}
"""
_ORIGIN_LOCATION = "location / {{ root {root}/www; etag on; expires 1h; }}"
"""The origin says how long its files are fresh (``Cache-Control: max-age=3600``): both caches keep them that long."""
_PROXY_CACHE = (
    "proxy_cache_path {root}/nginx-cache levels=1:2 keys_zone=bench:10m max_size=1g inactive=1h use_temp_path=off;"
)
_PROXY_LOCATION = """location / {{
            proxy_pass http://127.0.0.1:{origin_port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_valid 200 1h;
        }}"""
_LATENCY_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def serve_missing(options: Options) -> str | None:
    """What this machine lacks to run the scenario, or ``None``."""
    for program in ("nginx", "wrk"):
        if shutil.which(program) is None:
            return f"{program} is not on PATH (Debian: apt-get install {program})"
    if importlib.util.find_spec("granian") is None:
        return "granian is missing: pip install 'daramjwee[serve]'"
    return None


def _started(server: HttpServer, cleanups: ExitStack) -> HttpServer:
    server.start()
    cleanups.callback(server.stop)
    return server


def _nginx(root: Path, name: str, *, extra: str = "", location: str) -> HttpServer:
    port = free_port()
    config = root / f"nginx-{name}.conf"
    config.write_text(_NGINX.format(root=root, name=name, port=port, extra=extra, location=location))
    command = ["nginx", "-p", str(root), "-c", str(config), "-g", "daemon off;"]
    return HttpServer(command, port, probe=OBJECTS["1k"][0])


def _daramjwee(root: Path, name: str, origin: HttpServer, memory: str) -> HttpServer:
    port = free_port()
    command = [sys.executable, "-m", "daramjwee", "serve", "--origin", origin.url(""), "--port", str(port)]
    command += ["--memory", memory, "--cache-dir", str(root / f"cache-{name}"), "--fresh-for", "3600"]
    command += ["--workers", str(os.cpu_count() or 1)]
    return HttpServer(command, port, probe=OBJECTS["1k"][0])


def _ceiling(root: Path) -> HttpServer:
    port = free_port()
    command = [sys.executable, "-m", f"{__package__}._serve_ceiling", str(root / "www"), str(port)]
    command.append(str(os.cpu_count() or 1))
    return HttpServer(command, port, probe=OBJECTS["1k"][0])


def _warm(url: str) -> None:
    """Fetch ``url`` twice: the first fills the proxy's cache, the second is already a hit."""
    for _ in range(2):
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()


def _wrk(
    url: str, connections: int, seconds: int, server: HttpServer, script: Path | None = None
) -> Callable[[], tuple[float, float, float]]:
    """One ``wrk`` run (with the Lua ``script``, if any).

    Returns the requests per second, the p99 latency in seconds, and the CPU
    seconds ``server``'s processes spent per request meanwhile.  Raises
    ``RuntimeError`` on any failed request.
    """

    def run() -> tuple[float, float, float]:
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
        if script is not None:
            command += ["-s", str(script)]
        before = _cpu_seconds(server)
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        spent = _cpu_seconds(server) - before
        rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
        tail = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
        count = re.search(r"(\d+) requests in", output)
        if rate is None or tail is None or count is None or "Non-2xx or 3xx" in output or "Socket errors" in output:
            raise RuntimeError(f"wrk failed against {url}:\n{output}")
        latency = float(tail.group(1)) * _LATENCY_UNITS[tail.group(2)]
        return float(rate.group(1)), latency, spent / max(int(count.group(1)), 1)

    return run


def _cpu_seconds(server: HttpServer) -> float:
    """The CPU time (user and system) ``server``'s process and all its descendants have used so far."""
    assert server.process is not None, "the server is not running"
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:  # the process ended meanwhile
            continue
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    tree = [server.process.pid]
    for pid in tree:  # grows while it is walked: every descendant, once (a pid has one parent)
        tree += children.get(pid, [])
    return sum(used.get(pid, 0.0) for pid in tree)


def serve(options: Options, cleanups: ExitStack) -> tuple[list[Case], list[Ratio]]:
    """wrk against nginx proxy_cache and daramjwee serve (memory hits, file hits) in front of one origin."""
    seconds = 1 if options.iterations < Options().iterations else 2
    root = Path(cleanups.enter_context(tempfile.TemporaryDirectory(prefix="daramjwee-bench-serve-")))
    root.chmod(0o755)  # nginx workers may run as another user
    (root / "www").mkdir()
    paces = {}
    for size, (path, length, _, pause) in OBJECTS.items():
        (root / "www" / path.lstrip("/")).write_bytes(os.urandom(length))
        paces[size] = root / f"pace-{size}.lua"
        paces[size].write_text(_PACE.format(ms=pause))
    origin = _started(_nginx(root, "origin", location=_ORIGIN_LOCATION.format(root=root)), cleanups)
    proxy_location = _PROXY_LOCATION.format(origin_port=origin.port)
    proxies = {
        "nginx": _nginx(root, "proxy", extra=_PROXY_CACHE.format(root=root), location=proxy_location),
        "dj-memory": _daramjwee(root, "memory", origin, "256MiB"),
        "dj-file": _daramjwee(root, "file", origin, "512B"),
        "ceiling": _ceiling(root),
    }
    cases = []
    for label, proxy in proxies.items():
        _started(proxy, cleanups)
        for size, (path, _, connections, pause) in OBJECTS.items():
            _warm(proxy.url(path))
            paired = Paired(_wrk(proxy.url(path), connections, seconds, proxy))
            paced = Paired(_wrk(proxy.url(path), connections, seconds, proxy, paces[size]))
            what = f"wrk -t2 -c{connections} -d{seconds}s {label} {path}"
            cases += [
                Case(f"{label}-{size}", f"{what}: requests per second", "req/s", paired.case(0)),
                Case(f"{label}-{size}-p99", f"{what}: 99th-percentile latency", "s", paired.case(1)),
                Case(f"{label}-{size}-cpu", f"{what}: the server's CPU time per request", "s", paired.case(2)),
                Case(
                    f"{label}-{size}-paced-p99",
                    f"{what}, {pause} ms between a connection's requests: 99th-percentile latency",
                    "s",
                    paced.case(1),
                ),
            ]
    ratios = []
    for tier in ("memory", "file"):
        for size, goal in GOALS.items():
            mine, theirs = f"dj-{tier}-{size}", f"nginx-{size}"
            ratios += [
                Ratio(f"{size} {tier} hit: daramjwee / nginx req/s", mine, theirs, goal, at_most=False),
                Ratio(f"{size} {tier} hit: daramjwee / nginx p99, saturated", f"{mine}-p99", f"{theirs}-p99"),
                Ratio(
                    f"{size} {tier} hit: daramjwee / nginx p99, paced",
                    f"{mine}-paced-p99",
                    f"{theirs}-paced-p99",
                    P99_GOAL,
                ),
            ]
    for size in GOALS:
        ratios += [
            Ratio(f"{size} {label}: CPU per request / nginx's", f"{label}-{size}-cpu", f"nginx-{size}-cpu")
            for label in ("dj-memory", "dj-file", "ceiling")
        ]
        ratios += [
            Ratio(f"{size} no-op app on granian / nginx req/s", f"ceiling-{size}", f"nginx-{size}"),
            Ratio(
                f"{size} no-op app on granian / nginx p99, paced",
                f"ceiling-{size}-paced-p99",
                f"nginx-{size}-paced-p99",
            ),
        ]
        ratios += [
            Ratio(f"{size} {tier} hit: daramjwee / no-op app req/s", f"dj-{tier}-{size}", f"ceiling-{size}")
            for tier in ("memory", "file")
        ]
    return cases, ratios
