"""An address that does not exist: a browser gets a small page with a way back to the board, a
script still gets the JSON error every other error answer uses."""

from __future__ import annotations

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_a_browser_gets_a_page_and_a_script_gets_json(running_hub):
    page = await running_hub.client.get("/no/such/<page>", headers={"Accept": BROWSER})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert 'href="/"' in page.text and "&lt;page&gt;" in page.text and "<page>" not in page.text
    for accept in ("*/*", "application/json", "application/json, text/html;q=0.5"):
        data = await running_hub.client.get("/no/such/page", headers={"Accept": accept})
        assert data.status_code == 404 and data.json()["error"] == "not_found", accept
    posted = await running_hub.client.post("/no/such/page", headers={"Accept": BROWSER})
    assert posted.status_code in (404, 405) and posted.json()["error"]
