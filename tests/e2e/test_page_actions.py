"""Acting on work from the page in a real Chromium: bulk retry and cancel of a lane's cards (with
the count asked for first), and a new task written into the inbox from the page's form."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from browser_hub import CHROMIUM
from conftest import task_yaml, write_task

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

import test_browser  # noqa: E402  (after the skip above)
from test_browser import WAIT_MS, card  # noqa: E402

browser = test_browser.browser  # one Chromium for the module, and a hub per test, as there
hub = test_browser.hub

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]


@pytest.fixture
def board(board_dir: Path) -> Path:
    return board_dir


@pytest.fixture
def page(browser, hub):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.questions = []
    page.on("dialog", lambda dialog: (page.questions.append(dialog.message), dialog.accept()))
    page.goto(hub.base_url + "/")
    expect(page.locator("#conn")).to_have_text("Connected", timeout=WAIT_MS)
    yield page
    context.close()


def test_bulk_actions_in_the_page_act_on_the_cards_of_a_lane(page, board):
    for n in range(3):
        write_task(board, f"inbox/q{n}.yaml", task_yaml(id=f"q{n}", title=f"Queued {n}", needed_capabilities=["gpu"]))
        write_task(board, f"dead/x{n}.yaml", task_yaml(id=f"x{n}", title=f"Failed {n}", status="dead",
                                                      last_error=f"exit {n}"))
    expect(page.locator("#lane-dead .lane-head .count")).to_have_text("3", timeout=WAIT_MS)
    page.locator("#bulk summary").click()
    page.get_by_role("button", name="Retry every dead-letter task shown").click()
    expect(page.locator("#toasts")).to_contain_text("3 retried", timeout=WAIT_MS)
    expect(page.locator("#lane-inbox .lane-head .count")).to_have_text("6", timeout=WAIT_MS)
    page.get_by_role("button", name="Cancel every waiting task shown").click()
    expect(page.locator("#toasts")).to_contain_text("6 cancelled", timeout=WAIT_MS)
    expect(page.locator("#lane-dead .lane-head .count")).to_have_text("6", timeout=WAIT_MS)
    assert page.questions == ["Retry the 3 tasks shown in that lane?", "Cancel the 6 tasks shown in that lane?"]


def test_a_new_task_from_the_page_lands_in_the_inbox_as_a_file(page, board):
    page.locator("#new-task summary").click()
    form = page.locator(".new-task-form")
    form.get_by_label("Title").fill("Summarise <b>the</b> incident")
    form.get_by_label("Description").fill("Three sentences for the status page.")
    form.get_by_label("Priority").select_option("high")
    form.get_by_label("Capabilities").fill("writing, docs")
    form.get_by_role("button", name="Add to the inbox").click()
    expect(page.locator("#toasts")).to_contain_text("added to the inbox", timeout=WAIT_MS)
    expect(page.locator("#new-task")).not_to_have_attribute("open", "")
    files = list((board / "inbox").glob("*.yaml"))
    assert len(files) == 1
    fields = yaml.safe_load(files[0].read_text())
    assert fields["title"] == "Summarise <b>the</b> incident" and fields["priority"] == "high"
    assert fields["needed_capabilities"] == ["writing", "docs"] and "shell_command" not in fields
    expect(card(page, fields["id"], "inbox")).to_contain_text("Summarise <b>the</b> incident", timeout=WAIT_MS)
    page.locator("#new-task summary").click()
    form.get_by_role("button", name="Add to the inbox").click()  # no title: the browser asks for one
    assert len(list((board / "inbox").glob("*.yaml"))) == 1
