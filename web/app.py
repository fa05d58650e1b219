"""The Quart-Trio application: routes translate HTTP and WebSocket traffic into actor messages."""

from __future__ import annotations

import functools
from importlib.resources import files

from quart.json.provider import DefaultJSONProvider
from quart_trio import QuartTrio

from agentdeck.actors.hub import Hub
from agentdeck.web.asgi_ws import PlainSockets
from agentdeck.web.compression import GzipMiddleware
from agentdeck.web.context import attach_hub
from agentdeck.web.dashboard_output import install_output_fanout
from agentdeck.web.errors import register_error_handlers
from agentdeck.web.guard import HostPolicy, RequestGuard
from agentdeck.web.live.regions import add_page_globals
from agentdeck.web.routes.actions import actions
from agentdeck.web.routes.agent_socket import AGENT_SOCKET_PATH, serve_agent
from agentdeck.web.routes.api import api
from agentdeck.web.routes.dashboard import DASHBOARD_SOCKET_PATH, dashboard_api, dashboard_socket_handler
from agentdeck.web.routes.events import ENCODER_KEY, EventStreams, install_broadcaster
from agentdeck.web.routes.exports import exports
from agentdeck.web.routes.lanes import lanes
from agentdeck.web.routes.metrics import metrics_api
from agentdeck.web.routes.pages import pages
from agentdeck.web.routes.schemas import schemas_api
from agentdeck.web.routes.stats import stats_api

# Flask cannot find the root of a package in a namespace (agentdeck.*) by itself.
WEB_ROOT = files("agentdeck.web")


class UnsortedJSON(DefaultJSONProvider):
    """JSON answers keep the order the code built them in (readers see the important fields first)."""

    sort_keys = False


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
    app.json = UnsortedJSON(app)
    attach_hub(app, hub)
    add_page_globals(app.jinja_env)
    for blueprint in (api, schemas_api, dashboard_api, metrics_api, stats_api, pages, lanes,
                      exports, actions):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    broadcaster = install_broadcaster(app, hub)
    install_output_fanout(app, hub.bus)
    # outermost first: the guard (Host, session, security headers) sees every request; /events and
    # the two WebSockets are served by their own ASGI apps; the rest is Quart's, gzip-compressed
    sockets = PlainSockets(GzipMiddleware(app.asgi_app), {
        AGENT_SOCKET_PATH: functools.partial(serve_agent, hub),
        DASHBOARD_SOCKET_PATH: dashboard_socket_handler(app, hub)})
    streams = EventStreams(sockets, broadcaster, hub, app.extensions[ENCODER_KEY])
    hosts = HostPolicy.for_bind(hub.config.host, hub.config.allowed_hosts)
    app.asgi_app = RequestGuard(streams, hosts, hub.config.dashboard_token)  # type: ignore[method-assign, assignment]

    return app
