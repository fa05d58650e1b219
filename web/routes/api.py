"""The JSON API: health and the task board, for scripts and polling."""

from __future__ import annotations

import time

from quart import Blueprint, jsonify, request

from agentdeck.actors.mailbox import ActorUnavailable
from agentdeck.actors.messages import LANES, PRIORITIES, GetHealth, GetTask, ListAgents, ListTasks
from agentdeck.actors.replies import HealthReport
from agentdeck.web.context import current_hub
from agentdeck.web.view.serialize import board_json, task_detail

api = Blueprint("api", __name__)

HEALTH_TIMEOUT_S = 2.0  # the dashboard answers from memory; no answer this soon is itself critical


@api.get("/health")
async def health():
    """The dashboard's status with its conditions (the same as ``/api/dashboard/state``'s health) and
    what each part says of itself. Always 200 with a JSON body: a monitor reads ``status``."""
    hub = current_hub()
    try:
        report: HealthReport = await hub.ask_dashboard(GetHealth(), HEALTH_TIMEOUT_S)
    except ActorUnavailable as error:
        return jsonify(status="critical", conditions=[f"dashboard_unavailable: {error}"],
                       uptime_s=round(time.time() - hub.started_at, 3), started_at=hub.started_at)
    return jsonify(report.json())


_TRUE_WORDS = ("1", "true", "yes", "on")
_FALSE_WORDS = ("0", "false", "no", "off")


def _bad_request(message: str):
    return jsonify(error="bad_request", message=message), 400


@api.get("/api/tasks")
async def list_tasks():
    priority = request.args.get("priority") or None
    lane = request.args.get("lane") or None
    include_done = request.args.get("include_done", "true").strip().lower()
    if priority is not None and priority.lower() not in PRIORITIES:
        return _bad_request(f"priority must be one of {list(PRIORITIES)}")
    if lane is not None and lane not in LANES:
        return _bad_request(f"lane must be one of {list(LANES)}")
    if include_done not in _TRUE_WORDS + _FALSE_WORDS:
        return _bad_request("include_done must be true or false")
    query = ListTasks(agent=request.args.get("agent") or None,
                      priority=priority.lower() if priority else None, lane=lane,
                      include_done=include_done in _TRUE_WORDS)
    view = await current_hub().ask_queue(query)
    return jsonify({**board_json(view), "timestamp": time.time()})


@api.get("/api/tasks/<path:task_id>")
async def get_task(task_id: str):
    try:
        task = await current_hub().ask_queue(GetTask(task_id))
    except KeyError:
        return jsonify(error="not_found", message=f"no task with id {task_id!r}"), 404
    return jsonify(task_detail(task))


@api.get("/api/agents")
async def list_agents():
    agents = await current_hub().ask_queue(ListAgents())
    return jsonify(agents=agents, timestamp=time.time())
