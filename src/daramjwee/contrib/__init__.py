"""Integrations of daramjwee with frameworks and tools, each importing its framework only there.

* ``daramjwee.contrib.django``: a Django cache backend (extra ``[django]``);
* ``daramjwee.contrib.asgi``: ``CacheMiddleware`` and ``CachedResponse`` for Starlette, FastAPI and any ASGI app
  (extra ``[asgi]`` for ``CachedResponse``);
* ``daramjwee.contrib.otel``: OpenTelemetry metrics and spans (extra ``[otel]``).
"""
