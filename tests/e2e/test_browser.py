"""The dashboard in a real Chromium (Debian's, through Playwright's sync API); the hub runs in a thread.

Each test starts its own hub on a fresh board, opens the page, changes files on disk (or clicks),
and asserts what a person would see, without reloading unless the test is about reloading.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser_hub import CHROMIUM, CHROMIUM_ARGS, HubThread
from conftest import task_yaml, write_task

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]

XSS = "<img src=x onerror=alert(1)>"
WAIT_MS = 5000


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def board(work_dir: Path, board_dir: Path) -> Path:
    return board_dir


@pytest.fixture
def hub(work_dir: Path, board_dir: Path):
    running = HubThread(work_dir).start()
    yield running
    running.stop()


class Page:
    """A page plus everything it complained about (console errors, uncaught errors, dialogs)."""

    def __init__(self, browser, **context_args) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True,
                                           **context_args)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))

    def open(self, url: str):
        self.page.goto(url)
        expect(self.page.locator("#conn")).to_have_text("Connected", timeout=WAIT_MS)
        self.page.evaluate("window.__sameDocument = true")
        return self.page

    def not_reloaded(self) -> bool:
        return self.page.evaluate("window.__sameDocument === true")


@pytest.fixture
def ui(browser):
    page = Page(browser)
    yield page
    page.context.close()


def card(page, task_id: str, lane: str | None = None):
    scope = f"#lane-{lane} " if lane else ""
    return page.locator(f'{scope}.card[data-task-id="{task_id}"]:not(.ghost .card)')  # not a placeholder


def show_everything(page) -> None:
    """Click each list's "N new" button: the page then shows what it held back for the reader."""
    buttons = page.locator(".news-button")
    for _ in range(10):  # one per list at most
        if not buttons.count():
            break
        buttons.first.click()
    expect(buttons).to_have_count(0)


def test_page_loads_connected_with_no_console_errors(hub, ui):
    page = ui.open(hub.base_url + "/")
    for region in ("#lane-inbox", "#lane-assigned", "#lane-done", "#lane-dead", "#agents", "#costs"):
        expect(page.locator(region)).to_be_visible()
    expect(page.locator("#activity")).to_contain_text("No events yet")
    page.wait_for_timeout(300)
    assert ui.problems == []


def test_a_file_dropped_in_inbox_appears_and_a_move_to_done_moves_it(hub, ui, board):
    page = ui.open(hub.base_url + "/")
    write_task(board, "inbox/new.yaml", task_yaml(id="new-1", title="Dropped in", priority="high"))
    expect(card(page, "new-1", "inbox")).to_contain_text("Dropped in", timeout=WAIT_MS)
    expect(page.locator("#lane-inbox .lane-head .count")).to_have_text("1")
    (board / "done" / "ann").mkdir(parents=True, exist_ok=True)
    os.replace(board / "inbox/new.yaml", board / "done/ann/new.yaml")
    expect(card(page, "new-1", "done")).to_be_visible(timeout=WAIT_MS)
    expect(card(page, "new-1", "inbox")).to_have_count(0)
    expect(page.locator("#activity")).to_contain_text("completed by ann")
    assert ui.not_reloaded() and ui.problems == []


def test_a_hostile_title_shows_as_text(hub, ui, board):
    page = ui.open(hub.base_url + "/")
    write_task(board, "inbox/x.yaml", task_yaml(id="xss", title=XSS, description=XSS))
    title = card(page, "xss", "inbox").locator(".card-title")
    expect(title).to_have_text(XSS, timeout=WAIT_MS)
    assert page.locator("img").count() == 0
    card(page, "xss").click()
    expect(page.locator("#detail-title")).to_contain_text(XSS)
    page.wait_for_timeout(200)
    assert page.locator("img").count() == 0 and ui.problems == []


