"""Tags (rules Q1-Q8): what ``AsyncCache`` and ``Cache`` share about tagged entries and tag versions.

A tag's current version is a token stored in the tier chain itself, as the
entry of a reserved key (:func:`tag_key`) in the last tier.  A tagged entry
records the versions of its tags when its write began (``attrs[":tags"]``);
a read serves it only while every one of them is still current.  This module
checks tag arguments, encodes and decodes the attribute and keeps the
per-process memo of current versions; the store calls are the cache's.  It
reads no clock: callers pass ``now`` (``time.monotonic()``).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Mapping

__all__ = [
    "MISSING",
    "RESERVED_PREFIX",
    "TAGS_ATTR",
    "TAG_KEY_PREFIX",
    "TagMemo",
    "check_tags",
    "decode_tags",
    "encode_tags",
    "new_version",
    "tag_key",
]

TAGS_ATTR = ":tags"
"""``attrs`` name of the tag versions a tagged entry recorded (rule Q2): ``"version tag"`` lines, sorted by tag."""

RESERVED_PREFIX = "\x00daramjwee:"
"""Keys starting with this are the cache's own (rule Q6); ``check_key`` refuses them."""

TAG_KEY_PREFIX = RESERVED_PREFIX + "tag:"

MISSING = ""
"""The version of a tag whose entry no tier holds: never equal to a recorded one (rule Q5)."""

_MEMO_LIMIT = 10_000
"""The most tags the memo keeps; past it, expired ones are dropped, then all (rule Q4)."""


def tag_key(tag: str) -> str:
    """The reserved key whose entry holds ``tag``'s current version."""
    return TAG_KEY_PREFIX + tag


def check_tags(tags: object) -> tuple[str, ...]:
    """``tags`` as a sorted tuple without repeats; ``TypeError``/``ValueError`` for a bad one (rule Q7).

    ``tags`` is a collection of ``str`` (a list, tuple, set, frozenset...),
    not a ``str`` itself.  A tag is a non-empty printable string: no control
    characters (newline, NUL...), which the stored attribute reserves.
    """
    if type(tags) is tuple or type(tags) is frozenset:  # hashable: a tagged hit checks its tags in one lookup
        try:
            checked = _CHECKED.get(tags)
        except TypeError:  # an unhashable element: not a str, as the full check says
            return _check_tags(tags)
        if checked is not None:
            return checked
        checked = _check_tags(tags)
        if len(_CHECKED) >= _CHECKED_LIMIT:
            _CHECKED.clear()
        _CHECKED[tags] = checked
        return checked
    return _check_tags(tags)


_CHECKED: dict[object, tuple[str, ...]] = {}
_CHECKED_LIMIT = 1024


def _check_tags(tags: object) -> tuple[str, ...]:
    if isinstance(tags, str | bytes) or not isinstance(tags, Iterable):
        raise TypeError(
            f"tags must be a collection of str (a list, tuple or set), got {type(tags).__name__}: {tags!r:.80}"
        )
    checked = set()
    for tag in tags:
        if type(tag) is not str:
            if not isinstance(tag, str):
                raise TypeError(f"each tag must be a str, got {type(tag).__name__}: {tag!r:.80}")
            tag = str(tag)
        if not tag:
            raise ValueError("tags must be non-empty strings")
        if not tag.isprintable():
            raise ValueError(
                f"tags must be printable (no newline, tab, NUL or other control character), got {tag!r:.80}"
            )
        checked.add(tag)
    return tuple(sorted(checked))


def encode_tags(versions: Mapping[str, str]) -> str:
    """The ``attrs[":tags"]`` value recording ``versions`` (tag to version)."""
    return "\n".join(f"{versions[tag]} {tag}" for tag in sorted(versions))


