"""The dashboard state actor and its pure parts: snapshot tables, JSON views, health rules, metrics.

Offers: ``actor.DashboardState`` (answers ``GetDashboardSnapshot`` and ``GetHealth``), ``health``
(the rules and thresholds behind ok / warning / critical; pure), ``metrics.Metrics`` (the
Prometheus actor, and ``StreamClients`` that the live routes count themselves in). Internals:
``tables``, ``throughput``, ``live_runs``, ``views``.
"""
