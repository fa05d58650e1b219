"""Hypercorn's trio worker, run inside the hub's nursery on one port for pages, SSE and WebSockets."""

from __future__ import annotations

import gc

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from agentdeck.actors.hub import Hub
from agentdeck.web import ws_inflate
from agentdeck.web.app import create_app
from agentdeck.web.dashboard_output import output_fanout_of
from agentdeck.web.routes.events import broadcaster_of


def _config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    # In-flight requests get this long at shutdown. A keep-alive connection whose stream we ended
    # just before Hypercorn marked itself terminated is not closed as idle but held until this
    # deadline, so it bounds every shutdown with an open /events stream: keep it short.
    config.graceful_timeout = 0.5
    config.accesslog = None
    config.errorlog = "-"
    # a backstop (closes with 1009, counting characters); /ws enforces its own 1 MiB in UTF-8
    # bytes and closes with 1008, so a frame just over the limit gets the protocol's answer
    config.websocket_max_message_size = ws_inflate.MAX_INFLATED_BYTES
    config.keep_alive_timeout = 5.0
    return config


async def serve(app, host: str, port: int, shutdown: trio.Event, *,
                task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until ``shutdown`` is set; reports the bound addresses (``port=0`` picks a free one)."""
    ws_inflate.install()  # compressed frames inflate only up to the message limit
    await hypercorn_serve(app, _config(host, port), shutdown_trigger=shutdown.wait,
                          task_status=task_status)


async def run_hub(hub: Hub, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
    """The whole process in one nursery: actors first, then the web server; returns on shutdown."""
    async with trio.open_nursery() as nursery:
        await hub.start_actors(nursery)
        app = create_app(hub)
        await hub.start_supervised(nursery, "broadcaster", broadcaster_of(app).run)
        await hub.start_supervised(nursery, "dashboard-output", output_fanout_of(app).run)
        async with trio.open_nursery() as web:
            hub.addresses = await web.start(serve, app, hub.config.host,
                                            hub.config.port, hub.shutdown)
            # what start-up made (the board, templates, modules) lives as long as the process:
            # the collector stops walking it, so a full collection costs what changed since
            gc.freeze()
            task_status.started(hub.addresses)
        # the web server stopped on hub.shutdown; the actors go now
        nursery.cancel_scope.cancel()
