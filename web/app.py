"""The Quart-Trio application: routes translate HTTP and WebSocket traffic into actor messages."""

from __future__ import annotations

from pathlib import Path

from quart import current_app, jsonify
from quart_trio import QuartTrio

from actors.hub import Hub

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
    app.extensions["agentdeck.hub"] = hub

    from .api import api
    from .ws_agent import agent_ws

    app.register_blueprint(api)
    app.register_blueprint(agent_ws)
    from .schemas_api import schemas_api

    app.register_blueprint(schemas_api)
    from .dashboard_api import dashboard_api
    from .metrics_api import metrics_api

    app.register_blueprint(dashboard_api)
    app.register_blueprint(metrics_api)
    from .stats_api import stats_api

    app.register_blueprint(stats_api)
    from .exports import exports
    from .pages import pages
    from .sse import sse

    app.register_blueprint(pages)
    app.register_blueprint(sse)
    app.register_blueprint(exports)

    @app.errorhandler(404)
    async def not_found(error):  # noqa: ANN001
        return jsonify(error="not_found", message=str(getattr(error, "description", error))), 404

    @app.errorhandler(405)
    async def not_allowed(error):  # noqa: ANN001
        return jsonify(error="method_not_allowed"), 405

    return app


def current_hub() -> Hub:
    return current_app.extensions["agentdeck.hub"]
