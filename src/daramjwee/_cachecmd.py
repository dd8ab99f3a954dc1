"""``daramjwee cache``: look into a ``FileStore`` directory, and remove entries from it, from the command line.

Subcommands ``ls``, ``stat``, ``rm``, ``purge`` and ``verify``; the disk work is
:mod:`daramjwee._inspection`'s (safe while stores in other processes use the
directory), this module parses arguments and formats, with pure functions
for the formatting.

Exit codes: 0 done; 1 damage found (``verify`` found damaged records, with
``--remove`` too; ``stat`` of a damaged record); 2 a usage error (bad
arguments, no such directory, not a file-store directory, no such key),
reported in one line on stderr, or records that could not be read or
removed (one line each; the others are still done); 141 when the reader of
the output went away (``| head``).

Keys are printed escaped (:func:`escape`): a backslash as ``\\\\``, and every
character that is not printable (newline, tab, other control characters,
lone surrogates, ...) as ``\\n``, ``\\r``, ``\\t``, ``\\xHH``, ``\\uHHHH`` or
``\\UHHHHHHHH``; ``--escaped`` reads a ``KEY`` or ``--prefix`` written that
way (:func:`unescape`).  ``--json`` output is always one JSON object (ASCII)
on one line, :func:`report_json`'s shape.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

from ._inspection import (
    Damage,
    DirectoryError,
    Entry,
    check_directory,
    read_record,
    record_names,
    record_path,
    remove_key,
    remove_record,
)

__all__ = [
    "add_cache_command",
    "entry_json",
    "escape",
    "format_age",
    "parse_age",
    "purged",
    "report_json",
    "unescape",
]

EXIT_OK = 0
EXIT_DAMAGED = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141

# -- pure formatting and parsing ------------------------------------------------------------

_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def escape(text: str) -> str:
    """``text`` with no control character left: printable characters kept, the rest backslash-escaped.

    A backslash becomes ``\\\\``; newline, carriage return and tab ``\\n``,
    ``\\r``, ``\\t``; any other character that is not printable (``str.isprintable``:
    control and format characters, line and paragraph separators, lone
    surrogates, unassigned code points) ``\\xHH``, ``\\uHHHH`` or ``\\UHHHHHHHH``.
    :func:`unescape` gives ``text`` back.
    """
    if text.isprintable() and "\\" not in text:
        return text
    parts = []
    for char in text:
        named = _NAMED_ESCAPES.get(char)
        if named is not None:
            parts.append(named)
        elif char.isprintable():
            parts.append(char)
        else:
            code = ord(char)
            parts.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(parts)


def unescape(text: str) -> str:
    """The text :func:`escape` made ``text`` of; ``ValueError`` naming the first bad escape."""
    if "\\" not in text:
        return text
    parts = []
    position = 0
    while position < len(text):
        slash = text.find("\\", position)
        if slash < 0:
            parts.append(text[position:])
            break
        parts.append(text[position:slash])
        kind = text[slash + 1 : slash + 2]
        if kind in _UNESCAPES:
            parts.append(_UNESCAPES[kind])
            position = slash + 2
            continue
        digits = _HEX_ESCAPES.get(kind, 0)
        code = text[slash + 2 : slash + 2 + digits]
        if not digits or len(code) != digits or not set(code) <= _HEX_DIGITS or int(code, 16) > sys.maxunicode:
            bad = "\\" + escape(text[slash + 1 : slash + 2 + digits])
            raise ValueError(
                f"bad escape '{bad}' at character {slash}: use \\\\, \\n, \\r, \\t, \\xHH, \\uHHHH or \\UHHHHHHHH"
            )
        parts.append(chr(int(code, 16)))
        position = slash + 2 + digits
    return "".join(parts)


_AGE_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_AGE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*")


def parse_age(text: str) -> float:
    """Seconds from ``"90"``, ``"90s"``, ``"10m"``, ``"2h"``, ``"7d"`` or ``"1w"`` (a fraction allowed: ``"1.5h"``).

    ``ValueError`` for anything else (negative, empty, another unit).
    """
    match = _AGE.fullmatch(text)
    if match is None:
        raise ValueError(f"expected seconds or a number with a unit s, m, h, d or w (like 10m, 2h, 7d), got {text!r}")
    seconds = float(match.group(1)) * _AGE_UNITS[match.group(2)]
    if not math.isfinite(seconds):
        raise ValueError(f"too long: {text!r}")
    return seconds


def format_age(seconds: float) -> str:
    """A short duration: ``42s``, ``12m5s``, ``5h12m``, ``3d4h`` (rounded down; a negative one is ``0s``)."""
    whole = max(int(seconds), 0) if math.isfinite(seconds) else 0
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60}m"
    return f"{whole // 86400}d{whole % 86400 // 3600}h"


def entry_json(entry: Entry, now: float, fresh_for: float | None) -> dict[str, object]:
    """The JSON object of one entry (see :func:`report_json`)."""
    metadata = entry.metadata
    return {
        "key": entry.key,
        "path": entry.name,
        "size": entry.body_length,
        "file_size": entry.record_length,
        "etag": metadata.etag,
        "cached_at": metadata.cached_at or None,
        "age": entry.age(now),
        "is_negative": metadata.is_negative,
        "tags": entry.tags,
        "content_type": metadata.attrs.get("content-type"),
        "attrs": dict(metadata.attrs),
        "fresh_for": metadata.fresh_for,
        "stale_while_revalidate": metadata.stale_while_revalidate,
        "stale_if_error": metadata.stale_if_error,
        "must_revalidate": metadata.must_revalidate,
        "freshness": entry.freshness(fresh_for, now),
    }


def report_json(
    root: str,
    entries: Iterable[Entry],
    damaged: Iterable[tuple[Damage, bool]],
    now: float,
    fresh_for: float | None = None,
) -> str:
    """The ``--json`` output of ``ls``, ``stat`` and ``verify``: one line, ASCII. Its shape::

        {"directory": "/abs/dir",
         "entries": [{"key": str, "path": "ab/cd/<64 hex>", "size": body bytes, "file_size": record bytes,
                      "etag": str, "cached_at": epoch seconds or null (unknown), "age": seconds,
                      "is_negative": bool, "tags": [str], "content_type": str or null, "attrs": {str: str},
                      "fresh_for": seconds or null, "stale_while_revalidate": ..., "stale_if_error": ...,
                      "must_revalidate": bool, "freshness": "fresh", "stale", "expired" or null}, ...],
         "damaged": [{"path": "ab/cd/<64 hex>", "key": str or null, "reason": str, "removed": bool}, ...]}

    ``age`` counts from ``cached_at``, or from when the file was written if
    that is unknown.  ``damaged`` are the records with an invalid head (and,
    for ``verify``, body) met; ``removed`` is true for those ``--remove``
    removed.
    """
    document = {
        "directory": root,
        "entries": [entry_json(entry, now, fresh_for) for entry in entries],
        "damaged": [
            {"path": damage.name, "key": damage.key, "reason": damage.reason, "removed": removed}
            for damage, removed in damaged
        ],
    }
    return json.dumps(document, ensure_ascii=True)


def _seconds(value: float) -> str:
    return f"{value:g}s"


def ls_line(entry: Entry, now: float) -> str:
    """One line of ``ls``: body size, age, escaped key."""
    return f"{entry.body_length:>12}  {format_age(entry.age(now)):>7}  {escape(entry.key)}"


def stat_lines(entry: Entry, now: float, fresh_for: float | None) -> list[str]:
    """What ``stat`` prints of ``entry``, one field a line."""
    metadata = entry.metadata
    if metadata.cached_at > 0:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(metadata.cached_at))
        cached = f"{stamp} ({format_age(now - metadata.cached_at)} ago)"
    else:
        cached = f"unknown (the file was written {format_age(now - entry.modified)} ago)"
    state = entry.freshness(fresh_for, now)
    own = [
        f"{name} {_seconds(value)}"
        for name, value in (
            ("fresh_for", metadata.fresh_for),
            ("stale_while_revalidate", metadata.stale_while_revalidate),
            ("stale_if_error", metadata.stale_if_error),
        )
        if value is not None
    ]
    if metadata.must_revalidate:
        own.append("must_revalidate")
    if state is None:
        fresh = "no per-entry freshness (it depends on the cache; --fresh-for D assumes a default)"
    elif metadata.fresh_for is None:
        fresh = f"{state} (by --fresh-for {_seconds(fresh_for or 0.0)})"
    else:
        fresh = state
    if own:
        fresh += f"; per entry: {', '.join(own)}"
    tags = entry.tags
    lines = [
        f"key           {escape(entry.key)}",
        f"path          {entry.name}",
        f"size          {entry.body_length} bytes ({entry.record_length} in the file)",
        f"etag          {escape(metadata.etag) if metadata.etag else '(none)'}",
        f"cached at     {cached}",
        f"freshness     {fresh}",
        f"negative      {'yes' if metadata.is_negative else 'no'}",
        f"tags          {', '.join(escape(tag) for tag in tags) if tags else '(none)'}",
        f"content-type  {escape(metadata.attrs.get('content-type', '(none)'))}",
    ]
    lines.extend(
        f"attr          {escape(name)}: {escape(value)}"
        for name, value in sorted(entry.user_attrs.items())
        if name != "content-type"
    )
    return lines


def purged(record: Entry | Damage, prefix: str | None, older_than: float | None, now: float) -> bool:
    """Whether ``purge`` with ``--prefix prefix`` or ``--older-than older_than`` (or neither) removes ``record``.

    Neither: everything, damaged records too.  Either: only valid entries;
    ``--older-than`` never the cache's own (tag) entries.
    """
    if isinstance(record, Damage):
        return prefix is None and older_than is None
    if prefix is not None:
        return record.key.startswith(prefix)
    if older_than is not None:
        return not record.is_cache_own and record.age(now) > older_than
    return True


def damage_line(damage: Damage, removed: bool) -> str:
    """One line of ``verify`` (and of ``stat``) for a damaged record."""
    key = "(key unreadable)" if damage.key is None else escape(damage.key)
    return f"damaged  {damage.name}  {key}: {escape(damage.reason)}{'  [removed]' if removed else ''}"


# -- the command ----------------------------------------------------------------------------

_DIRECTORY_HELP = "the FileStore's directory (daramjwee serve's --cache-dir)"
_ESCAPED_HELP = "KEY and --prefix are written escaped, as ls prints keys (\\n, \\t, \\xHH, \\uHHHH, \\\\)"


def add_cache_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``daramjwee cache`` and its subcommands under ``commands``."""
    cache = commands.add_parser(
        "cache",
        help="inspect a FileStore directory: list, show, remove, purge and verify entries",
        description="Inspect the directory of a FileStore (the file tier of daramjwee serve too), safely while "
        "processes use it. Exit codes: 0 done, 1 damaged records found, 2 usage errors (or records it could not read "
        "or remove), 141 output closed early.",
    )
    subcommands = cache.add_subparsers(title="subcommands", required=True, metavar="SUBCOMMAND")

    ls = subcommands.add_parser("ls", help="list the keys, with size and age", description="List every entry: "
                                "body size in bytes, age (since it was cached) and key, sorted by key.")  # fmt: skip
    ls.add_argument("directory", metavar="DIR", help=_DIRECTORY_HELP)
    ls.add_argument("--prefix", metavar="P", help="only keys starting with P")
    ls.add_argument("-e", "--escaped", action="store_true", help=_ESCAPED_HELP)
    ls.add_argument("--json", action="store_true", help="one JSON object (see the docs for its shape)")
    ls.set_defaults(subcommand="ls", handler=_ls)

    stat = subcommands.add_parser(
        "stat", help="show one entry", description="Show one entry's size, etag, age, freshness, tags and attrs."
    )
    stat.add_argument("directory", metavar="DIR", help=_DIRECTORY_HELP)
    stat.add_argument("key", metavar="KEY")
    stat.add_argument(
        "--fresh-for", type=_age, metavar="D",
        help="the cache's default freshness, for an entry that states none (seconds, or like 10m, 2h)",
    )  # fmt: skip
    stat.add_argument("-e", "--escaped", action="store_true", help=_ESCAPED_HELP)
    stat.add_argument("--json", action="store_true", help="one JSON object (see the docs for its shape)")
    stat.set_defaults(subcommand="stat", handler=_stat)

    rm = subcommands.add_parser("rm", help="remove one entry", description="Remove the entry of KEY.")
    rm.add_argument("directory", metavar="DIR", help=_DIRECTORY_HELP)
    rm.add_argument("key", metavar="KEY")
    rm.add_argument("-e", "--escaped", action="store_true", help=_ESCAPED_HELP)
    rm.set_defaults(subcommand="rm", handler=_rm)

    purge = subcommands.add_parser(
        "purge",
        help="remove every entry, or those with a key prefix, or older ones",
        description="Remove every entry (damaged ones too), or only those whose key starts with P, or only those "
        "older than D. An entry replaced after it was read is newer than the purge and stays. --older-than keeps "
        "the cache's own tag entries (removing one would drop every entry tagged with it, however young).",
    )
    purge.add_argument("directory", metavar="DIR", help=_DIRECTORY_HELP)
    which = purge.add_mutually_exclusive_group()
    which.add_argument("--prefix", metavar="P", help="only keys starting with P")
    which.add_argument(
        "--older-than", type=_age, metavar="D",
        help="only entries cached more than D ago: seconds, or a number with s, m, h, d or w (10m, 2h, 7d)",
    )  # fmt: skip
    purge.add_argument("-e", "--escaped", action="store_true", help=_ESCAPED_HELP)
    purge.set_defaults(subcommand="purge", handler=_purge)

    verify = subcommands.add_parser(
        "verify",
        help="check every entry's checksums (exit code 1 if any is damaged)",
        description="Read every entry whole and check its head and body checksums; report the damaged ones "
        "(exit code 1 if any). Records being written are not looked at.",
    )
    verify.add_argument("directory", metavar="DIR", help=_DIRECTORY_HELP)
    verify.add_argument("--remove", action="store_true", help="remove the damaged records")
    verify.add_argument("--json", action="store_true", help="one JSON object (see the docs for its shape)")
    verify.set_defaults(subcommand="verify", handler=_verify)


