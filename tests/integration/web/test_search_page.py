"""The board's search over HTTP: all words, highlighted in the cards, the other lanes filtered too."""

from __future__ import annotations

from conftest import task_yaml, wait_until, write_task


async def test_search_by_all_words_marks_the_matches(running_hub):
    write_task(running_hub.board, "inbox/a.yaml", task_yaml(id="a", title="Test OAuth callback in the mobile app"))
    write_task(running_hub.board, "inbox/b.yaml", task_yaml(id="b", title="OAuth on the web"))
    write_task(running_hub.board, "dead/c.yaml", task_yaml(id="c", title="mobile build", status="dead"))

    async def found():
        page = await running_hub.client.get("/", params={"q": "oauth mobile"})
        return page.text if "callback in the" in page.text else None
    text = await wait_until(found)
    assert "<mark>OAuth</mark> callback in the <mark>mobile</mark> app" in text
    board = text[text.index('class="board"'):text.index('class="side-col"')]
    assert "OAuth on the web" not in board and "mobile build" not in board
