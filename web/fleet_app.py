"""The ``agentdeck fleet`` web app: one page over every hub on the broker, live by SSE fragments.

Read-only by construction: the app has GET routes only and the fleet holds no task files. The page
is rendered on the server; ``/events`` sends the regions (``summary``, ``hubs``, ``agents``,
``costs``, ``feed``) whose HTML changed since that browser's last one, at most every
``MIN_INTERVAL`` seconds and at least every second (a hub turns unreachable by time alone). A browser
that reconnects gets every region again. ``/api/fleet`` is the same snapshot as JSON.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

import trio
from jinja2 import Environment
from markupsafe import Markup
from quart import jsonify, render_template, request
from quart_trio import QuartTrio

from agentdeck.actors.fleet.service import Fleet
from agentdeck.web.guard import HostPolicy, RequestGuard
from agentdeck.web.live.clients import format_event

WEB_ROOT = files("agentdeck.web")
REGIONS = ("summary", "hubs", "agents", "costs", "feed")
MIN_INTERVAL = 0.2
TICK = 1.0
KEEPALIVE_S = 15.0


def render_regions(env: Environment, snapshot: dict[str, Any]) -> dict[str, str]:
    return {name: env.get_template(f"partials/fleet_{name}.html").render(s=snapshot) for name in REGIONS}


async def region_stream(fleet: Fleet, env: Environment) -> AsyncIterator[str]:
    """One browser's stream: every region first, then the regions that changed."""
    sent: dict[str, str] = {}
    counter = 0
    last_write = time.monotonic()
    yield "retry: 1000\n\n"
    while not fleet.shutdown.is_set():
        regions = render_regions(env, fleet.snapshot())
        changed = [(name, html) for name, html in regions.items() if sent.get(name) != html]
        if changed:
            counter += 1
            sent.update(changed)
            yield "".join(format_event(f"{counter}-{name}", name, html) for name, html in changed)
            last_write = time.monotonic()
        elif time.monotonic() - last_write >= KEEPALIVE_S:
            yield ": keepalive\n\n"
            last_write = time.monotonic()
        await trio.sleep(MIN_INTERVAL)
        await fleet.wait_changed(TICK)  # also returns at shutdown


def create_fleet_app(fleet: Fleet, host: str = "127.0.0.1", allowed_hosts: tuple[str, ...] = ()) -> QuartTrio:
    """The app; the Host allow-list and security headers are the hub's (``web.guard``)."""
    app = QuartTrio("agentdeck.web", root_path=str(WEB_ROOT), instance_path=str(WEB_ROOT),
                    static_folder=str(WEB_ROOT / "static"), static_url_path="/static",
                    template_folder=str(files("agentdeck.templates")))
    app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"] = None
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024

    guard = RequestGuard(app.asgi_app, HostPolicy.for_bind(host, allowed_hosts))
    app.asgi_app = guard  # type: ignore[method-assign, assignment]  # where Quart takes middleware

    @app.before_request
    async def read_only():
        if request.method not in ("GET", "HEAD"):
            return jsonify(error="method_not_allowed", message="the fleet view is read-only"), 405
        return None

    @app.get("/")
    async def page():
        snapshot = fleet.snapshot()
        regions = {name: Markup(html) for name, html in render_regions(app.jinja_env, snapshot).items()}
        return await render_template("fleet.html", regions=regions, s=snapshot)

    @app.get("/events")
    async def events():
        response = app.response_class(region_stream(fleet, app.jinja_env), headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        response.timeout = None
        return response

    @app.get("/api/fleet")
    async def api_fleet():
        response = jsonify(fleet.snapshot())
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/health")
    async def health():
        snapshot = fleet.snapshot()
        return jsonify(status="ok" if snapshot["broker"]["connected"] else "degraded",
                       uptime_s=round(time.time() - fleet.started_at, 3), broker=snapshot["broker"],
                       hubs={h["hub"]: h["status"] for h in snapshot["hubs"]},
                       telemetry=None if fleet.costs is None else {
                           "location": fleet.costs.store.location, "error": snapshot["costs"]["error"]})

    @app.errorhandler(404)
    async def not_found(error):
        return jsonify(error="not_found"), 404

    @app.errorhandler(405)
    async def not_allowed(error):
        return jsonify(error="method_not_allowed"), 405

    return app
