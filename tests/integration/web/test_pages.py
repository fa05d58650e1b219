"""The dashboard pages over real HTTP: regions, escaping, detail panel, Retry protection, filters,
exports, the dependency graph and the cost texts."""

from __future__ import annotations

import csv
import io
import json
import re

from conftest import task_yaml, wait_until, write_task
from sse_client import open_stream

XSS = "<img src=x onerror=alert(1)>"


async def _on_board(running, task_id: str) -> None:
    async def present() -> bool:
        return (await running.client.get(f"/api/tasks/{task_id}")).status_code == 200
    await wait_until(present)


def _region(html: str, region: str) -> str:
    match = re.search(rf'<section id="{region}"[^>]*>(.*?)</section>', html, re.S)
    assert match, f"no region {region}"
    return match.group(1)


def _no_times(html: str) -> str:
    return re.sub(r"<time[^>]*>.*?</time>", "", html)


async def test_board_page_shows_every_region_and_escapes_task_text(running_hub):
    write_task(running_hub.board, "inbox/x.yaml", task_yaml(id="x1", title=XSS, description=XSS))
    await _on_board(running_hub, "x1")
    page = await running_hub.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for region in ("lane-inbox", "lane-assigned", "lane-done", "lane-dead", "agents", "throughput",
                   "costs", "activity"):
        assert f'sse-swap="{region}"' in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "<img src=x" not in page.text
    assert 'src="/static/htmx.min.js"' in page.text and "cdn" not in page.text.lower()
    assert "agentdeck_csrf" in page.headers.get("set-cookie", "")


async def test_page_and_live_update_render_the_same_partial(running_hub):
    from agentdeck.actors.messages import AgentJoined

    write_task(running_hub.board, "inbox/s.yaml", task_yaml(id="s1", title="same markup", priority="high",
                                                          tags=["a", "b"]))
    write_task(running_hub.board, "assigned/ann/w.yaml", task_yaml(id="w1", title="at work"))
    running_hub.bus.publish(AgentJoined(agent_id="ann", name="Ann <3"))
    await _on_board(running_hub, "s1")
    await _on_board(running_hub, "w1")
    async with open_stream(running_hub.client) as stream:
        await stream.initial()
        await stream.until(lambda e: e.name == "agents" and "Ann &lt;3" in e.data, seen=True)
    page = await running_hub.client.get("/")
    for region in ("lane-inbox", "lane-assigned", "agents"):
        last = [e for e in stream.seen if e.name == region][-1]
        assert _no_times(_region(page.text, region)) == _no_times(last.data), region
    assert 'id="ul-assigned-' in _region(page.text, "lane-assigned") and 'id="li-agents-' in page.text


async def test_task_detail_has_its_own_url_and_shows_every_field(running_hub):
    write_task(running_hub.board, "inbox/dep.yaml", task_yaml(id="dep-1", title="the dependency"))
    write_task(running_hub.board, "inbox/d.yaml", task_yaml(
        id="d1", title="detailed", description="line one\nline two", dependencies=["dep-1", "ghost"],
        acceptance_criteria=["it works", XSS], custom_field={"nested": [1, 2]}))
    await _on_board(running_hub, "d1")
    full = await running_hub.client.get("/tasks/d1")
    assert full.status_code == 200
    assert 'id="detail"' in full.text and "hidden" not in re.search(r'<div id="detail"[^>]*>', full.text).group(0)
    panel = await running_hub.client.get("/tasks/d1", headers={"HX-Request": "true"})
    assert "<html" not in panel.text
    for text in ("detailed", "line one", "it works", "custom_field", "nested", "the dependency",
                 "not on the board", "Execution output", "Cost breakdown", "No cost yet"):
        assert text in panel.text, text
    assert 'href="/tasks/dep-1"' in panel.text
    assert "&lt;img src=x" in panel.text and "<img src=x" not in panel.text
    missing = await running_hub.client.get("/tasks/nope")
    assert missing.status_code == 404 and "Task not found" in missing.text and 'sse-swap="lane-inbox"' in missing.text
    missing_panel = await running_hub.client.get("/tasks/nope", headers={"HX-Request": "true"})
    assert missing_panel.status_code == 404 and "<html" not in missing_panel.text


