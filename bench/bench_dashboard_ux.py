"""The dashboard as people use it, measured in a real Chromium: layout shift with 30 agents working,
horizontal overflow on phones, axe-core on the board, the panel and the graph in both themes, the
10,000-task page (compressed size, time to interactive, next page of a lane), file change -> card
in the page at 2,000 tasks against a 50-task peer, and screenshots.

    python bench/bench_dashboard_ux.py --axe /path/to/axe.min.js [--shots docs/screenshots]

axe-core comes from the npm registry (``npm pack axe-core``; take ``package/axe.min.js``). Each
figure is printed with the floor or peer measured in the same run, as the docs record them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from agent_client import AgentClient
from browser_hub import CHROMIUM, CHROMIUM_ARGS, HubThread, wait_for_script

WORDS = ["OAuth", "callback", "mobile", "app", "cache", "invalidation", "billing", "export", "search",
         "index", "flaky", "deploy", "dark", "theme", "contrast", "retry", "backoff", "websocket",
         "reconnect", "schema", "migration", "audit", "log"]
CLS_OBSERVER = """
window.__cls = 0; window.__shifts = [];
new PerformanceObserver(list => { for (const e of list.getEntries()) { if (!e.hadRecentInput) {
  window.__cls += e.value; window.__shifts.push([Math.round(e.startTime), e.value,
  (e.sources || []).map(s => s.node && (s.node.id || s.node.className || s.node.nodeName)).join(' ')]); } } })
  .observe({type: 'layout-shift', buffered: true});
