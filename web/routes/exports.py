"""Downloads: the (filtered) task list and the current metrics, as CSV or JSON.

Tasks honour the same URL filters as the board, so "export what I see" is one click. Metrics are
the dashboard snapshot's figures and the telemetry stats, flattened to ``metric,value`` rows for CSV.
CSV cells that a spreadsheet would run as a formula are prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from quart import Blueprint, current_app, request

from agentdeck.web.context import current_hub
from agentdeck.web.live.regions import BoardFilter, Sources
from agentdeck.web.view.present import cost_row, execution_meta
from agentdeck.web.view.serialize import task_summary

exports = Blueprint("exports", __name__)

TASK_COLUMNS = ("id", "title", "lane", "lane_agent", "agent", "status", "priority", "created",
                "dependencies", "tags", "retry_count", "generation", "path", "model", "tokens_in",
                "tokens_out", "cost")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "|", "%")
CELL_SEPARATORS = re.compile(r"[;,\t|]\s*")


def _safe_cell(value: Any) -> str:
    """A cell no spreadsheet runs as a formula: one that starts like one (after any spaces, and as
    its fullwidth twin '＝' reads once normalised), or that would start one after a ';' or ','
    where a locale splits cells there, is prefixed with a quote. Every cell is quoted as well."""
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    text = "" if value is None else str(value)
    plain = unicodedata.normalize("NFKC", text)
    pieces = [plain.lstrip(), *(plain[m.end():] for m in CELL_SEPARATORS.finditer(plain))]
    return "'" + text if any(p[:1] in FORMULA_STARTS for p in pieces) else text


def _csv(rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
    return buffer.getvalue()


def _download(body: str, filename: str, mimetype: str):
    response = current_app.response_class(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


async def task_rows() -> list[dict[str, Any]]:
    view = await Sources(current_hub()).board(BoardFilter.from_args(request.args))
    rows = []
    for task in (*view.inbox, *view.assigned, *view.done, *view.dead):
        row = task_summary(task)
        meta = execution_meta(task)
        cost = cost_row(meta) if meta else None
        row.update(model=cost["model"] if cost else None, tokens_in=cost["tokens_in"] if cost else None,
                   tokens_out=cost["tokens_out"] if cost else None, cost=cost["cost_text"] if cost else None)
        rows.append(row)
    return rows


@exports.get("/export/tasks.json")
async def tasks_json():
    body = json.dumps({"exported_at": time.time(), "tasks": await task_rows()}, indent=1)
    return _download(body, "agentdeck-tasks.json", "application/json")


@exports.get("/export/tasks.csv")
async def tasks_csv():
    rows = await task_rows()
    return _download(_csv([TASK_COLUMNS, *([r.get(c) for c in TASK_COLUMNS] for r in rows)]),
                     "agentdeck-tasks.csv", "text/csv")


async def metrics() -> dict[str, Any]:
    sources = Sources(current_hub())
    snapshot = await sources.snapshot() or {}
    return {"exported_at": time.time(),
            "costs": snapshot.get("costs"), "throughput": snapshot.get("throughput"),
            "queue": snapshot.get("queue"), "health": snapshot.get("health"),
            "stats": await sources.stats()}


def flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from flatten(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        for index, inner in enumerate(value):
            label = inner.get("model") or inner.get("date") or inner.get("day") or index
            yield from flatten(f"{prefix}[{label}]", inner)
    else:
        yield prefix, value


@exports.get("/export/metrics.json")
async def metrics_json():
    return _download(json.dumps(await metrics(), indent=1, default=str), "agentdeck-metrics.json",
                     "application/json")


@exports.get("/export/metrics.csv")
async def metrics_csv():
    return _download(_csv([("metric", "value"), *flatten("", await metrics())]),
                     "agentdeck-metrics.csv", "text/csv")