async def test_retry_is_refused_cross_site_and_works_from_the_page(running_hub):
    write_task(running_hub.board, "dead/z.yaml", task_yaml(id="z1", title="dead one", status="dead",
                                                         last_error="boom", retry_count=3))
    await _on_board(running_hub, "z1")
    client = running_hub.client
    page = await client.get("/")
    assert 'hx-post="/tasks/z1/retry"' in page.text
    token = client.cookies.get("agentdeck_csrf")
    assert token and token in page.text

    no_token = await client.post("/tasks/z1/retry")
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    cross = await client.post("/tasks/z1/retry", headers={"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    other = await client.post("/tasks/z1/retry", headers={"X-CSRF-Token": token, "Origin": "http://evil.example"})
    assert other.status_code == 403
    assert (running_hub.board / "dead/z.yaml").exists()

    same = {"X-CSRF-Token": token, "Sec-Fetch-Site": "same-origin", "Origin": running_hub.base_url}
    ok = await client.post("/tasks/z1/retry", headers=same)
    assert ok.status_code == 200 and "Sent back to the inbox" in ok.text
    await wait_until(lambda: (running_hub.board / "inbox/z.yaml").exists())
    again = await client.post("/tasks/nope/retry", headers=same)
    assert again.status_code == 404 and "not_found" in again.text


async def test_filters_are_in_the_url_and_filter_the_board(running_hub):
    write_task(running_hub.board, "inbox/h.yaml", task_yaml(id="h1", title="hot needle", priority="high"))
    write_task(running_hub.board, "inbox/l.yaml", task_yaml(id="l1", title="cold", priority="low"))
    write_task(running_hub.board, "assigned/bob/b.yaml", task_yaml(id="b1", title="bob's needle"))
    await _on_board(running_hub, "b1")
    high = await running_hub.client.get("/?priority=high")
    assert 'data-task-id="h1"' in high.text and 'data-task-id="l1"' not in high.text
    assert '<option value="high" selected>' in high.text
    text = await running_hub.client.get("/?q=needle")
    assert 'data-task-id="h1"' in text.text and 'data-task-id="b1"' in text.text
    assert 'data-task-id="l1"' not in text.text
    assert 'value="needle"' in text.text and "q=needle" in text.text  # kept in links and the stream URL
    bob = await running_hub.client.get("/?agent=bob")
    assert 'data-task-id="b1"' in bob.text and 'data-task-id="h1"' not in bob.text


async def test_exports_follow_the_filters_and_defuse_formulas(running_hub):
    write_task(running_hub.board, "inbox/e.yaml", task_yaml(id="e1", title="=HYPERLINK(\"x\")", priority="high"))
    write_task(running_hub.board, "inbox/f.yaml", task_yaml(id="f1", title="plain", priority="low"))
    await _on_board(running_hub, "f1")
    as_csv = await running_hub.client.get("/export/tasks.csv?priority=high")
    assert as_csv.status_code == 200 and "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["id"] for r in rows] == ["e1"]
    assert rows[0]["title"].startswith("'=")
    as_json = (await running_hub.client.get("/export/tasks.json")).json()
    assert {t["id"] for t in as_json["tasks"]} == {"e1", "f1"}
    metrics = await running_hub.client.get("/export/metrics.json")
    assert "costs" in json.loads(metrics.text)
    metrics_csv = await running_hub.client.get("/export/metrics.csv")
    assert metrics_csv.text.startswith('"metric","value"') and "costs.today" in metrics_csv.text


async def test_dependency_graph_draws_tasks_and_missing_dependencies(running_hub):
    write_task(running_hub.board, "inbox/a.yaml", task_yaml(id="a", title="base"))
    write_task(running_hub.board, "inbox/b.yaml", task_yaml(id="b", title="on a", dependencies=["a", "gone"]))
    write_task(running_hub.board, "inbox/c.yaml", task_yaml(id="c", title=XSS, dependencies=["b"]))
    await _on_board(running_hub, "c")
    graph = await running_hub.client.get("/graph")
    assert graph.status_code == 200
    assert graph.text.count('class="edge"') == 3
    assert "missing dependency" in graph.text and 'href="/graph?focus=a"' in graph.text
    assert "<img src=x" not in graph.text
    write_task(running_hub.board, "inbox/z.yaml", task_yaml(id="z", title="apart", dependencies=["y"]))
    write_task(running_hub.board, "inbox/y.yaml", task_yaml(id="y", title="apart base"))
    await _on_board(running_hub, "z")
    focused = await running_hub.client.get("/graph", params={"focus": "b"})
    assert 'class="node node-inbox is-focus"' in focused.text
    assert focused.text.count('class="edge"') == 3  # a -> b, gone -> b, b -> c; not y -> z
    assert "apart" not in focused.text and 'href="/tasks/b"' in focused.text  # "Open the task"


async def test_done_cards_and_detail_show_costs_as_people_read_them(running_hub):
    cases = {
        "paid": ({"model_used": "claude-sonnet-4-5", "tokens_in": 1200, "tokens_out": 300,
                  "estimated_cost_usd": 0.0123, "priced": True}, "$0.0123", None),
        "local": ({"model_used": "llama3.2", "tokens_in": 900, "tokens_out": 100, "estimated_cost_usd": 0.0,
                   "equivalent_claude_cost_usd": 0.0512, "priced": True}, "$0.00 (local)", "Saved $0.0512 vs Claude"),
        "shell": ({"model_used": "none", "tokens_in": 0, "tokens_out": 0, "estimated_cost_usd": 0.0},
                  "0 tokens, $0.00 (shell execution)", None),
        "mystery": ({"model_used": "mystery-model-9", "tokens_in": 10, "tokens_out": 5,
                     "estimated_cost_usd": None, "priced": False}, "unpriced", None),
    }
    for name, (result, _, _) in cases.items():
        write_task(running_hub.board, f"done/ann/{name}.yaml", task_yaml(id=name, title=name, result=result))
    await _on_board(running_hub, "mystery")
    page = await running_hub.client.get("/")
    done = _region(page.text, "lane-done")
    assert "$0.0123" in done and ">local<" in done and ">unpriced<" in done and ">shell<" in done
    for name, (_, cost_text, saved) in cases.items():
        part = await running_hub.client.get(f"/tasks/{name}/part/cost")
        assert cost_text in part.text, (name, part.text)
        if saved:
            assert f'<p class="saved">{saved}</p>' in part.text
        else:
            assert "Saved" not in part.text


async def test_lanes_show_100_cards_newest_done_first_and_more_on_request(running_hub):
    for index in range(105):
        write_task(running_hub.board, f"done/ann/t{index:03}.yaml",
                   task_yaml(id=f"t{index:03}", title=f"done {index}",
                             completed_at=f"2026-01-01T00:{index // 60:02}:{index % 60:02}Z"))
    await _on_board(running_hub, "t104")
    page = await running_hub.client.get("/")
    done = _region(page.text, "lane-done")
    assert done.count('class="card ') == 100 and "Show 5 more of 5" in done
    assert "t104" in done and "t000" not in done
    more = await running_hub.client.get("/?limit=200")
    assert _region(more.text, "lane-done").count('class="card ') == 105


async def test_invalid_files_are_listed_with_their_errors(running_hub):
    write_task(running_hub.board, "inbox/bad.yaml", "title: [unclosed\n")
    async with open_stream(running_hub.client) as stream:
        await stream.initial()
        event = await stream.until(lambda e: e.name == "invalid" and "bad.yaml" in e.data, timeout=5, seen=True)
    assert "could not be read" in event.data and "invalid YAML" in event.data
    page = await running_hub.client.get("/")
    assert re.search(r'<div id="invalid"[^>]*>\s*<details class="warning-panel".*?inbox/bad.yaml', page.text, re.S)


async def test_budget_use_shows_in_the_header_when_a_budget_is_set(start_hub):
    running = await start_hub(budget_daily=10.0, budget_monthly=200.0)

    async def ticker_with_figures() -> str | None:  # telemetry's first figures may take a moment
        page = await running.client.get("/")
        ticker = re.search(r'<div id="ticker"[^>]*>(.*?)</dl>', page.text, re.S).group(1)
        return ticker if ticker.count("$0.00") == 3 else None

    ticker = await wait_until(ticker_with_figures)
    assert "Daily budget" in ticker and "Monthly budget" in ticker and "0%" in ticker
    plain = await (await start_hub()).client.get("/")
    assert "budget" not in re.search(r'<div id="ticker"[^>]*>(.*?)</dl>', plain.text, re.S).group(1)


async def test_cost_panel_fills_in_once_an_agent_has_finished_work(running_hub, nursery):
    from agent_client import ws_url

    from agentdeck.actors.reference_agent.agent import AgentSettings, ReferenceAgent

    empty = _region((await running_hub.client.get("/")).text, "costs")
    assert empty.count("No data yet") == 2 and "<svg" not in empty
    write_task(running_hub.board, "inbox/echo.yaml", task_yaml(id="echo", title="echo", shell_command="echo hi"))
    agent = ReferenceAgent(AgentSettings(hub_url=ws_url(running_hub.base_url), agent_id="worker",
                                         backoff_min=0.05, backoff_max=0.2, identify_timeout=2.0))
    await nursery.start(agent.run)

    async def costs_with_data() -> str | None:
        region = _region((await running_hub.client.get("/")).text, "costs")
        return region if '<svg class="chart"' in region else None

    costs = await wait_until(costs_with_data)
    assert re.search(r"<td><span class=\"swatch s0\"></span>none <span class=\"muted\">100%</span></td>"
                     r"<td class=\"num\">1</td>", costs)
    assert "Success</dt><dd>100%" in costs
    assert 'class="bar"' in costs and "<title>" in costs
    done = _region((await running_hub.client.get("/")).text, "lane-done")
    assert 'data-task-id="echo"' in done and ">shell<" in done