def test_theme_toggle_survives_a_reload(hub, browser):
    ui = Page(browser, color_scheme="light")
    try:
        page = ui.open(hub.base_url + "/")
        light = page.evaluate("getComputedStyle(document.body).backgroundColor")
        expect(page.locator("#theme-toggle")).to_have_text("Auto")
        page.click("#theme-toggle")  # follow the system -> light -> dark -> follow the system
        assert page.evaluate("document.documentElement.dataset.theme") == "light"
        page.click("#theme-toggle")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert dark != light
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(page.locator("#theme-toggle")).to_have_text("Dark")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == dark
        page.click("#theme-toggle")
        page.reload()
        assert page.evaluate("document.documentElement.dataset.theme") is None  # the system again
        expect(page.locator("#theme-toggle")).to_have_text("Auto")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == light
        assert ui.problems == []
    finally:
        ui.context.close()


def test_theme_defaults_to_the_system_preference(hub, browser):
    ui = Page(browser, color_scheme="dark")
    try:
        page = ui.open(hub.base_url + "/")
        assert page.evaluate("document.documentElement.dataset.theme") is None
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(15, 18, 23)"
    finally:
        ui.context.close()


def test_filters_live_in_the_url_stay_live_and_exports_follow_them(hub, ui, board):
    write_task(board, "inbox/h.yaml", task_yaml(id="hot", title="hot task", priority="high"))
    write_task(board, "inbox/l.yaml", task_yaml(id="cold", title="cold task", priority="low"))
    page = ui.open(hub.base_url + "/")
    expect(card(page, "cold")).to_be_visible(timeout=WAIT_MS)
    page.select_option("#f-priority", "high")
    page.wait_for_url("**/?priority=high", timeout=WAIT_MS)
    expect(card(page, "cold")).to_have_count(0)
    expect(card(page, "hot")).to_be_visible()
    expect(page.locator("#conn")).to_have_text("Connected", timeout=WAIT_MS)
    write_task(board, "inbox/h2.yaml", task_yaml(id="hotter", title="hotter task", priority="high"))
    write_task(board, "inbox/l2.yaml", task_yaml(id="colder", title="colder task", priority="low"))
    expect(card(page, "hotter")).to_be_visible(timeout=WAIT_MS)
    expect(card(page, "colder")).to_have_count(0)
    page.fill("#f-text", "hotter")
    page.wait_for_url("**q=hotter**", timeout=WAIT_MS)
    expect(card(page, "hot")).to_have_count(0)
    expect(card(page, "hotter")).to_be_visible()
    with page.expect_download() as download:
        page.click("text=Tasks CSV")
    text = Path(download.value.path()).read_text()
    assert "hotter" in text and "colder" not in text and "cold task" not in text
    with page.expect_download() as download:
        page.click("text=Metrics JSON")
    assert '"costs"' in Path(download.value.path()).read_text()
    page.reload()
    expect(page.locator("#f-priority")).to_have_value("high")
    expect(page.locator("#f-text")).to_have_value("hotter")
    expect(card(page, "colder")).to_have_count(0)
    assert ui.problems == []


def test_retry_on_a_dead_task_requeues_it_without_a_reload(hub, ui, board):
    write_task(board, "dead/d.yaml", task_yaml(id="dead-1", title="Gave up", status="dead", last_error="boom",
                                               retry_count=3))
    page = ui.open(hub.base_url + "/")
    expect(card(page, "dead-1", "dead")).to_contain_text("boom", timeout=WAIT_MS)
    page.click('#lane-dead .card-actions .btn-retry')  # the card's own button (the group's asks first)
    expect(page.locator("#toasts")).to_contain_text("Sent back to the inbox", timeout=WAIT_MS)
    expect(card(page, "dead-1", "inbox")).to_be_visible(timeout=WAIT_MS)
    expect(card(page, "dead-1", "dead")).to_have_count(0)
    assert ui.not_reloaded() and ui.problems == []


