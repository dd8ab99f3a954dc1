"""The test helpers that hold both flavours: ``daramjwee.testing._async`` is written by hand, and
``scripts/unasync.py`` generates ``daramjwee.testing._sync`` from it."""
