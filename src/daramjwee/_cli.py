"""The ``daramjwee`` command line: ``daramjwee demo``, ``serve``, ``bench`` and ``cache``.

The command modules import optional dependencies (``rich`` for the demo,
granian and httpx for the server), so they are imported only when their
command runs: ``import daramjwee`` never needs them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from . import __version__
from ._cachecmd import add_cache_command

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command and return its exit code."""
    args = _parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    """The argument parser, one subcommand per command."""
    parser = argparse.ArgumentParser(
        prog="daramjwee", description="An N-tier streaming cache in front of slow origins."
    )
    parser.add_argument("--version", action="version", version=f"daramjwee {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="watch a three-tier cache in front of a slow origin (offline, about 8 seconds)",
        description="Run a short workload against memory, 'disk' and 'remote' tiers in front of a slow "
        "synthetic origin and show live which tier served each request.",
    )
    demo.add_argument(
        "--duration", type=_positive_float, default=8.0, metavar="SECONDS", help="workload length (default: 8)"
    )
    demo.add_argument(
        "--requests", type=_positive_int, default=None, metavar="N", help="stop the workload after N requests"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed of the workload (default: 7)")
    demo.set_defaults(handler=_demo)
    _add_serve(commands)
    bench = commands.add_parser(
        "bench",
        help="run the benchmark suite and write a report (JSON, markdown, PNG)",
        description="Run benchmark scenarios (all by default) side by side with their peers, in shuffled rounds, "
        "and write report.json, report.md and one PNG per scenario.",
    )
    bench.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario names (default: all)")
    bench.add_argument("--list", action="store_true", help="list the scenarios and exit")
    bench.add_argument("--quick", action="store_true", help="few iterations and rounds: a smoke run")
    bench.add_argument("--rounds", type=_positive_int, help="samples per case (default: 15, quick: 3)")
    bench.add_argument("--out", default="bench-report", metavar="DIR", help="report directory (default: bench-report)")
    bench.add_argument(
        "--trace",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a trace file (one key per line) for the eviction scenario to replay too; repeatable",
    )
    bench.set_defaults(handler=_bench)
    add_cache_command(commands)
    return parser


def _bench(args: argparse.Namespace) -> int:
    """``daramjwee bench``."""
    try:
        from .bench._cli import run_bench  # noqa: PLC0415 (lazy: rich, matplotlib and the peers are optional)
    except ModuleNotFoundError as error:
        print(f"daramjwee bench needs {error.name}: pip install 'daramjwee[bench]'", file=sys.stderr)
        return 2
    return run_bench(
        args.scenarios, listing=args.list, quick=args.quick, rounds=args.rounds, out=args.out, traces=args.trace
    )


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run a streaming HTTP caching proxy in front of an origin",
        description="Cache an origin (http(s):// URL, s3:// URL or directory) as a shared HTTP cache, through memory "
        "and file tiers (plus optional Redis and object-storage tiers). Flags override the --config TOML file.",
        argument_default=argparse.SUPPRESS,
    )
    serve.add_argument("--config", metavar="FILE", help="TOML file with any of the settings below")
    serve.add_argument("--origin", metavar="URL_OR_DIR", help="what to cache: http(s)://..., s3://... or a directory")
    serve.add_argument("--host", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: 8080)")
    serve.add_argument("--memory", metavar="SIZE", help="memory tier capacity (default: 256MiB)")
    serve.add_argument("--disk", metavar="SIZE", help="file tier capacity (default: 10GiB)")
    serve.add_argument("--cache-dir", metavar="DIR", help="file tier directory (default: ./daramjwee-cache)")
    serve.add_argument("--redis", metavar="URL", help="add a Redis tier, e.g. redis://127.0.0.1:6379/0")
    serve.add_argument("--s3", metavar="URL", help="add an object-storage tier, e.g. s3://bucket/cache")
    serve.add_argument(
        "--coordinate", action="store_true",
        help="with --redis: every proxy over that Redis fetches a key once and sees the others' purges",
    )  # fmt: skip
    serve.add_argument(
        "--fresh-for", type=float, metavar="SECONDS",
        help="freshness of responses that state none and have no Last-Modified (default: 60)",
    )  # fmt: skip
    serve.add_argument(
        "--fresh-for-override", type=float, metavar="SECONDS",
        help="every storable HTTP response is fresh this long, whatever it says (default: off)",
    )  # fmt: skip
    serve.add_argument(
        "--store-set-cookie", action="store_true",
        help="store responses that set a cookie (the cookie itself is never stored nor replayed)",
    )  # fmt: skip
    serve.add_argument(
        "--read-only", action="store_true",
        help="answer methods other than GET and HEAD with 405 instead of passing them to the origin",
    )  # fmt: skip
    serve.add_argument(
        "--via", metavar="NAME",
        help="this proxy's name in the Via field it adds to what it forwards (default: daramjwee)",
    )  # fmt: skip
    serve.add_argument(
        "--forwarded", metavar="MODE",
        help="X-Forwarded-For/-Proto to the origin: append (to the client's chain, the default), replace it,"
        " or off (send none)",
    )  # fmt: skip
    serve.add_argument("--negative-fresh-for", type=float, metavar="SECONDS", help="freshness of 404s (default: 10)")
    serve.add_argument(
        "--include-query", action="store_true",
        help="make the (sorted) query string part of the cache key (the default)",
    )  # fmt: skip
    serve.add_argument(
        "--ignore-query", dest="include_query", action="store_false",
        help="leave the query string out of the cache key and of the origin's URL",
    )  # fmt: skip
    serve.add_argument(
        "--server-name", dest="server_names", action="append", metavar="HOST",
        help="a Host to serve besides the local ones (repeatable; '*' serves any)",
    )  # fmt: skip
    serve.add_argument("--origin-timeout", type=float, metavar="SECONDS", help="origin timeout (default: 30)")
    serve.add_argument(
        "--max-target-length", type=int, metavar="N",
        help="longest request target (path and query) in bytes; longer gets 414 (default: 8192)",
    )  # fmt: skip
    serve.add_argument("--graceful-timeout", type=float, metavar="SECONDS", help="drain time on SIGTERM (default: 30)")
    serve.add_argument("--workers", type=int, help="server processes sharing the port and the file tier (default: 1)")
    serve.add_argument(
        "--header-timeout", type=float, metavar="SECONDS",
        help="time to send a request's header, and to keep an idle connection open (default: 60, at most 60)",
    )  # fmt: skip
    serve.add_argument(
        "--max-header-size", metavar="SIZE", help="request line and headers together; more gets 431 (default: 32KiB)"
    )
    serve.add_argument(
        "--max-connections", type=int, metavar="N", help="open connections per worker; more wait (default: 4096)"
    )
    serve.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"))
    serve.set_defaults(handler=_serve)


