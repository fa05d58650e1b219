"""The quick-start demo opens on something moving: the real ``agentdeck serve --demo`` process, a
real Chromium opened by a newcomer who first reads the terminal for half a minute. Still within the
demo's first minute a card moves lanes and output lines stream into an open panel (the demo's
earlier board was done after about 30 s: nothing moved any more)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_hub import CHROMIUM, CHROMIUM_ARGS
from hub_process import ADDRESS

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]

FIRST_MINUTE_S = 60
READING_S = 30  # the newcomer opens the page this long after the address is printed
LANES = "el => Object.fromEntries([...el.querySelectorAll('section.lane')].map(lane => [lane.id, " \
        "[...lane.querySelectorAll('li:not(.ghost) > .card')].map(c => c.dataset.taskId)]))"


def lane_of(lanes: dict[str, list[str]]) -> dict[str, str]:
    return {task: lane for lane, tasks in lanes.items() for task in tasks}


def test_the_demo_moves_cards_and_streams_output_in_its_first_minute(tmp_path: Path, free_port: int) -> None:
    exe = shutil.which("agentdeck")
    command = [exe] if exe else [sys.executable, "-m", "agentdeck.web.cli"]
    log = tmp_path / "demo.log"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    with open(log, "wb") as out:
        process = subprocess.Popen([*command, "serve", "--demo", "--port", str(free_port)], stdout=out,
                                   stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while not (found := ADDRESS.search(log.read_text(errors="replace"))):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        started = time.monotonic()
        time.sleep(READING_S)
        with playwright_sync.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(found.group(1) + "/")
            page.wait_for_selector("#conn.conn-connected", timeout=20_000)
            first_seen = lane_of(page.eval_on_selector("#main", LANES))
            # a newcomer opens a card that is being worked on and watches its output; when that task
            # ends, they open another one that is running
            running = page.locator("#lane-assigned li:not(.ghost):not([data-held]) > .card:has(.run-state.is-live)")
            output = page.locator("#detail:not([hidden]) .output")
            counts: list[int] = []  # lines in the open panel, while it stays open on one task
            streamed: list[int] = []
            moved: set[str] = set()
            still = 0
            while time.monotonic() - started < FIRST_MINUTE_S and (not streamed or not moved):
                if not output.count() or still >= 8:
                    page.keyboard.press("Escape")
                    counts, still = [], 0
                    if running.count():
                        running.first.click()
                        output.wait_for(timeout=10_000)
                if output.count():
                    counts.append(output.evaluate("el => el.children.length"))
                    still = still + 1 if len(counts) > 1 and counts[-1] == counts[-2] else 0
                    if len(set(counts)) >= 3 and counts[-1] > counts[0]:
                        streamed = counts
                now = lane_of(page.eval_on_selector("#main", LANES))
                moved |= {task for task, lane in now.items() if task in first_seen and first_seen[task] != lane}
                page.wait_for_timeout(500)
            elapsed = time.monotonic() - started
            browser.close()
        assert moved, f"no card changed lanes in the first {elapsed:.0f} s"
        assert streamed, f"no output streamed into an open panel in the first {elapsed:.0f} s"
        assert elapsed < FIRST_MINUTE_S
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
