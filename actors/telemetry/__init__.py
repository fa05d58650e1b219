"""Telemetry: what every model invocation cost, kept in SQLite by one actor, aggregated for /api/stats."""