def _demo(args: argparse.Namespace) -> int:
    """``daramjwee demo``."""
    try:
        from ._demo import DemoOptions, run_demo  # noqa: PLC0415 (lazy: rich is optional)
    except ModuleNotFoundError as error:
        if error.name != "rich":
            raise
        print("daramjwee demo needs rich: pip install 'daramjwee[cli]'", file=sys.stderr)
        return 2
    return run_demo(DemoOptions(duration=args.duration, requests=args.requests, seed=args.seed))


def _serve(args: argparse.Namespace) -> int:
    """``daramjwee serve``."""
    from . import ConfigError  # noqa: PLC0415

    options = {key: value for key, value in vars(args).items() if key not in ("handler", "config")}
    try:
        from .server._serve import serve  # noqa: PLC0415 (lazy: granian and httpx are optional)
        from .server._settings import load_settings  # noqa: PLC0415

        settings = load_settings(getattr(args, "config", None), options)
        serve(settings)  # imports granian first
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if missing not in ("granian", "httpx"):
            raise
        print(f"daramjwee serve needs {missing}: pip install 'daramjwee[serve]'", file=sys.stderr)
        return 2
    except ConfigError as error:
        print(f"daramjwee serve: {error}", file=sys.stderr)
        return 2
    return 0


def _positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value
