"""The tier chain behind Django's cache framework (extra ``daramjwee[django]``).

::

    CACHES = {
        "default": {
            "BACKEND": "daramjwee.contrib.django.DaramjweeCache",
            "LOCATION": "/var/cache/myapp",          # the file tier's directory; "" or absent: none
            "TIMEOUT": 300,                           # Django's default timeout (seconds; None: forever)
            "OPTIONS": {"memory": "64MiB", "disk": "1GiB", "redis": "redis://127.0.0.1:6379/0"},
        }
    }

**Tiers**, fastest first (named as ``daramjwee serve`` names them): a
memory tier of ``memory`` bytes (default ``"64MiB"``; ``None``: none), files
under ``LOCATION`` bounded by ``disk`` bytes (default ``"1GiB"``), and a
Redis tier at the ``redis`` URL with keys under ``redis_prefix`` (default
``"django:"``; extra ``daramjwee[redis]``).  Any other option, Django's
``MAX_ENTRIES``/``CULL_FREQUENCY`` included (the tiers are bounded by bytes,
not entries), a bad size, ``disk`` without ``LOCATION``, or no tier at all
raises :class:`~django.core.exceptions.ImproperlyConfigured` naming it.
Backends with the same ``LOCATION`` and ``OPTIONS`` share one chain in a
process (as ``LocMemCache`` instances of one name share their memory); it is
closed, its copies to the lower tiers drained, at interpreter exit or by
:func:`close_chains`.  ``close()`` does nothing: Django calls it after each
request.

**The API** is :class:`~django.core.cache.backends.base.BaseCache`'s, with
Django's semantics: ``KEY_PREFIX``, ``VERSION``, ``KEY_FUNCTION``, the
``CacheKeyWarning`` for keys memcached would refuse; a ``timeout`` of
``DEFAULT_TIMEOUT`` is ``TIMEOUT``, ``None`` keeps the value until it is
evicted, and ``0`` or less stores nothing and deletes the key (``add``
still answers whether it would have added).  Each entry carries its
lifetime (``Metadata.fresh_for`` with ``must_revalidate``): an expired
entry is a miss in every tier and is left for the tier to evict; ``incr``
keeps the entry's expiry time.  A value no tier 0 can hold (larger than
``memory``) is not stored: ``set`` deletes the key and logs a warning, and
``set_many`` returns it among the keys that failed.  ``incr`` of a missing
key raises ``ValueError``; ``delete`` answers whether a tier held the key
(an expired entry too, as with ``LocMemCache``).  The ``a``-prefixed methods run the same calls on
a worker thread of the event loop's executor (not Django's one shared
thread): the backend is thread-safe.

**Atomicity.** ``add``, ``incr``/``decr``, ``touch``, ``set`` and ``delete``
of one key are serialized by a lock within the process, so ``add`` succeeds
for exactly one of its concurrent callers and no increment is lost.  Across
processes sharing the file or Redis tier they are not atomic: two processes
may both ``add`` the same key, or lose one of two simultaneous increments;
each single write is still atomic (a reader sees the old value or the new,
never a mix), and a process's memory tier may keep serving a value another
process replaced until it expires or is evicted.  Use a store with atomic
counters (Django's ``RedisCache``) where that matters.

**Values** are pickled and signed (:class:`daramjwee.SignedPickleSerializer`,
HMAC-SHA256) under a key derived from ``SECRET_KEY``; values signed under a
derived key of ``SECRET_KEY_FALLBACKS`` are accepted too, so rotating
``SECRET_KEY`` keeps the cache readable.  Integers are pickled like any
value: ``incr`` reads, adds and writes the new value under the key's lock.
Whoever can write the cache directory or Redis but does not know
``SECRET_KEY`` cannot make this process unpickle their bytes: an unsigned,
altered or foreign entry reads as a miss (logged at WARNING by
``daramjwee.contrib.django``) and is replaced by the next write.  A value
that cannot be pickled raises ``pickle.PickleError`` before anything is
stored.
"""

from ._backend import DaramjweeCache
from ._chains import close_chains

__all__ = ["DaramjweeCache", "close_chains"]