"""


def write_board(board: Path, count: int, *, seed: int = 7, dependencies: bool = True) -> None:
    rng = random.Random(seed)
    lanes = ("inbox", "done", "dead", "inbox", "done")
    for n in range(count):
        lane = lanes[n % len(lanes)] if count > 600 else "inbox"
        title = " ".join(rng.sample(WORDS, 4)).capitalize()
        fields = {"id": f"t{n:05d}", "title": title, "priority": rng.choice(("critical", "high", "medium", "low")),
                  "created": f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00Z", "tags": rng.sample(WORDS, 2),
                  "description": f"Task {n}: " + " ".join(rng.sample(WORDS, 8))}
        if dependencies and n % 7 == 3 and n > 10:
            fields["dependencies"] = [f"t{n - 5:05d}"]
        where = lane if lane != "done" else "done/agent-1"
        if lane == "dead":
            fields.update(status="dead", last_error=f"exit code {n % 3}: step {n % 5} failed", retry_count=3)
        path = board / where / f"t{n:05d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(fields, sort_keys=False))


async def worker(base_url: str, agent_id: str, stop: trio.Event, lines: int = 40, gap: float = 0.5) -> None:
    """An agent that takes tasks and streams output for a few seconds per task, then completes."""
    async with AgentClient.connect(base_url, agent_id, capabilities=["shell"]) as agent:
        while not stop.is_set():
            assign = await agent.expect("task_assign", timeout=60)
            task_id = assign["task_id"]
            await agent.send("task_accepted", task_id=task_id)
            for n in range(lines):
                await agent.send("task_progress", task_id=task_id, execution_event={
                    "event_type": "stdout", "text": f"step {n}: working on {task_id}\n",
                    "tokens_so_far": 150 * (n + 1), "model": "claude-sonnet-4-5"})
                await trio.sleep(gap)
            await agent.send("task_complete", task_id=task_id, generation=assign["generation"],
                             result={"status": "success", "output": "ok", "model_used": "claude-sonnet-4-5",
                                     "tokens_in": 900, "tokens_out": 1800})


def overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def open_running_task(page) -> None:
    """Open the panel of a running task the way a person does: click its card, wait for the panel."""
    shown = "#lane-assigned li:not(.ghost):not([data-held]) > .card"  # not a placeholder, not held back
    page.wait_for_selector(shown, timeout=20_000)
    page.locator(shown).first.click(timeout=20_000)
    page.wait_for_selector("#detail:not([hidden]) .output", timeout=30_000)


def run_axe(page, axe_js: str) -> list[dict]:
    page.add_script_tag(content=axe_js)
    result = page.evaluate("""async () => { const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,
                                       sample: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def part_live(browser, args, report: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="agentdeck-ux-") as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(ROOT / "work" / "collaboration", work / "collaboration")
        write_board(work / "collaboration", 500, dependencies=True)
        hub = HubThread(work).start()
        stop = trio.Event()
        try:
            for n in range(args.agents):
                hub.spawn(worker, hub.base_url, f"agent-{n:02d}", stop)
            ctx = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="light")
            page = ctx.new_page()
            page.add_init_script(CLS_OBSERVER)
            page.goto(hub.base_url + "/")
            page.wait_for_selector("#conn.conn-connected", timeout=60_000)
            page.wait_for_timeout(3000)  # agents connected and working
            page.evaluate("window.__cls = 0; window.__shifts = []")
            started = time.monotonic()
            page.wait_for_timeout(args.cls_seconds * 1000)
            minutes = (time.monotonic() - started) / 60
            cls = page.evaluate("window.__cls")
            shifts = page.evaluate("window.__shifts")
            report["layout_shift_per_min"] = round(cls / minutes, 4)
            report["layout_shift_top"] = sorted(shifts, key=lambda s: -s[1])[:5]
            report["agents_rows"] = page.locator("#ul-agents > li").count()
            ctx.close()
            # phones and themes, while the agents keep working
            for theme in ("light", "dark"):
                tctx = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme=theme,
                                           bypass_csp=True)  # lets axe be injected
                tpage = tctx.new_page()
                tpage.goto(hub.base_url + "/")
                tpage.wait_for_selector("#conn.conn-connected", timeout=60_000)
                report[f"axe_board_{theme}"] = run_axe(tpage, args.axe_js)
                open_running_task(tpage)
                tpage.wait_for_timeout(400)
                report[f"axe_panel_{theme}"] = run_axe(tpage, args.axe_js)
                if args.shots:
                    tpage.screenshot(timeout=120_000, path=str(args.shots / f"panel-running-{theme}.png"))
                tpage.goto(hub.base_url + "/graph")
                tpage.wait_for_selector("#graph")
                tpage.wait_for_timeout(300)
                report[f"axe_graph_{theme}"] = run_axe(tpage, args.axe_js)
                tpage.goto(hub.base_url + "/graph?focus=t00080")
                tpage.wait_for_selector("#graph svg.graph")
                tpage.wait_for_timeout(300)
                report[f"axe_graph_focus_{theme}"] = run_axe(tpage, args.axe_js)
                if args.shots and theme == "light":
                    tpage.screenshot(timeout=120_000, path=str(args.shots / "graph-focus.png"))
                if args.shots:
                    tpage.goto(hub.base_url + "/")
                    tpage.wait_for_selector("#conn.conn-connected", timeout=60_000)
                    tpage.wait_for_timeout(500)
                    tpage.screenshot(timeout=120_000, path=str(args.shots / f"board-30-agents-{theme}.png"))
                tctx.close()
            for width in (390, 360):
                mctx = browser.new_context(viewport={"width": width, "height": 844}, color_scheme="light",
                                           is_mobile=True, has_touch=True, device_scale_factor=2)
                mpage = mctx.new_page()
                mpage.goto(hub.base_url + "/")
                mpage.wait_for_selector("#conn.conn-connected", timeout=60_000)
                mpage.wait_for_timeout(500)
                report[f"overflow_board_{width}"] = overflow(mpage)
                if args.shots and width == 390:
                    mpage.screenshot(timeout=120_000, path=str(args.shots / "board-390.png"))
                open_running_task(mpage)
                mpage.wait_for_timeout(300)
                report[f"overflow_panel_{width}"] = overflow(mpage)
                if args.shots and width == 390:
                    mpage.screenshot(timeout=120_000, path=str(args.shots / "panel-390.png"))
                mpage.goto(hub.base_url + "/graph")
                mpage.wait_for_selector("#graph")
                report[f"overflow_graph_{width}"] = overflow(mpage)
                mctx.close()
        finally:
            hub.call(stop.set)
            hub.stop()


NEXT_PAGE = """async (lane) => {
  const el = document.getElementById('lane-' + lane);
  const link = document.querySelector('#more-' + lane + ' a');
  if (!link) return null;
  const before = el.querySelectorAll('.card').length;
  return await new Promise(resolve => {
    let t0;
    const seen = new MutationObserver(() => {
      if (el.querySelectorAll('.card').length <= before) return;
      seen.disconnect();
      const ms = performance.now() - t0;  // cards in the document; then wait for the frame
      requestAnimationFrame(() => setTimeout(() => resolve({ms, painted: performance.now() - t0,
        cards: el.querySelectorAll('.card').length}), 0));
    });
    seen.observe(el, {childList: true, subtree: true});
    window.__pageDone = null;
    const busy = new MutationObserver(() => { if (!el.hasAttribute('aria-busy')) {
      busy.disconnect(); window.__pageDone = performance.now() - t0; } });
    busy.observe(el, {attributes: true, attributeFilter: ['aria-busy']});
    t0 = performance.now();
    link.click();
  });
}"""
ROUND_TRIP = """async (lane) => {
  const source = document.querySelector('#live[sse-connect]');
  const tab = /[?&]tab=([0-9a-f]+)/.exec(source.getAttribute('sse-connect'))[1];
  const t0 = performance.now();
  let answer = null, applied = {};
  return await new Promise(resolve => {
    const done = () => { if (answer && applied[answer]) { document.body.removeEventListener('htmx:sseMessage', on);
      requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0)); } };
    const on = evt => { applied[evt.detail.lastEventId] = true; done(); };
    document.body.addEventListener('htmx:sseMessage', on);
    fetch('/lanes/' + lane + '?tab=' + tab + '&show=200').then(r => r.json()).then(j => { answer = j.event; done(); });
  });
}"""


