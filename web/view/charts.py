"""Geometry for the server-rendered SVG charts: daily costs, model shares, the dependency graph.

Only numbers and labels come out of here; the templates draw them (and escape every label). The
telemetry figures arrive typed (``StatsReply``); no figures at all (telemetry did not answer) is
an empty state rather than a made-up zero.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from agentdeck.actors.messages import BoardView, Task
from agentdeck.actors.replies import StatsReply
from agentdeck.web.view.present import task_hash

CHART_W, CHART_H, CHART_PAD = 600, 150, 24
NODE_W, NODE_H, COL_GAP, ROW_GAP = 250, 40, 60, 14
MAX_GRAPH_NODES = 400
MAX_MISSING_NODES = 100


def _model_rows(stats: StatsReply) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for row in stats.by_model:
        spend = row.spend
        count = spend.invocations
        rows.append({"model": row.model or "none (shell)", "count": count, "tokens": spend.tokens,
                     "cost": spend.cost_usd, "local": row.local,
                     "unpriced": spend.unpriced >= count > 0 and not spend.cost_usd,
                     "partly_unpriced": spend.unpriced if 0 < spend.unpriced < count else 0})
    total = sum(r["count"] for r in rows) or 1
    for r in rows:
        r["share"] = r["count"] / total
    return sorted(rows, key=lambda r: r["count"], reverse=True)


def daily_bars(stats: StatsReply, days: int = 30) -> dict[str, Any]:
    """30 bars, one a day ending today (the server's today); days without rows are zero-height bars."""
    by_day = {day.date[:10]: day.spend for day in stats.daily_trend}
    calls = sum(spend.invocations for spend in by_day.values())
    today = dt.date.fromisoformat(stats.today_date)
    series = [(today - dt.timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]
    costs = {day: by_day[day].cost_usd if day in by_day else 0.0 for day in series}
    peak = max([*costs.values(), 0.0])
    inner_h = CHART_H - CHART_PAD
    step = CHART_W / days
    bars = []
    for index, day in enumerate(series):
        cost = costs[day]
        height = 0.0 if peak <= 0 else max(1.0, cost / peak * (inner_h - 8)) if cost > 0 else 0.0
        bars.append({"x": round(index * step + 2, 1), "w": round(step - 4, 1),
                     "y": round(inner_h - height, 1), "h": round(height, 1),
                     "day": day, "cost": cost, "label": day[5:] if index % 5 == 4 or index == 0 else ""})
    return {"bars": bars, "peak": peak, "has_data": peak > 0 or calls > 0,
            "width": CHART_W, "height": CHART_H, "baseline": inner_h}


def cost_panel(stats: StatsReply | None) -> dict[str, Any]:
    """Everything the costs region shows; ``available`` False when telemetry gave nothing."""
    if stats is None:
        return {"available": False}
    return {
        "available": True,
        "models": _model_rows(stats),
        "daily": daily_bars(stats),
        "avg_ms": stats.latency.avg_ms,
        "p95_ms": stats.latency.p95_ms,
        "success_rate": stats.success_rate,
        "saved": stats.saved_by_local_usd,
        "invocations": stats.all_time.invocations,
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


def related(tasks: dict[str, Task], focus: str) -> set[str]:
    """``focus`` with every task it depends on and every task that depends on it, transitively."""
    dependants: dict[str, list[str]] = {}
    for task in tasks.values():
        for dep in task.dependencies:
            dependants.setdefault(dep, []).append(task.id)
    found = {focus}
    for step in (lambda tid: tasks[tid].dependencies if tid in tasks else (),
                 lambda tid: dependants.get(tid, ())):
        todo = [focus]
        while todo:
            for other in step(todo.pop()):
                if other not in found:
                    found.add(other)
                    todo.append(other)
    return found


def dependency_graph(view: BoardView, focus: str = "") -> dict[str, Any]:
    """Tasks in columns by dependency depth, edges from each dependency to its dependant; with
    ``focus``, only that task, its ancestors and its dependants."""
    everything = [*view.inbox, *view.assigned, *view.dead, *view.done]
    tasks: dict[str, Task] = {}
    for task in everything:
        tasks.setdefault(task.id, task)
    if focus:
        linked = related(tasks, focus) & (set(tasks) | {focus})
    else:
        linked = {dep for t in tasks.values() for dep in t.dependencies} | {
            t.id for t in tasks.values() if t.dependencies}
    shown = {tid: t for tid, t in tasks.items() if tid in linked}
    truncated = max(0, len(shown) - MAX_GRAPH_NODES)
    shown = dict(list(shown.items())[:MAX_GRAPH_NODES])
    unknown = {d for t in shown.values() for d in t.dependencies if d not in tasks}
    missing = sorted(unknown)[:MAX_MISSING_NODES]  # one file may name 90,000 that do not exist
    truncated += len(unknown) - len(missing)
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
            "node_w": NODE_W, "node_h": NODE_H, "truncated": truncated, "total": len(linked),
            "focus": focus, "focus_known": focus in tasks, "cap": MAX_GRAPH_NODES}
