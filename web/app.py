"""The Quart-Trio application: routes translate HTTP and WebSocket traffic into actor messages."""

from __future__ import annotations

from pathlib import Path

from quart import jsonify
from quart_trio import QuartTrio

from actors.hub import Hub

from .api import api
from .context import attach_hub
from .dashboard_api import dashboard_api
from .exports import exports
from .metrics_api import metrics_api
from .pages import pages
from .schemas_api import schemas_api
from .sse import sse
from .stats_api import stats_api
from .ws_agent import agent_ws

ROOT = Path(__file__).resolve().parent.parent


def create_app(hub: Hub) -> QuartTrio:
    app = QuartTrio(
        "agentdeck",
        static_folder=str(ROOT / "web" / "static"),
        static_url_path="/static",
        template_folder=str(ROOT / "templates"),
    )
    app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.json.sort_keys = False
    attach_hub(app, hub)
    for blueprint in (api, agent_ws, schemas_api, dashboard_api, metrics_api, stats_api, pages, sse,
                      exports):
        app.register_blueprint(blueprint)

    @app.errorhandler(404)
    async def not_found(error):  # noqa: ANN001
        return jsonify(error="not_found", message=str(getattr(error, "description", error))), 404

    @app.errorhandler(405)
    async def not_allowed(error):  # noqa: ANN001
        return jsonify(error="method_not_allowed"), 405

    return app
