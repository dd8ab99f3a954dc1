"""OpenTelemetry metrics and spans for daramjwee caches (extra ``otel``: needs only ``opentelemetry-api``).

Two pieces, both optional, for ``Cache`` and ``AsyncCache`` alike:

- :func:`instrument` exports the counters the cache keeps anyway
  (``cache.stats()``: hits per tier, origin fetches, promotions, fan-outs,
  refreshes, errors...) as observable counters, read when the SDK collects:
  nothing is added to the read path.
- :class:`OpenTelemetryObserver`, passed as ``observer=`` to the cache,
  records read latency per outcome and origin-fetch latency (histograms),
  and opens spans for origin fetches and tier reads under the caller's
  current span.

The application brings the SDK (``opentelemetry-sdk``) and its exporters;
without an SDK configured, the API's no-op providers make both free of
effect.  Metric names and attributes are listed in :data:`METRICS`; the
README's "OpenTelemetry" section has an example.
"""

from __future__ import annotations

try:
    import opentelemetry.metrics
    import opentelemetry.trace  # noqa: F401
except ImportError as error:  # pragma: no cover - the extra is installed wherever the tests run
    raise ImportError(
        "daramjwee.contrib.otel needs opentelemetry-api: pip install 'daramjwee[otel]' "
        "(and opentelemetry-sdk to collect and export)"
    ) from error

from ._names import METRICS
from ._observer import OpenTelemetryObserver
from ._stats import instrument

__all__ = ["METRICS", "OpenTelemetryObserver", "instrument"]
