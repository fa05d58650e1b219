"""The JSON API: health and the task board, for scripts and polling."""

from __future__ import annotations

import time

from quart import Blueprint, jsonify, request

from actors.messages import LANES, PRIORITIES, GetTask, ListTasks

from .app import current_hub
from .serialize import board_json, task_detail

api = Blueprint("api", __name__)


@api.get("/health")
async def health():
    hub = current_hub()
    return jsonify(
        status="ok",
        uptime_s=round(time.time() - hub.started_at, 3),
        started_at=hub.started_at,
        actors=hub.supervisor.status(),
        watcher={"mode": hub.watcher.mode, "reason": hub.watcher.mode_reason},
    )


def _bool_arg(name: str, default: bool) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off")


@api.get("/api/tasks")
async def list_tasks():
    priority = request.args.get("priority") or None
    lane = request.args.get("lane") or None
    if priority is not None and priority.lower() not in PRIORITIES:
        return jsonify(error="bad_request", message=f"priority must be one of {list(PRIORITIES)}"), 400
    if lane is not None and lane not in LANES:
        return jsonify(error="bad_request", message=f"lane must be one of {list(LANES)}"), 400
    query = ListTasks(agent=request.args.get("agent") or None,
                      priority=priority.lower() if priority else None, lane=lane,
                      include_done=_bool_arg("include_done", True))
    view = await current_hub().ask_queue(query)
    return jsonify({**board_json(view), "timestamp": time.time()})


@api.get("/api/tasks/<task_id>")
async def get_task(task_id: str):
    try:
        task = await current_hub().ask_queue(GetTask(task_id))
    except KeyError:
        return jsonify(error="not_found", message=f"no task with id {task_id!r}"), 404
    return jsonify(task_detail(task))
