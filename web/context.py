"""The hub a request is served for: set once by ``create_app``, read by every route module."""

from __future__ import annotations

from quart import Quart, current_app

from agentdeck.actors.hub import Hub

HUB_KEY = "agentdeck.hub"


def attach_hub(app: Quart, hub: Hub) -> None:
    app.extensions[HUB_KEY] = hub


def current_hub() -> Hub:
    return current_app.extensions[HUB_KEY]
