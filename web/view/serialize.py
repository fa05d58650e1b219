"""Actor messages -> plain JSON-ready dicts, for the JSON API, exports and the dashboard socket."""

from __future__ import annotations

from typing import Any

import attrs

from agentdeck.actors.messages import BoardView, Event, InvalidTaskFile, Task

PLAIN_VALUES = frozenset((str, int, float, bool, type(None)))  # JSON as they are (most event fields)


def task_summary(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "title": task.title,
        "lane": task.lane,
        "lane_agent": task.lane_agent,
        "agent": task.agent,
        "status": task.status,
        "priority": task.priority,
        "created": task.created,
        "description": task.description,
        "dependencies": list(task.dependencies),
        "estimated_hours": task.estimated_hours,
        "tags": list(task.tags),
        "generation": task.generation,
        "retry_count": task.retry_count,
        "path": task.path,
    }


def task_detail(task: Task) -> dict[str, Any]:
    return {**task_summary(task), "fields": dict(task.fields)}


def invalid_json(invalid: InvalidTaskFile) -> dict[str, str]:
    return {"path": invalid.path, "error": invalid.error}


def board_json(view: BoardView) -> dict[str, Any]:
    def by_agent(tasks: tuple[Task, ...]) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for task in tasks:
            grouped.setdefault(task.lane_agent or "", []).append(task_summary(task))
        return grouped

    return {
        "inbox": [task_summary(t) for t in view.inbox],
        "assigned": by_agent(view.assigned),
        "done": by_agent(view.done),
        "dead": [task_summary(t) for t in view.dead],
        "invalid": [invalid_json(i) for i in view.invalid],
    }


def event_json(event: Event) -> dict[str, Any]:
    """Any bus event as JSON: tasks are summarised, other fields kept as they are."""
    out: dict[str, Any] = {"type": event.kind}
    for field in attrs.fields(type(event)):
        value = getattr(event, field.name)
        if type(value) in PLAIN_VALUES:
            pass
        elif isinstance(value, Task):
            value = task_summary(value)
        elif attrs.has(type(value)):
            value = attrs.asdict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[field.name] = value
    if "task" in out and isinstance(out["task"], dict):
        out.setdefault("task_id", out["task"]["id"])
    return out
