"""``GET /api/schemas``: the agent protocol's schema table, published so sidecar authors can check."""

from __future__ import annotations

from quart import Blueprint, jsonify

from agentdeck.actors.protocol.schema import schemas_json
from agentdeck.web.context import current_hub

schemas_api = Blueprint("schemas_api", __name__)


@schemas_api.get("/api/schemas")
async def get_schemas():
    return jsonify(schemas_json(current_hub().config.agent_frame_rate))
