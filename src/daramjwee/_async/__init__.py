"""The implementation, in two flavours: ``daramjwee._async`` is written by hand, and ``scripts/unasync.py`` generates
``daramjwee._sync`` from it."""
