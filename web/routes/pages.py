"""The dashboard's HTML pages: the board, a task's detail (own URL), the dependency graph, Retry.

Every region on a page is rendered by ``fragments.Renderer``, the same code that renders the live
updates, so the first paint and every later swap are the same markup. State-changing requests
(Retry) must come from our own pages: same-origin fetch metadata and Origin, and a per-browser
token (a SameSite=Strict cookie that the page repeats in an ``X-CSRF-Token`` header via htmx).
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import yaml
from markupsafe import Markup
from quart import Blueprint, current_app, render_template, request

from agentdeck.actors import messages
from agentdeck.actors.messages import GetTask, Task
from agentdeck.web.context import current_hub
from agentdeck.web.live.regions import (
    GRAPH_REGIONS,
    MAIN_REGIONS,
    BoardFilter,
    Renderer,
    fragment_env,
)
from agentdeck.web.routes.events import BROADCASTER_KEY
from agentdeck.web.view.present import cost_row, execution_meta, present_task, task_hash, waiting_words
from agentdeck.web.view.run_output import download_text, panel_output
from agentdeck.web.view.work import work_view

MAX_LISTED_DEPENDENCIES = 200  # in the panel; a file may name tens of thousands
CSRF_COOKIE = "agentdeck_csrf"
CSRF_HEADER = "X-CSRF-Token"

pages = Blueprint("pages", __name__)


def _renderer() -> Renderer:
    return Renderer(fragment_env(current_app), current_hub())


def _broadcaster():
    return current_app.extensions.get(BROADCASTER_KEY)


def _csrf_token() -> tuple[str, bool]:
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) >= 32 and token.isalnum():
        return token, False
    return secrets.token_hex(24), True


async def _page(template: str, regions: tuple[str, ...], view: str, **extra: Any):
    flt = BoardFilter.from_args(request.args)
    broadcaster = _broadcaster()
    since, sent = broadcaster.page_lanes(flt) if broadcaster else ("", {})
    activity = list(broadcaster.activity) if broadcaster else []
    rendered = await _renderer().render([r for r in regions if r not in sent], flt, activity)
    rendered.update({name: Markup(html) for name, html in sent.items() if name in regions})
    token, fresh = _csrf_token()
    board = await _renderer().sources.board(BoardFilter())
    agents = sorted({name for lane in (board.assigned, board.done, board.inbox, board.dead)
                     for t in lane if (name := t.lane_agent or t.agent)})
    events_url = "/events?" + "&".join(f"{k}={v}" for k, v in
                                       (("view", view), ("since", since), ("tab", secrets.token_hex(16))) if v)
    if flt.key:
        events_url += "&" + flt.key
    html = await render_template(template, regions=rendered, flt=flt, csrf=token, agents=agents,
                                 events_url=events_url, view=view, **extra)
    response = current_app.response_class(html, content_type="text/html; charset=utf-8")
    if fresh:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/")
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.get("/")
async def board_page():
    return await _page("index.html", MAIN_REGIONS, "board")


@pages.get("/graph")
async def graph_page():
    return await _page("graph.html", GRAPH_REGIONS, "graph")


def _field_value(value: Any) -> dict[str, Any]:
    if isinstance(value, (dict, list)):
        return {"block": True, "text": yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip()}
    return {"block": isinstance(value, str) and "\n" in value, "text": "" if value is None else str(value)}


async def task_context(task: Task) -> dict[str, Any]:
    """Everything the detail panel shows for one task."""
    renderer = _renderer()
    board = await renderer.sources.board(BoardFilter())
    by_id = {t.id: t for lane in (board.inbox, board.assigned, board.done, board.dead) for t in lane}
    output = panel_output(task, await renderer.sources.run_history(task.id))
    waiting = (await renderer.sources.waiting((task.id,))).get(task.id) if task.lane == "inbox" else None
    meta = execution_meta(task)
    criteria = task.fields.get("acceptance_criteria")
    if isinstance(criteria, str):
        criteria = [line.strip("-* ").strip() for line in criteria.splitlines() if line.strip()]
    attempts = task.attempt_records
    return {
        "task": task,
        "work": work_view(task),
        "card": present_task(task, time.time()),
        "hash": task_hash(task.id),
        "fields": [(str(k), _field_value(v)) for k, v in task.fields.items()],
        "criteria": criteria if isinstance(criteria, list) else [],
        "dependencies": [{"id": d, "lane": by_id[d].lane if d in by_id else None,
                          "title": by_id[d].title if d in by_id else None}
                         for d in task.dependencies[:MAX_LISTED_DEPENDENCIES]],
        "routing": routing if isinstance(routing := task.fields.get("routing_decision"), dict) else None,
        "attempts": attempts,
        "output": output,
        "waiting": waiting_words(waiting),
        "cost": cost_row(meta) if meta else None,
    }


async def _get_task(task_id: str) -> Task | None:
    try:
        return await current_hub().ask_queue(GetTask(task_id))
    except KeyError:
        return None


@pages.get("/tasks/<path:task_id>")
async def task_page(task_id: str):
    task = await _get_task(task_id)
    if task is None:
        if request.headers.get("HX-Request"):
            return await render_template("partials/task_missing.html", task_id=task_id), 404
        response = await _page("index.html", MAIN_REGIONS, "board", missing=task_id)
        response.status_code = 404
        return response
    context = await task_context(task)
    if request.headers.get("HX-Request"):
        return await render_template("partials/task_panel.html", d=context)
    return await _page("index.html", MAIN_REGIONS, "board", detail=context)


@pages.get("/tasks/<path:task_id>/part/<part>")
async def task_part(task_id: str, part: str):
    if part not in ("info", "cost", "output"):
        return "unknown part", 404
    task = await _get_task(task_id)
    if task is None:
        return await render_template("partials/task_missing.html", task_id=task_id), 404
    return await render_template(f"partials/task_{part}.html", d=await task_context(task))


@pages.get("/tasks/<path:task_id>/output.txt")
async def task_output_download(task_id: str):
    task = await _get_task(task_id)
    if task is None:
        return "no such task", 404
    attempt = request.args.get("attempt", "")
    record = await _renderer().sources.run_history(task.id)
    text = download_text(task, record, int(attempt) if attempt.isdigit() else None)
    response = current_app.response_class(text, content_type="text/plain; charset=utf-8")
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in task.id)[:80] or "task"
    suffix = f"-attempt-{attempt}" if attempt.isdigit() else ""
    response.headers["Content-Disposition"] = f'attachment; filename="{name}{suffix}-output.txt"'
    response.headers["Cache-Control"] = "no-store"
    return response


def cross_site_refusal() -> str | None:
    """Why this state-changing request is refused, or None when it comes from our own page."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request ({site})"
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return "request from another origin"
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not secrets.compare_digest(cookie, header):
        return "missing or wrong CSRF token (reload the page)"
    return None


@pages.post("/tasks/<path:task_id>/retry")
async def retry_task(task_id: str):
    refusal = cross_site_refusal()
    if refusal is not None:
        return await render_template("partials/retry_result.html", ok=False, task_id=task_id,
                                     message=f"Refused: {refusal}"), 403
    command = getattr(messages, "RetryTask", None)
    if command is None:
        return await render_template("partials/retry_result.html", ok=False, task_id=task_id,
                                     message="Retry is not available in this build"), 501
    try:
        outcome = await current_hub().ask_queue(command(task_id))
    except Exception as error:
        return await render_template("partials/retry_result.html", ok=False, task_id=task_id,
                                     message=f"Retry failed: {error}"), 500
    ok = outcome == "requeued"
    message = "Sent back to the inbox" if ok else f"Not in the dead letter ({outcome})"
    return await render_template("partials/retry_result.html", ok=ok, task_id=task_id,
                                 message=message), 200 if ok else 404
