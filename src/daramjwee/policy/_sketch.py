"""TinyLFU's frequency estimate: a count-min sketch behind a doorkeeper Bloom filter, aged by halving.

Keys are hashed with Python's ``hash`` (randomized per process, which also
keeps an attacker from choosing colliding keys).  Both structures derive their
probes from that one hash by double hashing (Kirsch and Mitzenmacher): probe i
is ``(low + i * step) & mask`` with ``low`` the hash's low 32 bits and ``step``
its high bits made odd; i = 0..3 are the sketch's rows, 4..6 the doorkeeper's
probes.  The probes are unrolled: they run on every hit of a TinyLFU store.
"""

from __future__ import annotations

__all__ = ["CountMinSketch", "Doorkeeper", "FrequencySketch"]

_HALVE = bytes(count >> 1 for count in range(256))


def _power_of_two(at_least: int) -> int:
    """The smallest power of two that is at least ``at_least`` (and at least 2)."""
    return 1 << max(at_least - 1, 1).bit_length()


class CountMinSketch:
    """Approximate counts: four rows of ``width`` saturating counters (0..15, one byte each).

    ``add`` raises the key's counter in every row; ``estimate`` is the smallest
    of them, an overestimate only by collisions.  ``halve`` divides every
    counter by two.  ``add`` and ``estimate`` are O(1); ``halve`` is O(width)
    in C.
    """

    MAX_COUNT = 15

    __slots__ = ("_counters", "_mask", "_width")

    def __init__(self, width: int) -> None:
        self._width = _power_of_two(width)
        self._mask = self._width - 1
        self._counters = bytearray(4 * self._width)

    def add(self, low: int, step: int) -> None:
        counters, width, mask = self._counters, self._width, self._mask
        for slot in (
            low & mask,
            width + ((low + step) & mask),
            2 * width + ((low + 2 * step) & mask),
            3 * width + ((low + 3 * step) & mask),
        ):
            if counters[slot] < self.MAX_COUNT:
                counters[slot] += 1

    def estimate(self, low: int, step: int) -> int:
        counters, width, mask = self._counters, self._width, self._mask
        return min(
            counters[low & mask],
            counters[width + ((low + step) & mask)],
            counters[2 * width + ((low + 2 * step) & mask)],
            counters[3 * width + ((low + 3 * step) & mask)],
        )

    def halve(self) -> None:
        self._counters = self._counters.translate(_HALVE)


class Doorkeeper:
    """A Bloom filter of ``bits`` bits (rounded up to a power of two) with three probes per key."""

    __slots__ = ("_bits", "_mask")

    def __init__(self, bits: int) -> None:
        size = _power_of_two(max(bits, 8))
        self._mask = size - 1
        self._bits = bytearray(size >> 3)

    def add(self, low: int, step: int) -> bool:
        """Set the key's bits; return whether they were all set already (the key was probably seen)."""
        bits, mask = self._bits, self._mask
        seen = True
        for index in ((low + 4 * step) & mask, (low + 5 * step) & mask, (low + 6 * step) & mask):
            bit = 1 << (index & 7)
            if not bits[index >> 3] & bit:
                seen = False
                bits[index >> 3] |= bit
        return seen

    def contains(self, low: int, step: int) -> bool:
        """Whether the key's bits are all set (no false negatives; false positives by collisions)."""
        bits, mask = self._bits, self._mask
        first, second, third = (low + 4 * step) & mask, (low + 5 * step) & mask, (low + 6 * step) & mask
        return bool(
            bits[first >> 3] & (1 << (first & 7))
            and bits[second >> 3] & (1 << (second & 7))
            and bits[third >> 3] & (1 << (third & 7))
        )

    def clear(self) -> None:
        self._bits = bytearray(len(self._bits))


class FrequencySketch:
    """How often each key was recorded lately, for about ``capacity`` keys held at once.

    The first record of a key since the last reset only enters the doorkeeper;
    later ones also count in the count-min sketch, so one-hit wonders never
    occupy sketch counters.  ``estimate`` is the sketch's count plus one if the
    doorkeeper has the key.  After ``10 * capacity`` records (the sample) the
    sketch is halved, the doorkeeper cleared and the record count halved: old
    popularity fades.  ``record`` and ``estimate`` are O(1) amortized.
    """

    SAMPLE_PER_KEY = 10

    __slots__ = ("_doorkeeper", "_records", "_sample", "_sketch", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._sample = self.SAMPLE_PER_KEY * capacity
        self._sketch = CountMinSketch(4 * capacity)
        # 4 bits per record of the sample: under 15% false positives even if every record is a new key.
        self._doorkeeper = Doorkeeper(4 * self._sample)
        self._records = 0

    def record(self, key: str) -> None:
        hashed = hash(key)
        low, step = hashed & 0xFFFFFFFF, (hashed >> 32) | 1
        if self._doorkeeper.add(low, step):
            self._sketch.add(low, step)
        self._records += 1
        if self._records >= self._sample:
            self._sketch.halve()
            self._doorkeeper.clear()
            self._records //= 2

    def estimate(self, key: str) -> int:
        hashed = hash(key)
        low, step = hashed & 0xFFFFFFFF, (hashed >> 32) | 1
        return self._sketch.estimate(low, step) + self._doorkeeper.contains(low, step)
