"""HTTP benchmark: ``daramjwee serve`` against nginx ``proxy_cache`` in front of the same origin, under ``wrk``.

    python benchmarks/bench_serve.py            # full run (about 2 minutes)
    python benchmarks/bench_serve.py --quick    # a smoke run, a few seconds
    python benchmarks/bench_serve.py --json out.json

Needs ``nginx`` and ``wrk`` (Debian packages) and the ``serve`` extra.  The
script starts everything on loopback in a temporary directory:

* the origin: nginx serving static files (1 KiB and 1 MiB);
* nginx with ``proxy_cache`` in front of it (its cache is files on disk, read
  through the page cache; ``worker_processes auto``);
* ``daramjwee serve`` twice in front of it: with a memory tier large enough for
  both objects (memory hits), and with a memory tier too small for them, so
  every hit comes from the file tier (``--workers`` processes each, sharing
  the file tier's directory).

Every server is warmed (each object fetched twice) before ``wrk`` runs
against it: ``-t2 -c32`` for the 1 KiB object, ``-t2 -c8`` for the 1 MiB
one, for ``--seconds`` each, rounds in a shuffled order, best round kept.
This is a report, not a test: it always exits 0.  All of it shares the
machine's cores with ``wrk``, as a same-machine comparison must.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from daramjwee.bench import Case, Ratio, ScenarioResult, machine, markdown, measure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _servers import free_port  # the test suite's helpers

KIB, MIB = 1 << 10, 1 << 20
OBJECTS = {"small.bin": KIB, "big.bin": MIB}

_NGINX = """
worker_processes {workers};
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
_ORIGIN_LOCATION = "location / {{ root {root}/www; etag on; }}"
_PROXY_CACHE = (
    "proxy_cache_path {root}/nginx-cache levels=1:2 keys_zone=bench:10m max_size=1g inactive=1h use_temp_path=off;"
)
_PROXY_LOCATION = """location / {{
            proxy_pass http://127.0.0.1:{origin_port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_valid 200 1h;
            add_header X-Cache $upstream_cache_status;
        }}"""


class Server:
    """A child process listening on ``port``; stopped with SIGTERM (SIGQUIT for nginx)."""

    def __init__(self, command: list[str], port: int, stop_signal: int = signal.SIGTERM) -> None:
        self.port = port
        self.stop_signal = stop_signal
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not _answers(f"http://127.0.0.1:{port}/small.bin"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start on port {port}")
            time.sleep(0.05)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _nginx(root: Path, name: str, port: int, *, extra: str = "", location: str) -> Server:
    config = root / f"nginx-{name}.conf"
    text = _NGINX.format(workers="auto", root=root, name=name, port=port, extra=extra, location=location)
    config.write_text(text)
    return Server(["nginx", "-p", str(root), "-c", str(config), "-g", "daemon off;"], port, signal.SIGQUIT)


def _daramjwee(root: Path, name: str, origin: Server, memory: str, workers: int) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "daramjwee", "serve", "--origin", f"http://127.0.0.1:{origin.port}"]
    command += ["--port", str(port), "--memory", memory, "--cache-dir", str(root / f"cache-{name}")]
    command += ["--workers", str(workers), "--fresh-for", "3600"]
    return Server(command, port)


def _warm(server: Server) -> None:
    for name in OBJECTS:
        for _ in range(2):
            with urllib.request.urlopen(server.url(name), timeout=30) as response:
                response.read()


_LATENCY_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def wrk(url: str, connections: int, seconds: int, p99: dict[str, list[float]], name: str) -> Callable[[], float]:
    """A sample: the requests per second of one ``wrk`` run (its p99 latency goes to ``p99[name]``)."""

    def run() -> float:
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
        tail = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        if rate is None or tail is None or errors is not None:
            raise RuntimeError(f"wrk failed against {url}:\n{output}")
        p99.setdefault(name, []).append(float(tail.group(1)) * _LATENCY_UNITS[tail.group(2)])
        return float(rate.group(1))

    return run


# daramjwee's requests per second over nginx's, per object size and serving tier.
RATIOS = [
    Ratio(f"{size} {tier} hit: daramjwee/nginx req/s", f"dj-{tier}-{size}", f"nginx-{size}", goal, at_most=False)
    for tier in ("memory", "file")
    for size, goal in (("1k", 0.25), ("1m", 0.5))
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers as JSON to PATH")
    parser.add_argument("--rounds", type=int, help="wrk runs per case (default 3, quick 1)")
    parser.add_argument("--seconds", type=int, help="length of a wrk run (default 5, quick 1)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="daramjwee serve processes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round case order")
    args = parser.parse_args(argv)
    rounds: int = args.rounds or (1 if args.quick else 3)
    seconds: int = args.seconds or (1 if args.quick else 5)
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            print(f"bench_serve needs {tool}: apt-get install -y {tool}", file=sys.stderr)
            return 0

    p99: dict[str, list[float]] = {}
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="daramjwee-bench-serve-") as directory:
        root = Path(directory)
        os.chmod(root, 0o755)
        (root / "www").mkdir()
        for name, size in OBJECTS.items():
            (root / "www" / name).write_bytes(os.urandom(size))
        try:
            origin_port = free_port()
            origin = _nginx(root, "origin", origin_port, location=_ORIGIN_LOCATION.format(root=root))
            servers.append(origin)
            proxy_port = free_port()
            nginx = _nginx(
                root, "proxy", proxy_port, extra=_PROXY_CACHE.format(root=root),
                location=_PROXY_LOCATION.format(origin_port=origin_port),
            )  # fmt: skip
            servers.append(nginx)
            memory = _daramjwee(root, "memory", origin, "256MiB", args.workers)
            servers.append(memory)
            files = _daramjwee(root, "file", origin, "512B", args.workers)
            servers.append(files)
            for server in (nginx, memory, files):
                _warm(server)
            cases = []
            for label, server in (("nginx", nginx), ("dj-memory", memory), ("dj-file", files)):
                for name, connections in (("small.bin", 32), ("big.bin", 8)):
                    size = "1k" if name == "small.bin" else "1m"
                    case_name = f"{label}-{size}"
                    cases.append(
                        Case(case_name, f"wrk -c{connections} {server.url(name)}", "req/s",
                             wrk(server.url(name), connections, seconds, p99, case_name))
                    )  # fmt: skip
            measure(cases, rounds, random.Random(args.seed))
        finally:
            for server in reversed(servers):
                server.stop()

    title = f"daramjwee serve vs nginx proxy_cache, wrk {seconds:g} s x {rounds} rounds, {args.workers} workers"
    result = ScenarioResult("serve", title, cases, RATIOS)
    print(markdown([result], machine()))
    print("p99 latency (best round):")
    for name, values in p99.items():
        print(f"  {name:<14} {min(values) * 1000:8.2f} ms")
    if args.json is not None:
        report = {**result.to_json(), "machine": machine(), "rounds": rounds, "seconds": seconds}
        report |= {"workers": args.workers, "p99_seconds": {name: min(values) for name, values in p99.items()}}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
