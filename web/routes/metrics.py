"""``GET /metrics``: the hub's figures in Prometheus text format, from the metrics actor."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from quart import Blueprint

from agentdeck.actors.messages import GetMetrics
from agentdeck.web.context import current_hub

metrics_api = Blueprint("metrics_api", __name__)


@metrics_api.get("/metrics")
async def metrics():
    body = await current_hub().ask_metrics(GetMetrics())  # no answer: 503 (web/errors.py)
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
