"""The demo model: a small Ollama-compatible endpoint that ``serve --demo`` starts on 127.0.0.1, so a
fresh machine with no network and no model shows tokens streaming, tokens counted, a cost of $0 and
what the same tokens would have cost on Claude ("saved vs Claude").

It is not a language model: it streams a short canned plan that names the task, a word at a time,
at a human reading pace. Every reply says so, and the model's name (``DEMO_MODEL``) is what the
dashboard shows as the model. It speaks the parts of Ollama's API the reference agent uses:
``POST /api/generate`` (NDJSON stream, final record with ``prompt_eval_count``/``eval_count``),
``GET /api/tags`` and ``GET /api/version``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

DEMO_MODEL = "demo-model:agentdeck"
TOKEN_SECONDS = 0.1  # ten words a second: readable, and a reply takes several seconds
MAX_BODY = 1024 * 1024
_WORD = re.compile(r"\S+\s*|\s+")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


def demo_reply(prompt: str) -> str:
    """The canned text for a prompt: a plan that names the task, labelled as the demo model's."""
    title = next((line.strip() for line in prompt.splitlines() if line.strip()), "this task")[:100]
    return (f"[demo model: canned text, not a real AI]\n"
            f"Plan for \"{title}\":\n"
            "1. Read the files the task names and write down what they do today.\n"
            "2. Make the smallest change that meets the success criteria.\n"
            "3. Add a test for the new behaviour and run the whole suite.\n"
            "4. Note anything left open for the next task.\n"
            "Run a local model with Ollama, or Claude Code or Codex on an agent, for real work.\n")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            raise ValueError("request body too large")
        if not message.get("more_body"):
            return body


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8")]})
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


class DemoModel:
    """The ASGI application; ``token_seconds`` sets the pace (tests use 0)."""

    def __init__(self, token_seconds: float = TOKEN_SECONDS) -> None:
        self.token_seconds = token_seconds
        self.url = ""

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/api/version" and method == "GET":
            await _json(send, 200, {"version": "0.0.0-agentdeck-demo"})
        elif path == "/api/tags" and method == "GET":
            await _json(send, 200, {"models": [{"name": DEMO_MODEL, "model": DEMO_MODEL, "size": 0,
                                                "details": {"family": "agentdeck-demo"}}]})
        elif path == "/api/generate" and method == "POST":
            await self._generate(receive, send)
        else:
            await _json(send, 404, {"error": "not found"})

    async def _generate(self, receive: Receive, send: Send) -> None:
        try:
            request = json.loads(await _read_body(receive) or b"{}")
        except ValueError as error:
            await _json(send, 400, {"error": f"invalid request: {error}"})
            return
        if not isinstance(request, dict) or not isinstance(request.get("prompt", ""), str):
            await _json(send, 400, {"error": "expected an object with a prompt"})
            return
        model, prompt = str(request.get("model") or DEMO_MODEL), request.get("prompt", "")
        words = _WORD.findall(demo_reply(prompt))
        started = trio.current_time()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/x-ndjson")]})
        for word in words:
            await trio.sleep(self.token_seconds)
            line = {"model": model, "created_at": _now(), "response": word, "done": False}
            await send({"type": "http.response.body", "body": json.dumps(line).encode() + b"\n",
                        "more_body": True})
        elapsed_ns = int((trio.current_time() - started) * 1e9)
        final = {"model": model, "created_at": _now(), "response": "", "done": True, "done_reason": "stop",
                 "total_duration": elapsed_ns, "load_duration": 0,
                 "prompt_eval_count": max(1, len(prompt.split()) * 4 // 3), "prompt_eval_duration": 0,
                 "eval_count": len(words), "eval_duration": elapsed_ns}
        await send({"type": "http.response.body", "body": json.dumps(final).encode() + b"\n"})

    async def serve(self, shutdown: trio.Event, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
                    ) -> None:
        """Serve on 127.0.0.1 (a free port) until ``shutdown``; reports its base URL when started."""
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 0.1
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(partial(serve, self, config,  # type: ignore[arg-type]
                                                    shutdown_trigger=shutdown.wait))
            self.url = next(a for a in addresses if a.startswith("http://"))
            task_status.started(self.url)
