"""Integrations of daramjwee with other libraries, one subpackage each, each behind an extra.

- ``daramjwee.contrib.otel``: OpenTelemetry metrics and spans (extra ``otel``).
"""
