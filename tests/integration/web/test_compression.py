"""gzip for pages, assets, JSON and the event stream when the client accepts it; never otherwise."""

from __future__ import annotations

import httpx
import trio
from conftest import task_yaml, write_task

from agentdeck.web.compression import accepts_gzip


def test_accept_encoding_is_read_with_its_qualities():
    def scope(value: bytes) -> dict:
        return {"headers": [(b"accept-encoding", value)]}
    assert accepts_gzip(scope(b"gzip, deflate, br"))
    assert accepts_gzip(scope(b"br;q=1.0, gzip;q=0.5"))
    assert not accepts_gzip(scope(b"gzip;q=0, br"))
    assert accepts_gzip(scope(b"*"))
    assert not accepts_gzip(scope(b"identity"))
    assert not accepts_gzip({"headers": []})


async def test_page_css_js_and_sse_are_gzipped_only_when_accepted(running_hub):
    for n in range(50):
        write_task(running_hub.board, f"inbox/t{n}.yaml", task_yaml(id=f"t{n}", title=f"task number {n}"))
    async with httpx.AsyncClient(base_url=running_hub.base_url) as raw:
        for path in ("/", "/static/app.css", "/static/app.js", "/api/tasks"):
            zipped = await raw.get(path, headers={"Accept-Encoding": "gzip"})
            assert zipped.status_code == 200
            assert zipped.headers.get("content-encoding") == "gzip", path
            assert "accept-encoding" in zipped.headers.get("vary", "").lower()
            plain = await raw.get(path, headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in plain.headers
            assert zipped.content == plain.content or path in ("/", "/api/tasks")  # pages carry fresh ids
            assert int(zipped.headers.get("content-length", "0") or 0) < len(plain.content) or \
                "content-length" not in zipped.headers

        request = raw.build_request("GET", "/events", headers={"Accept-Encoding": "gzip"})
        response = await raw.send(request, stream=True)
        try:
            assert response.headers["content-encoding"] == "gzip"
            text = ""
            with trio.fail_after(5):
                async for chunk in response.aiter_text():
                    text += chunk
                    if "event: lane-inbox" in text:
                        break
            assert "task number 49" in text  # events arrive decoded, as they are sent
        finally:
            await response.aclose()
