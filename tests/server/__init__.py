"""Tests of ``daramjwee serve`` (``daramjwee.server``)."""
