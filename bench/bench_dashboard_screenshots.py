"""Screenshots of the dashboard's main views for docs/screenshots/ (and a visual smoke test).

Serves a copy of the demo board with two reference agents (one talks to a stand-in Ollama, so
local-model costs and savings show), waits for work to finish, then photographs the board (light
and dark), a task's detail panel while its output streams, the dependency graph and an empty board.

    python bench/bench_dashboard_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import trio
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from agent_client import ws_url
from browser_hub import CHROMIUM, CHROMIUM_ARGS, HubThread
from fake_ollama import FakeOllama

from agentdeck.actors.reference_agent.agent import AgentSettings, ReferenceAgent

EXTRA = {
    "inbox/2026-11-22T0800-frontend-dark-mode.yaml": {
        "id": "2026-11-22T0800-frontend-dark-mode", "title": "Polish the dark theme contrast",
        "priority": "low", "created": "2026-11-22T08:00:00Z", "tags": ["ui"],
        "description": "Raise the contrast of muted text in dark mode to WCAG AA.",
        "dependencies": ["2026-11-21T1000-architect-cache-adr"]},
    "dead/2026-11-19T1200-ops-flaky-deploy.yaml": {
        "id": "2026-11-19T1200-ops-flaky-deploy", "title": "Deploy preview environment",
        "priority": "high", "status": "dead", "retry_count": 3, "created": "2026-11-19T12:00:00Z",
        "last_error": "exit code 2: kubectl: connection refused",
        "attempts": [{"generation": g, "agent": "ref-shell", "outcome": "failed",
                      "error": "exit code 2: kubectl: connection refused"} for g in (1, 2, 3)]},
    "inbox/2026-11-22T0900-qa-long-run.yaml": {
        "id": "2026-11-22T0900-qa-long-run", "title": "Run the slow integration suite",
        "priority": "critical", "created": "2026-11-18T09:00:00Z", "complexity": "trivial",
        "shell_command": "for i in 1 2 3 4 5 6; do echo \"suite part $i: ok\"; sleep 0.6; done; "
                         "echo 'warning: 2 tests skipped' >&2; sleep 8; echo done",
        "description": "Runs the integration suite and reports skipped tests.",
        "acceptance_criteria": ["all parts pass", "skips are reported"]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="agentdeck-shots-") as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(ROOT / "work" / "collaboration", work / "collaboration")
        for relpath, fields in EXTRA.items():
            path = work / "collaboration" / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(fields, sort_keys=False))
        hub = HubThread(work).start()
        stop = trio.Event()
        fake = FakeOllama(tokens=["Here", " is", " a", " short", " plan", ":", " cache", " by", " key", "."],
                          token_delay=0.05)
        hub.spawn(fake.serve, stop)
        while not fake.url:
            time.sleep(0.05)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                light = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="light")
                page = light.new_page()
                page.goto(hub.base_url + "/tasks/2026-11-22T0900-qa-long-run")
                page.wait_for_selector("#conn.conn-connected")
                for agent_id, url in (("ref-shell", None), ("ref-llm", fake.url)):
                    agent = ReferenceAgent(AgentSettings(hub_url=ws_url(hub.base_url), agent_id=agent_id,
                                                         ollama_url=url, capabilities=("shell", "ollama")))
                    hub.spawn(agent.run)
                page.wait_for_selector("#detail .out-stderr", timeout=20_000)
                page.screenshot(path=str(args.out / "task-detail-streaming.png"))
                page.keyboard.press("Escape")
                page.wait_for_timeout(6000)
                page.screenshot(path=str(args.out / "board-light.png"))
                dark = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="dark")
                dark_page = dark.new_page()
                dark_page.goto(hub.base_url + "/")
                dark_page.wait_for_selector("#conn.conn-connected")
                dark_page.wait_for_timeout(300)
                dark_page.screenshot(path=str(args.out / "board-dark.png"))
                page.wait_for_selector('#lane-done .card[data-task-id="2026-11-22T0900-qa-long-run"]', timeout=30_000)
                page.goto(hub.base_url + "/tasks/2026-11-22T0900-qa-long-run")
                page.wait_for_timeout(500)
                page.screenshot(path=str(args.out / "task-detail-done.png"))
                page.goto(hub.base_url + "/graph")
                page.wait_for_selector("svg.graph")
                page.screenshot(path=str(args.out / "dependency-graph.png"))
                page.goto(hub.base_url + "/?priority=high")
                page.wait_for_timeout(300)
                page.screenshot(path=str(args.out / "board-filtered.png"))
                browser.close()
        finally:
            hub.call(stop.set)
            hub.stop()
    for shot in sorted(args.out.glob("*.png")):
        print(shot.relative_to(ROOT), f"{shot.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
