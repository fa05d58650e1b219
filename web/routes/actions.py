"""State changes from the dashboard: add a task, cancel one, retry or cancel many (a dead-letter
group, or a list of ids). Every one is refused unless it comes from our own page
(``cross_site_refusal``); each answers with a toast for the page and a status code for scripts.
"""

from __future__ import annotations

import trio
from quart import Blueprint, render_template, request

from agentdeck.actors.messages import CancelTask, ListTasks, RetryTask
from agentdeck.web.commands.task_file import task_fields, write_new_task
from agentdeck.web.context import current_hub
from agentdeck.web.routes.pages import cross_site_refusal
from agentdeck.web.view.dead_letter import dead_groups

actions = Blueprint("actions", __name__)

MAX_BULK = 1000
MAX_TITLE = 300
MAX_DESCRIPTION = 20_000
DONE = {"retry": "requeued", "cancel": "cancelled"}


async def _toast(ok: bool, subject: str, message: str, status: int):
    return await render_template("partials/retry_result.html", ok=ok, task_id=subject,
                                 message=message), status


async def _one(action: str, task_id: str) -> str:
    command = RetryTask(task_id) if action == "retry" else CancelTask(task_id)
    try:
        return str(await current_hub().ask_queue(command))
    except Exception as error:  # the queue's answer, whatever it is, goes back as words
        return f"error: {error}"


@actions.post("/tasks/<path:task_id>/cancel")
async def cancel_task(task_id: str):
    refusal = cross_site_refusal()
    if refusal is not None:
        return await _toast(False, task_id, f"Refused: {refusal}", 403)
    outcome = await _one("cancel", task_id)
    if outcome == "cancelled":
        return await _toast(True, task_id, "Cancelled: moved to the dead letter", 200)
    return await _toast(False, task_id, f"Not cancelled: not queued or running ({outcome})", 404)


@actions.post("/tasks/bulk")
async def bulk():
    """``action`` = retry | cancel, with ``ids`` (repeated) or a dead-letter ``group`` key."""
    refusal = cross_site_refusal()
    if refusal is not None:
        return await _toast(False, "bulk", f"Refused: {refusal}", 403)
    form = await request.form
    action = form.get("action", "")
    if action not in DONE:
        return await _toast(False, "bulk", "action must be retry or cancel", 400)
    ids = [i for i in form.getlist("ids") if i][:MAX_BULK + 1]
    group = form.get("group", "")
    if group:
        view = await current_hub().ask_queue(ListTasks(lane="dead"))
        found = next((g for g in dead_groups(view.dead) if g["key"] == group), None)
        ids = [t.id for t in found["tasks"]] if found is not None else []
    if not ids:
        return await _toast(False, "bulk", "no tasks named (the group may be empty now)", 404)
    if len(ids) > MAX_BULK:
        return await _toast(False, "bulk", f"at most {MAX_BULK} tasks at once", 400)
    done = 0
    for task_id in ids:
        done += await _one(action, task_id) == DONE[action]
    verb = "retried" if action == "retry" else "cancelled"
    skipped = len(ids) - done
    message = f"{done} {verb}" + (f", {skipped} skipped (not in a state that allows it)" if skipped else "")
    return await _toast(done > 0, "bulk", message, 200 if done else 409)


@actions.post("/tasks")
async def add_task():
    """A new task from the page's form, written into the inbox like ``agentdeck task add`` does
    (title, description, priority, capabilities; no shell command from a browser)."""
    refusal = cross_site_refusal()
    if refusal is not None:
        return await _toast(False, "new task", f"Refused: {refusal}", 403)
    form = await request.form
    title = form.get("title", "").strip()
    description = form.get("description", "").strip()
    if not title or len(title) > MAX_TITLE or len(description) > MAX_DESCRIPTION:
        return await _toast(False, "new task", f"a title of 1 to {MAX_TITLE} characters is needed "
                            f"(description at most {MAX_DESCRIPTION:,})", 400)
    capabilities = [c.strip() for c in form.get("capabilities", "").split(",") if c.strip()]
    try:
        fields = task_fields(title, description=description or None, priority=form.get("priority", "medium"),
                             capabilities=capabilities)
        path = await trio.to_thread.run_sync(write_new_task, current_hub().config.board_dir, fields)
    except (ValueError, OSError) as error:
        return await _toast(False, "new task", f"Not added: {error}", 400)
    return await _toast(True, path.stem, "added to the inbox", 201)
