"""Telemetry: what every model invocation cost, kept in SQLite by one actor, aggregated for /api/stats.

Offers: ``actor.Telemetry`` (the actor; answers ``GetStats`` with a ``StatsReply``), ``pricing``
(USD per invocation; unknown models are unpriced, never $0), ``backend.TelemetryBackend`` (the seam
to a database) with ``store`` (SQLite) and ``postgres`` (a fleet's shared database). Internals:
``stats`` (the running aggregator), ``rows`` (events and task files -> rows).
"""