def test_after_a_hub_restart_the_page_reconnects_and_shows_the_current_state(work_dir, board, ui):
    first = HubThread(work_dir).start()
    try:
        page = ui.open(first.base_url + "/")
        write_task(board, "inbox/a.yaml", task_yaml(id="before", title="before restart"))
        expect(card(page, "before")).to_be_visible(timeout=WAIT_MS)
    finally:
        first.stop()
    expect(page.locator("#conn")).not_to_have_text("Connected", timeout=WAIT_MS)
    # the outage shows above everything and the stale board looks stale
    assert page.evaluate("getComputedStyle(document.getElementById('conn')).position") == "fixed"
    assert float(page.evaluate("getComputedStyle(document.getElementById('main')).opacity")) < 1
    write_task(board, "inbox/b.yaml", task_yaml(id="during", title="written while down"))
    os.remove(board / "inbox/a.yaml")
    second = HubThread(work_dir, port=first.port).start()
    try:
        expect(page.locator("#conn")).to_have_text("Connected", timeout=10_000)
        expect(card(page, "during", "inbox")).to_be_visible(timeout=WAIT_MS)
        assert float(page.evaluate("getComputedStyle(document.getElementById('main')).opacity")) == 1
        expect(card(page, "before")).to_have_count(0)
        assert ui.not_reloaded()
        # while the hub is down the browser and htmx's SSE extension log the failed connections
        outage = ("ERR_CONNECTION_REFUSED", "503", "[object Event]")
        assert [p for p in ui.problems if not any(word in p for word in outage)] == []
    finally:
        second.stop()


def test_detail_panel_is_keyboard_accessible_and_has_its_own_url(hub, ui, board):
    write_task(board, "inbox/dep.yaml", task_yaml(id="dep", title="the dependency"))
    write_task(board, "inbox/t.yaml", task_yaml(id="main", title="Main task", description="Do the thing",
                                                dependencies=["dep"], acceptance_criteria=["works"]))
    page = ui.open(hub.base_url + "/")
    card(page, "main").focus()
    page.keyboard.press("Enter")
    panel = page.locator("#detail")
    expect(panel).to_be_visible(timeout=WAIT_MS)
    expect(page).to_have_url(hub.base_url + "/tasks/main")
    expect(panel).to_contain_text("Do the thing")
    expect(panel).to_contain_text("works")
    panel.locator('.deps a[href="/tasks/dep"]').click()
    expect(page.locator("#detail-title")).to_contain_text("the dependency", timeout=WAIT_MS)
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page).to_have_url(hub.base_url + "/")
    page.goto(hub.base_url + "/tasks/main")
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#detail-title")).to_contain_text("Main task")
    assert ui.problems == []


def test_a_shell_task_streams_into_the_open_panel_and_ends_with_its_cost(hub, ui, board):
    from agent_client import ws_url

    from agentdeck.actors.reference_agent.agent import AgentSettings, ReferenceAgent

    command = "echo first line; sleep 0.4; echo careful >&2; sleep 0.4; echo last line"
    write_task(board, "inbox/s.yaml", task_yaml(id="shell-1", title="Shell work", shell_command=command))
    page = ui.open(hub.base_url + "/")
    expect(card(page, "shell-1", "inbox")).to_be_visible(timeout=WAIT_MS)
    page = ui.open(hub.base_url + "/tasks/shell-1")
    output = page.locator("#detail pre.output")
    expect(output).to_be_visible(timeout=WAIT_MS)
    agent = ReferenceAgent(AgentSettings(hub_url=ws_url(hub.base_url), agent_id="runner",
                                         backoff_min=0.05, backoff_max=0.2, identify_timeout=2.0))
    hub.spawn(agent.run)
    expect(output.locator(".out-stdout").first).to_have_text("first line", timeout=WAIT_MS)
    expect(output.locator(".out-stderr")).to_have_text("careful", timeout=WAIT_MS)
    expect(output.locator(".out-stdout").last).to_have_text("last line", timeout=WAIT_MS)
    stderr_color = output.locator(".out-stderr").evaluate("e => getComputedStyle(e).color")
    stdout_color = output.locator(".out-stdout").first.evaluate("e => getComputedStyle(e).color")
    assert stderr_color == "rgb(240, 179, 94)" and stdout_color != stderr_color
    expect(page.locator("#detail .task-cost")).to_contain_text("0 tokens, $0.00 (shell execution)",
                                                               timeout=WAIT_MS)
    expect(card(page, "shell-1", "done")).to_be_visible()
    expect(page.locator("#agents")).to_contain_text("runner")
    assert ui.not_reloaded() and ui.problems == []
    page.goto(hub.base_url + "/tasks/shell-1")  # opened afterwards: the earlier output is there
    expect(page.locator("#detail pre.output .out-stderr")).to_have_text("careful")
    expect(page.locator("#detail pre.output")).to_contain_text("last line")


