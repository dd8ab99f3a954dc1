"""The ``daramjwee`` command line: ``daramjwee demo``.

The command modules import ``rich``, an optional dependency (``pip install
'daramjwee[cli]'``), so they are imported only when their command runs:
``import daramjwee`` never needs it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

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
    return parser


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
