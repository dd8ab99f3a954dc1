"""The async implementation; ``daramjwee._sync`` is generated from it by ``scripts/unasync.py``."""