READ_PAGE_MS = 1000  # a person looks at a page of cards before asking for the next


def page_through(page, lane: str) -> dict:
    """Click "show more" in one lane until it shows every card (a second after the page is on
    screen, as a reader would; the hub draws the next page meanwhile): each click's time from the click to
    the new cards in the document and to the next frame, whether the page moved focus to the first
    new card, and whether another lane was drawn again (its first card still the same element)."""
    page.evaluate("window.__otherFirst = document.querySelector('#lane-inbox .card')")
    clicks, painted, focused, whole = [], [], [], []
    while True:
        page.wait_for_timeout(READ_PAGE_MS)
        before = page.locator(f"#lane-{lane} .card").count()
        timing = page.evaluate(NEXT_PAGE, lane)
        if timing is None:
            break
        clicks.append(round(timing["ms"], 1))
        painted.append(round(timing["painted"], 1))
        wait_for_script(page, f"document.activeElement === document.querySelectorAll('#lane-{lane} .card')[{before}]",
                        10_000)
        wait_for_script(page, f"!document.getElementById('lane-{lane}').hasAttribute('aria-busy')", 30_000)
        whole.append(round(page.evaluate("window.__pageDone") or 0, 1))
        focused.append(page.evaluate("document.activeElement.dataset.taskId"))
    return {"next_page_big_ms": clicks, "next_page_big_painted_ms": painted, "next_page_big_all_in_ms": whole,
            "next_page_big_cards": page.locator(f"#lane-{lane} .card").count(),
            "next_page_big_clicks_to_last": len(clicks), "next_page_big_focused": focused[:3],
            "other_lane_untouched": page.evaluate(
                "window.__otherFirst === document.querySelector('#lane-inbox .card')"),
            "lane_status": page.locator("#lane-status").text_content()}


def first_pages(page, base_url: str, lane: str, samples: int = 5) -> list[dict]:
    """The first "show more" of a freshly loaded page, several times (each on a new load)."""
    out = []
    for _ in range(samples):
        page.goto(base_url + "/")
        page.wait_for_selector("#conn.conn-connected", timeout=60_000)
        page.wait_for_timeout(READ_PAGE_MS)
        timing = page.evaluate(NEXT_PAGE, lane)
        out.append({"ms": round(timing["ms"], 1), "painted": round(timing["painted"], 1)})
    page.goto(base_url + "/")
    page.wait_for_selector("#conn.conn-connected", timeout=60_000)
    return out


def paged_views(browser, base_url: str, shots: Path | None) -> dict:
    """The Done lane after one "show more", on a desktop and on a 390 px phone: overflow, and
    screenshots with the first new card focused."""
    report = {}
    for width, height, suffix in ((1440, 900, ""), (390, 844, "-390")):
        ctx = browser.new_context(viewport={"width": width, "height": height}, is_mobile=width < 500,
                                  has_touch=width < 500, bypass_csp=True)
        page = ctx.new_page()
        page.goto(base_url + "/")
        page.wait_for_selector("#conn.conn-connected", timeout=60_000)
        page.locator("#more-done a").scroll_into_view_if_needed()
        page.locator("#more-done a").click()
        wait_for_script(page, "document.activeElement === document.querySelectorAll('#lane-done .card')[100]", 20_000)
        page.wait_for_timeout(300)
        report[f"overflow_paged{suffix or '_desktop'}"] = overflow(page)
        if shots:
            page.screenshot(path=str(shots / f"board-10000-paged{suffix}.png"))
        ctx.close()
    return report


def stream_round_trip(page, lane: str) -> float:
    """Milliseconds from asking for a lane's page to its (here empty) patch applied, one frame later."""
    return round(page.evaluate(ROUND_TRIP, lane), 1)


