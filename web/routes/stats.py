"""``GET /api/stats``: cost, token and latency figures, as the telemetry actor last computed them.

The answer (see ``agentdeck.actors.telemetry.stats.Aggregator.stats``): ``today`` / ``month`` / ``all_time``
(``cost_usd``, ``tokens``, ``invocations``, ``unpriced``) in the server's time zone (``timezone``);
``by_model`` / ``by_agent`` (all-time figures plus ``today_cost_usd``, ``month_cost_usd``);
``daily_trend`` (30 days, oldest first); ``avg_cost_per_invocation_usd`` (priced rows only),
``cost_velocity_usd_per_day``, ``latency_ms`` (``avg``, ``p95``), ``success_rate``,
``saved_by_local_usd``, ``unpriced_invocations``, ``budget`` (per period: budget, spent, percent,
level) and ``source`` (``loaded``, ``fresh``, ``error``: whether the figures are current).

``?scope=fleet`` answers for every hub sharing this hub's PostgreSQL telemetry database: the same
figures over all their rows, the fleet budget, and ``by_hub``; 404 when the telemetry is this hub's
own SQLite file.
"""

from __future__ import annotations

from quart import Blueprint, jsonify, request

from agentdeck.actors.messages import GetStats
from agentdeck.actors.replies import StatsReply
from agentdeck.web.context import current_hub

stats_api = Blueprint("stats_api", __name__)


@stats_api.get("/api/stats")
async def stats():
    scope = request.args.get("scope", "hub")
    if scope not in ("hub", "fleet"):
        return jsonify(error="bad_request", message="scope must be hub or fleet"), 400
    figures = await current_hub().ask_telemetry(GetStats(scope))  # no answer: 503 (web/errors.py)
    if figures is None:
        return jsonify(error="not_found", message="this hub's telemetry is not shared with a fleet "
                       "(start it with --telemetry-db postgresql://...)"), 404
    response = jsonify(figures.json() if isinstance(figures, StatsReply) else figures)  # fleet: every hub's
    response.headers["Cache-Control"] = "no-store"
    return response