CARDS = """cs => cs.map(c => {
    const copy = c.cloneNode(true);
    copy.querySelectorAll('.card-age').forEach(t => t.remove());  // ages tick in the page itself
    return (c.closest('ul') || {}).id + '|' + c.dataset.taskId + '|' + copy.textContent;
})"""
ITEMS = "items => items.map(i => (i.closest('ul, ol') || {}).id + '|' + i.id + '|' + i.textContent)"
HEADS = "hs => hs.map(h => h.id + '|' + h.textContent)"


def test_patched_lanes_stay_identical_to_a_fresh_render(hub, ui, board):
    """Random edits, moves between lanes and between agents' groups, agents coming, working and
    leaving: the patched page ends up showing exactly what a freshly loaded page shows."""
    import random

    from agentdeck.actors.messages import AgentJoined, AgentLeft, AgentStateChanged

    rng = random.Random(6)
    names = ["ann", "bob", "cy", "dee"]
    where: dict[str, str] = {}  # task id -> lane directory it is in
    for index in range(40):
        write_task(board, f"inbox/r{index:02}.yaml", task_yaml(id=f"r{index:02}", title=f"task {index}",
                                                            priority=rng.choice(["high", "medium", "low"])))
        where[f"r{index:02}"] = "inbox"
    for name in names:
        (board / "done" / name).mkdir(parents=True, exist_ok=True)
        (board / "assigned" / name).mkdir(parents=True, exist_ok=True)
    page = ui.open(hub.base_url + "/")
    expect(page.locator("#lane-inbox .lane-head .count")).to_have_text("40", timeout=WAIT_MS)
    online: set[str] = set()

    def move(task_id: str, lane: str) -> None:
        os.replace(board / where[task_id] / f"{task_id}.yaml", board / lane / f"{task_id}.yaml")
        where[task_id] = lane

    for step in range(100):
        task_id = rng.choice(sorted(where))
        action = rng.choice(["edit", "edit", "take", "take", "hand", "done", "new", "agent", "agent"])
        if action == "edit":
            write_task(board, f"{where[task_id]}/{task_id}.yaml", task_yaml(
                id=task_id, title=f"edited {step}", priority=rng.choice(["critical", "low"])))
        elif ((action == "take" and where[task_id] == "inbox")
              or (action == "hand" and where[task_id].startswith("assigned/"))):
            move(task_id, f"assigned/{rng.choice(names)}")
        elif action == "done":
            move(task_id, f"done/{rng.choice(names)}")
            del where[task_id]
        elif action == "new":
            write_task(board, f"inbox/n{step}.yaml", task_yaml(id=f"n{step}", title=f"new {step}"))
            where[f"n{step}"] = "inbox"
        elif action == "agent":
            name = rng.choice(names)
            if name not in online or rng.random() < 0.2:
                event = AgentJoined(agent_id=name, name=f"agent {name}", capabilities=("shell",))
                online.add(name)
            elif rng.random() < 0.25:
                event = AgentLeft(agent_id=name, reason="bye")
                online.discard(name)
            else:
                event = AgentStateChanged(agent_id=name, state=rng.choice(["idle", "working"]), task_id=task_id)
            hub.call(hub.hub.bus.publish, event)
        page.wait_for_timeout(rng.choice([0, 10, 60, 150]))
    lanes = [lane.split("/")[0] for lane in where.values()]
    for lane in ("inbox", "assigned"):
        expect(page.locator(f"#lane-{lane} .lane-head .count")).to_have_text(str(lanes.count(lane)),
                                                                            timeout=WAIT_MS)
    page.wait_for_timeout(400)
    show_everything(page)
    fresh = ui.context.new_page()
    fresh.goto(hub.base_url + "/")
    for selector, script in (("#lane-inbox .card", CARDS), ("#lane-assigned .card", CARDS),
                             ("#lane-done .card", CARDS), ("#lane-assigned .group-head", HEADS),
                             ("#agents h2", HEADS), ("#agents li", ITEMS), ("#activity li", ITEMS)):
        live = page.eval_on_selector_all(selector, script)
        assert live == fresh.eval_on_selector_all(selector, script), selector
    assert page.locator("#lane-assigned .group").count() >= 2
    assert page.locator("#agents li").count() == len(names)
    assert page.locator("#activity li").count() == 50
    assert page.locator("#lane-inbox .card").count() == lanes.count("inbox") and ui.problems == []