def decode_tags(recorded: str) -> dict[str, str] | None:
    """Tag to version, as :func:`encode_tags` wrote it; ``None`` if ``recorded`` is not such a value."""
    versions = {}
    for line in recorded.split("\n"):
        version, _, tag = line.partition(" ")
        if not version or not tag:
            return None
        versions[tag] = version
    return versions


def new_version(wall_clock_ns: int) -> str:
    """A version token no other process or instance makes: the wall clock and 64 random bits (rule Q3)."""
    return f"{wall_clock_ns:x}.{secrets.token_hex(8)}"


class TagMemo:
    """Current tag versions this process read or wrote, each kept for ``ttl`` seconds (rule Q4).

    Also remembers which recorded ``attrs[":tags"]`` values were found
    current, and until when, so that a tagged tier-0 hit costs one dict
    lookup.  An invalidation or clear made by this process updates the memo
    at once (:meth:`wrote`, :meth:`forget`); a version read from the store
    that an invalidation overtook is not kept (:meth:`epoch`, :meth:`read`).
    """

    __slots__ = ("_current", "_epoch", "_lock", "_valid", "ttl")

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._current: dict[str, tuple[str, float]] = {}  # tag -> (version, kept until)
        self._valid: dict[str, float] = {}  # recorded attrs[":tags"] -> found current until
        self._epoch = 0

    def valid_until(self, recorded: str) -> float:
        """Until when ``recorded`` was found current (``0.0``: not known to be)."""
        return self._valid.get(recorded, 0.0)

    def known(self, tags: Iterable[str], now: float) -> tuple[dict[str, str], list[str]]:
        """The versions of ``tags`` still in the memo, and the tags that are not."""
        found, unknown = {}, []
        current = self._current
        for tag in tags:
            kept = current.get(tag)
            if kept is not None and kept[1] > now:
                found[tag] = kept[0]
            else:
                unknown.append(tag)
        return found, unknown

    def epoch(self) -> int:
        """Taken before reading versions from the store: :meth:`read` keeps them only if no write came since."""
        return self._epoch

    def read(self, versions: Mapping[str, str], epoch: int, now: float) -> None:
        """Keep ``versions`` read from the store, unless this process wrote or cleared since ``epoch``."""
        if self.ttl <= 0:
            return
        with self._lock:
            if self._epoch != epoch:
                return
            self._keep(versions, now)

    def wrote(self, versions: Mapping[str, str], now: float) -> None:
        """This process wrote ``versions`` (an invalidation, or a version made for a missing one)."""
        with self._lock:
            self._epoch += 1
            self._valid.clear()
            if self.ttl > 0:
                self._keep(versions, now)
            else:
                for tag in versions:
                    self._current.pop(tag, None)

    def found_current(self, recorded: str, until: float, epoch: int) -> None:
        """``recorded`` matched the current versions, as they will be kept until ``until``."""
        if self.ttl <= 0:
            return
        with self._lock:
            if self._epoch == epoch:
                if len(self._valid) >= _MEMO_LIMIT:
                    self._valid.clear()
                self._valid[recorded] = until

    def forget(self) -> None:
        """Drop everything (the cache was cleared)."""
        with self._lock:
            self._epoch += 1
            self._current.clear()
            self._valid.clear()

    def _keep(self, versions: Mapping[str, str], now: float) -> None:
        current = self._current
        if len(current) + len(versions) > _MEMO_LIMIT:
            for tag in [tag for tag, kept in current.items() if kept[1] <= now]:
                del current[tag]
            if len(current) + len(versions) > _MEMO_LIMIT:
                current.clear()
        until = now + self.ttl
        for tag, version in versions.items():
            current[tag] = (version, until)

    def until(self, tags: Iterable[str]) -> float:
        """The earliest time any of ``tags`` leaves the memo (``0.0`` if one is not in it)."""
        current = self._current
        earliest = float("inf")
        for tag in tags:
            kept = current.get(tag)
            if kept is None:
                return 0.0
            earliest = min(earliest, kept[1])
        return earliest
