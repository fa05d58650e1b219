"""``GET /api/stats``: cost, token and latency figures, as the telemetry actor last computed them."""

from __future__ import annotations

from quart import Blueprint, jsonify

from actors.mailbox import ActorUnavailable
from actors.messages import GetStats

from .app import current_hub

stats_api = Blueprint("stats_api", __name__)


@stats_api.get("/api/stats")
async def stats():
    try:
        figures = await current_hub().ask_telemetry(GetStats())
    except ActorUnavailable as error:
        return jsonify(error="unavailable", message=str(error)), 503
    response = jsonify(figures)
    response.headers["Cache-Control"] = "no-store"
    return response
