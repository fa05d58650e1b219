"""A tiny stand-in for an Ollama server (an EXTERNAL service): ``POST /api/generate`` as NDJSON.

Served for real by Hypercorn on 127.0.0.1 with a free port, so executors talk HTTP to it exactly as
they would to Ollama. Knobs: the tokens to stream, how many requests fail with HTTP 500 first, a
delay between tokens, and models that do not exist (HTTP 404 with Ollama's error body).
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import attrs
import trio
from hypercorn.config import Config
from hypercorn.trio import serve


@attrs.define
class FakeOllama:
    tokens: list[str] = attrs.field(factory=lambda: ["Hello", ",", " world", "!"])
    fail_first: int = 0
    token_delay: float = 0.0
    stall_after: int | None = None  # tokens sent before the stream hangs (a model that stops mid-answer)
    missing_models: set[str] = attrs.field(factory=set)
    prompt_eval_count: int = 12
    requests: list[dict[str, Any]] = attrs.field(factory=list)
    url: str = ""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] != "/api/generate" or scope["method"] != "POST":
            await _respond(send, 404, b"404 page not found", "text/plain")
            return
        request = json.loads(body or b"{}")
        self.requests.append(request)
        if len(self.requests) <= self.fail_first:
            await _respond(send, 500, b'{"error":"temporarily overloaded"}', "application/json")
            return
        model = request.get("model", "")
        if model in self.missing_models:
            error = json.dumps({"error": f"model '{model}' not found"}).encode()
            await _respond(send, 404, error, "application/json")
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/x-ndjson")]})
        for sent, token in enumerate(self.tokens):
            if sent == self.stall_after:
                await trio.sleep_forever()
            if self.token_delay:
                await trio.sleep(self.token_delay)
            line = {"model": model, "created_at": "2026-01-01T00:00:00Z", "response": token,
                    "done": False}
            await send({"type": "http.response.body", "body": json.dumps(line).encode() + b"\n",
                        "more_body": True})
        final = {"model": model, "response": "", "done": True, "done_reason": "stop",
                 "prompt_eval_count": self.prompt_eval_count, "eval_count": len(self.tokens)}
        await send({"type": "http.response.body", "body": json.dumps(final).encode() + b"\n"})

    async def serve(self, shutdown: trio.Event, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serve until ``shutdown`` is set; ``self.url`` is the base URL once started."""
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 0.1
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(partial(serve, self, config,
                                                    shutdown_trigger=shutdown.wait))
            self.url = next(a for a in addresses if a.startswith("http://"))
            task_status.started(self.url)


async def _respond(send, status: int, body: bytes, content_type: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode())]})
    await send({"type": "http.response.body", "body": body})
