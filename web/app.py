"""The Quart-Trio application: routes translate HTTP and WebSocket traffic into actor messages."""

from __future__ import annotations

from importlib.resources import files

from quart import jsonify
from quart_trio import QuartTrio

from agentdeck.actors.hub import Hub
from agentdeck.web.context import attach_hub
from agentdeck.web.guard import HostPolicy, RequestGuard
from agentdeck.web.routes.agent_socket import agent_ws
from agentdeck.web.routes.api import api
from agentdeck.web.routes.dashboard import dashboard_api
from agentdeck.web.routes.events import sse
from agentdeck.web.routes.exports import exports
from agentdeck.web.routes.metrics import metrics_api
from agentdeck.web.routes.pages import pages
from agentdeck.web.routes.schemas import schemas_api
from agentdeck.web.routes.stats import stats_api
from agentdeck.web.view.present import path_segment

# Flask cannot find the root of a package in a namespace (agentdeck.*) by itself.
WEB_ROOT = files("agentdeck.web")


def create_app(hub: Hub) -> QuartTrio:
    app = QuartTrio(
        "agentdeck.web",
        root_path=str(WEB_ROOT),
        instance_path=str(WEB_ROOT),
        static_folder=str(WEB_ROOT / "static"),
        static_url_path="/static",
        template_folder=str(files("agentdeck.templates")),
    )
    app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.json.sort_keys = False
    attach_hub(app, hub)
    app.jinja_env.filters["segment"] = path_segment
    hosts = HostPolicy.for_bind(hub.config.host, hub.config.allowed_hosts)
    guard = RequestGuard(app.asgi_app, hosts, hub.config.dashboard_token)
    app.asgi_app = guard  # type: ignore[method-assign, assignment]  # where Quart takes middleware
    for blueprint in (api, agent_ws, schemas_api, dashboard_api, metrics_api, stats_api, pages, sse,
                      exports):
        app.register_blueprint(blueprint)

    @app.errorhandler(404)
    async def not_found(error):
        return jsonify(error="not_found", message=str(getattr(error, "description", error))), 404

    @app.errorhandler(405)
    async def not_allowed(error):
        return jsonify(error="method_not_allowed"), 405

    return app