def _age(text: str) -> float:
    """argparse type: :func:`parse_age`."""
    try:
        return parse_age(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class _UsageError(Exception):
    """A user error the command reports in one line (exit code 2)."""


def run(args: argparse.Namespace, action: Callable[[argparse.Namespace, str, TextIO], int]) -> int:
    """Check ``args.directory``, run ``action`` on it, and turn user errors into one line on stderr.

    A reader of the output that goes away (``daramjwee cache ls DIR | head``)
    ends the command quietly with exit code 141, as ``SIGPIPE`` would.
    """
    out = sys.stdout
    if hasattr(out, "reconfigure"):
        out.reconfigure(errors="backslashreplace")  # a terminal that cannot show a character gets \uXXXX
    command = f"daramjwee cache {args.subcommand}"
    try:
        root = check_directory(args.directory)
        code = action(args, root, out)
        out.flush()
        return code
    except BrokenPipeError:
        _silence(out)
        return EXIT_BROKEN_PIPE
    except DirectoryError as error:
        message = f"{error.problem}: {escape(error.path)}"
    except _UsageError as error:
        message = str(error)
    except OSError as error:
        where = f": {escape(error.filename)}" if isinstance(error.filename, str) else ""
        message = f"{error.strerror or error}{where}"
    print(f"{command}: {message}", file=sys.stderr)
    return EXIT_USAGE


def _silence(out: TextIO) -> None:
    """Point ``out``'s file at ``/dev/null``, so that flushing what is left at exit raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (captured output): nothing is flushed at exit
        pass


def _argument(args: argparse.Namespace, text: str) -> str:
    """A KEY or --prefix argument as the key text it means (unescaped with ``--escaped``)."""
    if not args.escaped:
        return text
    try:
        return unescape(text)
    except ValueError as error:
        raise _UsageError(str(error)) from None


class _Records:
    """The records of ``root``, read one at a time (heads only unless ``verify_body``); those gone meanwhile skipped.

    A record that cannot be read (a permission, an I/O error) is told on
    stderr and counted in ``failures``, and the others are still read.
    """

    def __init__(self, args: argparse.Namespace, root: str, *, verify_body: bool) -> None:
        self._command = f"daramjwee cache {args.subcommand}"
        self._root = root
        self._verify_body = verify_body
        self.failures = 0

    def __iter__(self) -> Iterator[Entry | Damage]:
        for name, path in record_names(self._root):
            try:
                record = read_record(name, path, verify_body=self._verify_body)
            except OSError as error:
                self.failed(f"cannot read {name}", error)
                continue
            if record is not None:
                yield record

    def failed(self, what: str, error: OSError) -> None:
        """Tell that ``what`` failed with ``error``, and count it."""
        self.failures += 1
        print(f"{self._command}: {what}: {error.strerror or error}", file=sys.stderr)

    def exit_code(self, damaged: bool) -> int:
        """1 if damage was found, else 2 if a record could not be read or removed, else 0."""
        return EXIT_DAMAGED if damaged else EXIT_USAGE if self.failures else EXIT_OK


def _ls(args: argparse.Namespace) -> int:
    return run(args, _list)


def _list(args: argparse.Namespace, root: str, out: TextIO) -> int:
    prefix = None if args.prefix is None else _argument(args, args.prefix)
    entries: list[Entry] = []
    damaged: list[Damage] = []
    records = _Records(args, root, verify_body=False)
    for record in records:
        if isinstance(record, Damage):
            damaged.append(record)
        elif prefix is None or record.key.startswith(prefix):
            entries.append(record)
    entries.sort(key=lambda entry: entry.key)
    now = time.time()
    if args.json:
        print(report_json(root, entries, ((damage, False) for damage in damaged), now), file=out)
        return records.exit_code(False)
    for entry in entries:
        print(ls_line(entry, now), file=out)
    total = sum(entry.record_length for entry in entries)
    print(f"{len(entries)} entries, {total} bytes in their files", file=out)
    if damaged:
        print(
            f"{len(damaged)} damaged records not listed: see 'daramjwee cache verify {escape(args.directory)}'",
            file=sys.stderr,
        )
    return records.exit_code(False)


def _stat(args: argparse.Namespace) -> int:
    return run(args, _show)


def _show(args: argparse.Namespace, root: str, out: TextIO) -> int:
    key = _argument(args, args.key)
    try:
        name, path = record_path(root, key)
    except ValueError as error:
        raise _UsageError(str(error)) from None
    record = read_record(name, path, verify_body=False)
    if record is None:
        raise _UsageError(f"no entry for key {_quoted(key)} in {escape(root)}")
    now = time.time()
    if isinstance(record, Damage):
        if args.json:
            print(report_json(root, (), [(record, False)], now), file=out)
        else:
            print(damage_line(record, False), file=out)
        return EXIT_DAMAGED
    if args.json:
        print(report_json(root, [record], (), now, args.fresh_for), file=out)
    else:
        print("\n".join(stat_lines(record, now, args.fresh_for)), file=out)
    return EXIT_OK


def _rm(args: argparse.Namespace) -> int:
    return run(args, _remove)


def _remove(args: argparse.Namespace, root: str, out: TextIO) -> int:
    key = _argument(args, args.key)
    try:
        removed = remove_key(root, key)
    except ValueError as error:
        raise _UsageError(str(error)) from None
    if not removed:
        raise _UsageError(f"no entry for key {_quoted(key)} in {escape(root)}")
    print(f"removed {_quoted(key)}", file=out)
    return EXIT_OK


def _purge(args: argparse.Namespace) -> int:
    return run(args, _purge_in)


def _purge_in(args: argparse.Namespace, root: str, out: TextIO) -> int:
    prefix = None if args.prefix is None else _argument(args, args.prefix)
    older_than: float | None = args.older_than
    now = time.time()
    removed = freed = replaced = 0
    records = _Records(args, root, verify_body=False)
    for record in records:
        if not purged(record, prefix, older_than, now):
            continue
        try:
            same = remove_record(record.path, record.identity)
        except OSError as error:
            records.failed(f"cannot remove {record.name}", error)
            continue
        if same:
            removed += 1
            freed += record.record_length if isinstance(record, Entry) else 0
        else:
            replaced += 1
    line = f"removed {removed} entries ({freed} bytes in their files)"
    if replaced:
        line += f"; {replaced} replaced since they were read, left in place"
    print(line, file=out)
    return records.exit_code(False)


def _verify(args: argparse.Namespace) -> int:
    return run(args, _verify_in)


def _verify_in(args: argparse.Namespace, root: str, out: TextIO) -> int:
    entries: list[Entry] = []  # kept for --json only
    sound = 0
    damaged: list[tuple[Damage, bool]] = []
    records = _Records(args, root, verify_body=True)
    for record in records:
        if isinstance(record, Entry):
            sound += 1
            if args.json:
                entries.append(record)
            continue
        removed = args.remove and _remove_damaged(records, record)
        damaged.append((record, removed))
        if not args.json:
            print(damage_line(record, removed), file=out)
    if args.json:
        print(report_json(root, entries, damaged, time.time()), file=out)
    else:
        summary = f"verified {sound + len(damaged)} records: {len(damaged)} damaged"
        if args.remove and damaged:
            summary += f", {sum(removed for _, removed in damaged)} removed"
        print(summary, file=out)
    return records.exit_code(bool(damaged))


def _remove_damaged(records: _Records, damage: Damage) -> bool:
    """Remove a damaged record unless it was replaced since it was read; whether it was (a failure is told)."""
    try:
        return remove_record(damage.path, damage.identity)
    except OSError as error:
        records.failed(f"cannot remove {damage.name}", error)
        return False


def _quoted(key: str) -> str:
    """``key`` escaped, in single quotes, at most 200 characters of it (error messages)."""
    shown = escape(key)
    if len(shown) > 200:
        shown = f"{shown[:200]}...({len(shown) - 200} more)"
    return f"'{shown}'"
