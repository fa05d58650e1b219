"""``GET /metrics``: the hub's figures in Prometheus text format, from the metrics actor."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from quart import Blueprint, jsonify

from actors.mailbox import ActorUnavailable
from actors.messages import GetMetrics

from .context import current_hub

metrics_api = Blueprint("metrics_api", __name__)


@metrics_api.get("/metrics")
async def metrics():
    try:
        body = await current_hub().ask_metrics(GetMetrics())
    except ActorUnavailable as error:
        return jsonify(error="unavailable", message=str(error)), 503
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