def part_big(browser, args, report: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="agentdeck-10k-") as tmp:
        work = Path(tmp) / "work"
        write_board(work / "collaboration", args.tasks, dependencies=True)
        small = Path(tmp) / "small"
        write_board(small / "collaboration", 50, dependencies=True)
        for name, root in (("big", work), ("small", small)):
            hub = HubThread(root).start()
            try:
                with httpx.Client(base_url=hub.base_url, timeout=60) as client:
                    for _ in range(100):
                        if client.get("/api/tasks").status_code == 200:
                            break
                        time.sleep(0.1)
                    sizes = []
                    for encoding in ("gzip", "identity"):
                        with client.stream("GET", "/", headers={"Accept-Encoding": encoding}) as response:
                            response.read()
                            sizes.append(response.num_bytes_downloaded)
                    report[f"page_{name}_gzip_bytes"], report[f"page_{name}_plain_bytes"] = sizes
                ctx = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
                page = ctx.new_page()
                times = []
                for _ in range(3):
                    page.goto(hub.base_url + "/", wait_until="load")
                    timing = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
                        return {interactive: n.domInteractive, loaded: n.loadEventEnd}; }""")
                    times.append(timing)
                report[f"page_{name}_interactive_ms"] = round(min(t["interactive"] for t in times))
                report[f"page_{name}_load_ms"] = round(min(t["loaded"] for t in times))
                page.wait_for_selector("#conn.conn-connected", timeout=60_000)
                # the round trip of "show more" (route, the page's own stream, the swap) with no card
                # to add (the empty Assigned lane), at both sizes; then the Done lane paged to its end
                report[f"lane_round_trip_{name}_ms"] = [stream_round_trip(page, "assigned") for _ in range(5)]
                if name == "big":
                    report["first_page_big_ms"] = first_pages(page, hub.base_url, "done")
                    report.update(page_through(page, "done"))
                    report["axe_paged_board"] = run_axe(page, args.axe_js)
                ctx.close()
                if name == "big":
                    report.update(paged_views(browser, hub.base_url, args.shots))
            finally:
                hub.stop()


ARRIVALS = """() => { window.__arrived = {};
  new MutationObserver(records => { const at = performance.timeOrigin + performance.now();
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1) continue;
      for (const card of n.matches('.card') ? [n] : n.querySelectorAll('.card')) {
        const id = card.dataset.taskId;
        if (id && id.startsWith('arrival-') && !(id in window.__arrived)) window.__arrived[id] = at;
      } } }).observe(document.getElementById('main'), {childList: true, subtree: true}); }"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def part_arrival(browser, args, report: dict) -> None:
    """File change -> card in the page (a MutationObserver stamps it, on the same clock as the
    write), on a board of ``--arrival-tasks`` and, in the same run, the peer: a board of 50."""
    for name, count in (("peer_50", 50), (f"board_{args.arrival_tasks}", args.arrival_tasks)):
        with tempfile.TemporaryDirectory(prefix="agentdeck-arrival-") as tmp:
            work = Path(tmp) / "work"
            write_board(work / "collaboration", count, dependencies=False)
            hub = HubThread(work).start()
            try:
                ctx = browser.new_context(viewport={"width": 1440, "height": 900})
                page = ctx.new_page()
                page.goto(hub.base_url + "/")
                page.wait_for_selector("#conn.conn-connected", timeout=60_000)
                page.wait_for_timeout(1000)
                page.evaluate(ARRIVALS)
                inbox = work / "collaboration" / "inbox"
                inbox.mkdir(parents=True, exist_ok=True)
                latencies = []
                for n in range(args.arrivals):
                    task_id = f"arrival-{n:03d}"
                    text = yaml.safe_dump({"id": task_id, "title": f"Arrival {n}", "priority": "critical",
                                           "created": "2026-11-01T00:00:00Z"}, sort_keys=False)
                    written = time.time() * 1000
                    (inbox / f"{task_id}.yaml").write_text(text)
                    wait_for_script(page, f"'{task_id}' in window.__arrived", 10_000)
                    latencies.append(page.evaluate(f"window.__arrived['{task_id}']") - written)
                    page.wait_for_timeout(300)
                report[f"file_to_card_{name}_ms"] = {"p50": percentile(latencies, 0.5),
                                                     "p95": percentile(latencies, 0.95),
                                                     "max": round(max(latencies), 1), "n": len(latencies)}
                ctx.close()
            finally:
                hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--axe", type=Path, required=True, help="axe.min.js from the axe-core npm package")
    parser.add_argument("--shots", type=Path, default=None, help="write screenshots here")
    parser.add_argument("--agents", type=int, default=30)
    parser.add_argument("--cls-seconds", type=int, default=60)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--arrival-tasks", type=int, default=2000)
    parser.add_argument("--arrivals", type=int, default=40)
    parser.add_argument("--only", choices=("live", "big", "arrival"), default=None)
    args = parser.parse_args()
    args.axe_js = args.axe.read_text()
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    report: dict = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            if args.only in (None, "live"):
                part_live(browser, args, report)
            if args.only in (None, "big"):
                part_big(browser, args, report)
            if args.only in (None, "arrival"):
                part_arrival(browser, args, report)
            browser.close()
    finally:  # what was measured before a failure is still printed
        report["load_after"] = os.getloadavg()[0]
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