def test_the_stream_url_follows_the_last_applied_event(hub, ui, board):
    page = ui.open(hub.base_url + "/")
    first = page.get_attribute("#live", "sse-connect")
    write_task(board, "inbox/n.yaml", task_yaml(id="n1", title="next"))
    expect(card(page, "n1")).to_be_visible(timeout=WAIT_MS)
    later = page.get_attribute("#live", "sse-connect")
    epoch, seq = re.search(r"since=([0-9a-f]+)-(\d+)", first).groups()
    epoch2, seq2 = re.search(r"since=([0-9a-f]+)-(\d+)", later).groups()
    assert epoch2 == epoch and int(seq2) > int(seq)


def test_keyboard_shortcuts_skip_links_and_focus_return(hub, ui, board):
    for n in range(3):
        write_task(board, f"inbox/k{n}.yaml", task_yaml(id=f"k{n}", title=f"Keyboard {n}", priority="high"))
    page = ui.open(hub.base_url + "/")
    expect(card(page, "k2")).to_be_visible(timeout=WAIT_MS)
    assert page.locator("h1").count() == 1
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link").first).to_be_focused()
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("/")
    expect(page.locator("#f-text")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    first = page.locator("#main .card").first
    expect(first).to_be_focused()
    page.keyboard.press("j")
    second = page.locator("#main .card").nth(1)
    expect(second).to_be_focused()
    task_id = second.get_attribute("data-task-id")
    page.keyboard.press("Enter")
    expect(page.locator("#detail")).to_be_visible()
    expect(page).to_have_url(re.compile(f"/tasks/{task_id}$"))
    # the card is redrawn while the panel is open: Esc still returns focus to that task's card
    write_task(board, f"inbox/{task_id}.yaml", task_yaml(id=task_id, title="Renamed while open", priority="high"))
    expect(card(page, task_id)).to_contain_text("Renamed while open", timeout=WAIT_MS)
    page.keyboard.press("Escape")
    expect(page.locator("#detail")).to_be_hidden()
    expect(card(page, task_id)).to_be_focused()
    assert ui.problems == []


def test_no_horizontal_overflow_on_a_phone(hub, browser, board):
    for n in range(8):
        write_task(board, f"inbox/p{n}.yaml", task_yaml(id=f"phone-task-with-a-long-id-{n}", title=f"Phone {n}",
                                                      needed_capabilities=["gpu"]))
    write_task(board, "dead/d.yaml", task_yaml(id="d", title="dead", status="dead", last_error="exit code 2"))
    ui = Page(browser)
    try:
        ui.page.set_viewport_size({"width": 360, "height": 800})
        for path in ("/", "/graph", "/tasks/d"):
            page = ui.open(hub.base_url + path)
            page.wait_for_timeout(300)
            width = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert width <= 0, f"{path} is {width} px wider than a 360 px screen"
        assert ui.problems == []
    finally:
        ui.context.close()


def test_show_more_pages_one_lane_in_place_and_live_changes_follow(hub, ui, board):
    for n in range(130):
        write_task(board, f"inbox/m{n:03}.yaml", task_yaml(id=f"m{n:03}", title=f"More {n}",
                                                         created=f"2026-01-01T00:{n // 60:02}:{n % 60:02}Z"))
    for n in range(120):
        write_task(board, f"dead/x{n:03}.yaml", task_yaml(id=f"x{n:03}", title=f"Dead {n}", status="dead",
                                                        last_error="exit code 1"))
    page = ui.open(hub.base_url + "/")
    # the hub reads these files as they are written: every one must be on the board before the
    # page scrolls and pages (a dead task read later would be drawn into the Dead lane meanwhile)
    expect(page.locator("#head-inbox .count")).to_have_text("130", timeout=WAIT_MS)
    expect(page.locator("#head-dead .count")).to_have_text("120", timeout=WAIT_MS)
    expect(page.locator("#more-inbox a")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#lane-dead .card")).to_have_count(100, timeout=WAIT_MS)
    page.evaluate("""() => { document.getElementById('lane-inbox').scrollTop = 600;
        document.getElementById('lane-dead').scrollTop = 400;
        window.__deadFirst = document.querySelector('#lane-dead .card'); }""")
    page.locator("#more-inbox a").click()
    expect(page.locator("#lane-inbox .card")).to_have_count(130, timeout=WAIT_MS)
    expect(page.locator("#lane-inbox .card").nth(100)).to_be_focused()
    expect(page.locator("#lane-status")).to_contain_text("Showing 130 of 130")
    assert page.evaluate("document.getElementById('lane-inbox').scrollTop") >= 600
    # the other lanes were not drawn again: same elements, same scroll
    assert page.evaluate("window.__deadFirst === document.querySelector('#lane-dead .card')")
    assert page.evaluate("document.getElementById('lane-dead').scrollTop") == 400
    assert page.locator("#more-inbox a").count() == 0
    assert "inbox=200" in page.url and ui.not_reloaded()
    # a live change lands in the paged lane as it is now (card 130 stays: the lane holds 200)
    write_task(board, "inbox/late.yaml", task_yaml(id="late", title="Late arrival", priority="critical"))
    expect(page.locator("#lane-inbox .card")).to_have_count(131, timeout=WAIT_MS)
    expect(card(page, "m129", "inbox")).to_be_visible()
    assert ui.problems == []


def test_show_more_asked_before_the_hub_counts_the_stream_asks_again_instead_of_reloading(hub, ui, board):
    """The page says "Connected" a moment before the hub counts its stream (and again after a
    reconnect): a "Show more" clicked then got 409 and the whole page was loaded again."""
    for n in range(130):
        write_task(board, f"inbox/m{n:03}.yaml", task_yaml(id=f"m{n:03}", title=f"More {n}"))
    page = ui.open(hub.base_url + "/")
    expect(page.locator("#head-inbox .count")).to_have_text("130", timeout=WAIT_MS)
    answers: list[int] = []

    def hub_not_counting_yet(route):
        if answers:
            answers.append(0)
            route.continue_()
            return
        unknown_tab = re.sub(r"tab=[^&]*", "tab=" + "0" * 32, route.request.url)
        response = route.fetch(url=unknown_tab)  # what the hub answers a stream it does not know
        answers.append(response.status)
        route.fulfill(response=response)

    page.route("**/lanes/**", hub_not_counting_yet)
    page.locator("#more-inbox a").click()
    expect(page.locator("#lane-inbox .card")).to_have_count(130, timeout=WAIT_MS)
    expect(page).to_have_url(re.compile(r"inbox=200"), timeout=WAIT_MS)
    assert answers == [409, 0] and ui.not_reloaded()
    assert [p for p in ui.problems if "409 (Conflict)" not in p] == []  # Chromium logs every 4xx fetch


def test_a_big_page_of_a_lane_comes_in_slices_in_order_with_live_changes_between(hub, ui, board):
    """A page of more than 100 cards comes as several events, applied one per frame after the
    first: every card lands once and in order, a live change sent meanwhile lands after the page's
    earlier slices, and the page is announced once all of it is in."""
    for n in range(350):
        write_task(board, f"inbox/m{n:03}.yaml", task_yaml(id=f"m{n:03}", title=f"More {n}",
                                                         created=f"2026-01-01T{n // 60:02}:{n % 60:02}:00Z"))
    page = ui.open(hub.base_url + "/")
    expect(page.locator("#head-inbox .count")).to_have_text("350", timeout=WAIT_MS)
    page.locator("#more-inbox a").click()
    expect(page.locator("#lane-inbox .card")).to_have_count(200, timeout=WAIT_MS)
    expect(page.locator("#lane-status")).to_contain_text("Showing 200 of 350")
    expect(page.locator("#lane-inbox")).not_to_have_attribute("aria-busy", "true")
    page.evaluate("""() => { window.__slices = 0; document.body.addEventListener('htmx:sseMessage', e => {
        if (e.detail.type === 'patch-lane-inbox') window.__slices += 1; }); }""")
    page.locator("#more-inbox a").click()
    write_task(board, "inbox/late.yaml", task_yaml(id="late", title="Late arrival", priority="critical"))
    expect(page.locator("#lane-inbox .card")).to_have_count(351, timeout=WAIT_MS)
    expect(card(page, "m200", "inbox")).to_be_focused()  # the first new card
    # announced once the page is in (the live change may land before or after that)
    expect(page.locator("#lane-status")).to_have_text(re.compile(r"Showing (350 of 350|351 of 351) Inbox"))
    assert page.evaluate("window.__slices") >= 3  # 150 new cards in two slices, and the live change
    ids = page.evaluate("[...document.querySelectorAll('#lane-inbox .card')].map(c => c.dataset.taskId)")
    assert ids == ["late", *(f"m{n:03}" for n in range(350))]
    expect(page.locator("#more-inbox a")).to_have_count(0)
    assert ui.not_reloaded() and ui.problems == []


def test_ids_that_climb_out_of_tasks_open_only_task_panels(hub, ui, board):
    """Issue 12 item 7: an id (or dependency) ``../api/agents`` linked to the JSON API, and the panel
    showed that JSON unescaped, with an agent name an anonymous agent chose: script ran."""
    import json as json_module

    import trio
    from agent_client import ws_url
    from trio_websocket import open_websocket_url

    async def agent_with_a_hostile_name() -> None:
        async with open_websocket_url(ws_url(hub.base_url)) as ws:
            await ws.send_message(json_module.dumps({"type": "identify", "agent_id": "evil", "token": None,
                                                     "name": "<img src=x onerror=window.__pwned=1>"}))
            await ws.get_message()
            await trio.sleep(4)

    import threading

    agent = threading.Thread(target=trio.run, args=(agent_with_a_hostile_name,), daemon=True)
    agent.start()
    write_task(board, "dead/climb.yaml", task_yaml(id="../api/agents", title="climber",
                                                   dependencies=["../api/tasks"]))
    page = ui.open(hub.base_url + "/")
    climber = card(page, "../api/agents", "dead")
    expect(climber).to_be_visible(timeout=WAIT_MS)
    assert climber.get_attribute("href").startswith("/tasks/..%2Fapi%2Fagents")
    climber.click()
    expect(page.locator("#detail-title")).to_contain_text("climber", timeout=WAIT_MS)
    page.locator('#detail a[href="/tasks/..%2Fapi%2Ftasks"]').first.click()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert '"agents"' not in page.locator("#detail").inner_text()
    agent.join(timeout=10)
    assert ui.problems == [] or all("404" in p for p in ui.problems), ui.problems
