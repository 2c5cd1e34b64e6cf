"""Metrics built on ``leaselect.events``: ``leaselect.metrics.prometheus`` (the ``prometheus``
extra). docs/operations.md lists the metrics and example alerts."""
