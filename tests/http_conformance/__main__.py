"""``python -m tests.http_conformance``: the conformance suite through nginx, serve and the middleware; the table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._run import CLI_TIMEOUT, DEFAULT_MEMORY, PROXIES, explain, run_conformance
from ._suite import DIR_ENV, SUITE_NAME, SUITE_VERSION, HarnessError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.http_conformance",
        description=f"Run {SUITE_NAME} {SUITE_VERSION} (the HTTP caching conformance suite behind cache-tests.fyi) "
        "through nginx proxy_cache, daramjwee serve and CacheMiddleware, and print the tests each passes per group.",
    )
    parser.add_argument("--json-dir", type=Path, metavar="DIR", help="write the raw results, groups and report here")
    parser.add_argument("--logs", type=Path, metavar="DIR", help="copy every process's log here")
    parser.add_argument(
        "--id", metavar="TEST_ID", help="run only this test, through each proxy in turn, showing every exchange"
    )
    parser.add_argument("--suite-dir", type=Path, metavar="DIR", help=f"the suite's npm prefix (default: ${DIR_ENV})")
    parser.add_argument("--memory", default=DEFAULT_MEMORY, help=f"daramjwee's memory tier (default: {DEFAULT_MEMORY})")
    parser.add_argument(
        "--serve-arg", action="append", default=[], metavar="ARG", help="one more argument for daramjwee serve"
    )
    parser.add_argument(
        "--proxy", action="append", choices=PROXIES, metavar="NAME", help=f"run only these ({', '.join(PROXIES)})"
    )
    parser.add_argument("--sequential", action="store_true", help="run the proxies one after the other")
    parser.add_argument(
        "--timeout", type=float, default=CLI_TIMEOUT, help=f"seconds for one cli run (default: {CLI_TIMEOUT:.0f})"
    )
    args = parser.parse_args(argv)
    serve_args = tuple(args.serve_arg)
    try:
        if args.id:
            print(explain(args.id, args.suite_dir, memory=args.memory, serve_args=serve_args))
            return 0
        conformance = run_conformance(
            args.suite_dir,
            memory=args.memory,
            serve_args=serve_args,
            timeout=args.timeout,
            sequential=args.sequential,
            logs=args.logs,
            proxies=tuple(args.proxy or PROXIES),
        )
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(conformance.report())
    if args.json_dir is not None:
        conformance.write(args.json_dir)
        print(f"\nraw results: {args.json_dir}")
    return 1 if conformance.errors else 0


if __name__ == "__main__":
    sys.exit(main())
