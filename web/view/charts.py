"""Geometry for the server-rendered SVG charts: daily costs, model shares, the dependency graph.

Only numbers and labels come out of here; the templates draw them (and escape every label). The
telemetry figures are read tolerantly (a few spellings of each key) and anything missing becomes
an empty state rather than a made-up zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from agentdeck.actors.messages import BoardView, Task
from agentdeck.web.view.present import task_hash

CHART_W, CHART_H, CHART_PAD = 600, 150, 24
NODE_W, NODE_H, COL_GAP, ROW_GAP = 250, 40, 60, 14
MAX_GRAPH_NODES = 400


def _pick(mapping: Mapping[str, Any] | None, *keys: str, default: Any = None) -> Any:
    if not isinstance(mapping, Mapping):
        return default
    for key in keys:
        if mapping.get(key) is not None:
            return mapping[key]
    return default


def _num(value: Any) -> float | None:
    try:
        return float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _model_rows(stats: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = _pick(stats, "by_model", "models", default=[])
    if isinstance(raw, Mapping):
        raw = [{"model": name, **(row if isinstance(row, Mapping) else {})} for name, row in raw.items()]
    rows: list[dict[str, Any]] = []
    for row in raw or []:
        if not isinstance(row, Mapping):
            continue
        tokens_in = _num(_pick(row, "tokens_in", "input_tokens")) or 0
        tokens_out = _num(_pick(row, "tokens_out", "output_tokens")) or 0
        tokens = _num(_pick(row, "tokens", "total_tokens")) or tokens_in + tokens_out
        cost = _num(_pick(row, "cost_usd", "cost", "total_cost_usd"))
        count = int(_num(_pick(row, "count", "invocations", "calls")) or 0)
        unpriced = _num(_pick(row, "unpriced", default=0)) or 0
        model = _pick(row, "model", "model_used", "name")
        rows.append({"model": str(model) if model else "none (shell)",
                     "count": count, "tokens": int(tokens), "cost": cost,
                     "unpriced": cost is None or (unpriced >= count > 0 and not cost),
                     "partly_unpriced": int(unpriced) if 0 < unpriced < count else 0,
                     "local": bool(_pick(row, "local", default=False))})
    total = sum(r["count"] for r in rows) or 1
    for r in rows:
        r["share"] = r["count"] / total
    return sorted(rows, key=lambda r: r["count"], reverse=True)


def _server_today(stats: Mapping[str, Any]) -> dt.date:
    """Today as telemetry counts it (the server's time zone), so the last bar is today's figure."""
    try:
        return dt.date.fromisoformat(str(stats["timezone"]["today"]))
    except (KeyError, TypeError, ValueError):
        return dt.datetime.now().astimezone().date()


def daily_bars(stats: Mapping[str, Any], days: int = 30, today: dt.date | None = None) -> dict[str, Any]:
    """30 bars, one a day ending today; days without rows are zero-height bars."""
    raw = _pick(stats, "daily_trend", "daily_costs", "daily", default=[])
    by_day: dict[str, float] = {}
    calls = 0
    if isinstance(raw, Mapping):
        raw = [{"date": k, "cost": v} for k, v in raw.items()]
    for row in raw or []:
        if isinstance(row, Mapping):
            day = str(_pick(row, "date", "day", default=""))[:10]
            by_day[day] = by_day.get(day, 0.0) + (_num(_pick(row, "cost_usd", "cost")) or 0.0)
            calls += int(_num(_pick(row, "invocations", "count")) or 0)
    today = today or _server_today(stats)
    series = [(today - dt.timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]
    peak = max([by_day.get(day, 0.0) for day in series] + [0.0])
    inner_h = CHART_H - CHART_PAD
    step = CHART_W / days
    bars = []
    for index, day in enumerate(series):
        cost = by_day.get(day, 0.0)
        height = 0.0 if peak <= 0 else max(1.0, cost / peak * (inner_h - 8)) if cost > 0 else 0.0
        bars.append({"x": round(index * step + 2, 1), "w": round(step - 4, 1),
                     "y": round(inner_h - height, 1), "h": round(height, 1),
                     "day": day, "cost": cost, "label": day[5:] if index % 5 == 4 or index == 0 else ""})
    return {"bars": bars, "peak": peak, "has_data": peak > 0 or calls > 0,
            "width": CHART_W, "height": CHART_H, "baseline": inner_h}


def cost_panel(stats: Mapping[str, Any] | None) -> dict[str, Any]:
    """Everything the costs region shows; ``available`` False when telemetry gave nothing."""
    if not isinstance(stats, Mapping):
        return {"available": False}
    latency = _pick(stats, "latency_ms", "latency", default={}) or {}
    return {
        "available": True,
        "models": _model_rows(stats),
        "daily": daily_bars(stats),
        "avg_ms": _num(_pick(latency, "avg", "avg_ms", "mean_ms")),
        "p95_ms": _num(_pick(latency, "p95", "p95_ms")),
        "success_rate": _num(_pick(stats, "success_rate")),
        "saved": _num(_pick(stats, "saved_by_local_usd", "saved_by_local")),
        "invocations": int(_num(_pick(_pick(stats, "all_time", default={}), "invocations")) or 0),
    }


def _depths(tasks: dict[str, Task]) -> dict[str, int]:
    """Longest chain of known dependencies below each task (cycles are cut, not followed)."""
    depth: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(task_id: str) -> int:
        if task_id in depth:
            return depth[task_id]
        if task_id in visiting or task_id not in tasks:
            return -1
        visiting.add(task_id)
        below = [visit(dep) for dep in tasks[task_id].dependencies]
        visiting.discard(task_id)
        depth[task_id] = 1 + max(below, default=-1)
        return depth[task_id]

    for task_id in tasks:
        visit(task_id)
    return depth


def dependency_graph(view: BoardView) -> dict[str, Any]:
    """Tasks in columns by dependency depth, edges from each dependency to its dependant."""
    everything = [*view.inbox, *view.assigned, *view.dead, *view.done]
    tasks: dict[str, Task] = {}
    for task in everything:
        tasks.setdefault(task.id, task)
    linked = {dep for t in tasks.values() for dep in t.dependencies} | {
        t.id for t in tasks.values() if t.dependencies}
    shown = {tid: t for tid, t in tasks.items() if tid in linked}
    truncated = max(0, len(shown) - MAX_GRAPH_NODES)
    shown = dict(list(shown.items())[:MAX_GRAPH_NODES])
    missing = sorted({d for t in shown.values() for d in t.dependencies if d not in tasks})
    depth = _depths(shown)
    columns: dict[int, list[str]] = {}
    for name in missing:
        columns.setdefault(0, []).append(name)
    for tid in sorted(shown, key=lambda i: (depth.get(i, 0), i)):
        columns.setdefault(depth.get(tid, 0) + (1 if missing else 0), []).append(tid)
    nodes: dict[str, dict[str, Any]] = {}
    for col, ids in sorted(columns.items()):
        for row, tid in enumerate(ids):
            node = shown.get(tid)
            nodes[tid] = {"id": tid, "hash": task_hash(tid), "x": col * (NODE_W + COL_GAP) + 10,
                          "y": row * (NODE_H + ROW_GAP) + 10,
                          "title": node.title if node else "missing dependency",
                          "lane": node.lane if node else "missing", "known": node is not None}
    edges = []
    for tid, task in shown.items():
        for dep in task.dependencies:
            if dep in nodes and tid in nodes:
                a, b = nodes[dep], nodes[tid]
                edges.append({"x1": a["x"] + NODE_W, "y1": a["y"] + NODE_H / 2,
                              "x2": b["x"], "y2": b["y"] + NODE_H / 2})
    width = max((n["x"] for n in nodes.values()), default=0) + NODE_W + 20
    height = max((n["y"] for n in nodes.values()), default=0) + NODE_H + 20
    return {"nodes": list(nodes.values()), "edges": edges, "width": width, "height": height,
            "node_w": NODE_W, "node_h": NODE_H, "truncated": truncated}
