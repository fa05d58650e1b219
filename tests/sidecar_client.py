"""A Python re-implementation of what the Elixir hub's Node sidecar (``sidecar/index.js``) does on
the wire, for protocol tests that need a client behaving like the real one.

Observable behaviour reproduced (and nothing more):
- a queue file with two slots, ``active`` and ``recovering``, saved on every change; at start an
  ``active`` task left by a crash moves to ``recovering``;
- ``identify`` with ``client_type: sidecar``; every frame carries ``protocol_version: 1``;
  reconnect after a close with backoff 1 s doubling (scaled down here);
- after ``identified``: ``task_recovering`` for the recovering slot, ``state_report`` for the
  active slot;
- ``task_assign`` while ``active`` is set -> ``task_rejected busy`` (the recovering slot does not
  count); else save, ``task_accepted``, run the task;
- the shell executor runs ``metadata.shell_command`` (timeout ``metadata.timeout_ms``, default
  60 s), one ``task_progress`` per stdout/stderr chunk, retries a failed command once, and after
  the last failure sends an ``error`` event ``Shell failed after 2 attempts: Command exited with
  code N: <stderr>``; then ``task_complete`` with ``result.status`` failed and no ``error``;
- verification after a successful run: ``skip`` / ``auto_pass`` / checks (``command_succeeds``,
  ``test_passes``, ``file_exists``), sent top level as ``verification_report`` and
  ``verification_history``;
- cost as its own table prices it: only ``claude-*-4.5``-style names are known, anything else is
  $0 with an "equivalent" Sonnet cost;
- ``task_reassign`` clears only the recovering slot (and forgets the task's generation);
  ``task_continue`` moves recovering to active; ``task_cancelled`` clears either slot but does not
  stop the running command; ``state_report_ack abort`` clears the active slot;
- when an execution ends it clears ``active``, whatever task is in it then; ``task_complete`` and
  ``task_failed`` carry the generation remembered for the task, or 0.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from agent_client import ws_url
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

COST_TABLE = {"claude-sonnet-4.5": (3.0, 15.0), "claude-opus-4.5": (5.0, 25.0),
              "claude-haiku-4.5": (1.0, 5.0), "claude-opus-4.6": (5.0, 25.0)}
EQUIVALENT = (3.0, 15.0)
ClaudeRun = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def sidecar_cost(model: str | None, tokens_in: int, tokens_out: int) -> tuple[float, float | None]:
    """cost-calculator.js: exact or prefix match in its table, else $0 plus the Sonnet equivalent."""
    entry = COST_TABLE.get(model or "") or next(
        (price for name, price in COST_TABLE.items() if (model or "").startswith(name)), None)
    if entry:
        return entry[0] / 1e6 * tokens_in + entry[1] / 1e6 * tokens_out, None
    if tokens_in + tokens_out == 0:
        return 0.0, None
    return 0.0, EQUIVALENT[0] / 1e6 * tokens_in + EQUIVALENT[1] / 1e6 * tokens_out


class Sidecar:
    """One sidecar process. ``run`` until ``crash`` (abort the TCP connection, forget everything
    but the queue file) or ``stop``; a new ``Sidecar`` on the same ``home`` is the restart."""

    def __init__(self, base_url: str, agent_id: str, home: Path, *, token: str | None = None,
                 capabilities: tuple[str, ...] = ("shell",), ollama_url: str | None = None,
                 reconnect_delay: float = 0.05, claude: ClaudeRun | None = None) -> None:
        self.url, self.agent_id, self.home = ws_url(base_url), agent_id, home
        self.token, self.capabilities, self.ollama_url = token, capabilities, ollama_url
        self.reconnect_delay, self.claude = reconnect_delay, claude
        self.queue_path = home / "queue.json"
        self.queue: dict[str, Any] = {"active": None, "recovering": None}
        self.generations: dict[str, int] = {}
        self.received: list[dict[str, Any]] = []  # every frame from the hub, in order
        self.sent: list[dict[str, Any]] = []
        self.closes: list[int | None] = []  # close codes of connections the hub ended
        self.identified = trio.Event()
        self._ws: WebSocketConnection | None = None
        self._cancel = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        home.mkdir(parents=True, exist_ok=True)
        self._load_queue()

    # ------------------------------------------------------------------ queue file

    def _load_queue(self) -> None:
        if self.queue_path.exists():
            self.queue = json.loads(self.queue_path.read_text())
        if self.queue.get("active"):
            self.queue["recovering"], self.queue["active"] = self.queue["active"], None
            self._save()

    def _save(self) -> None:
        tmp = self.queue_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.queue))
        os.replace(tmp, self.queue_path)

    # ------------------------------------------------------------------ connection

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self._cancel:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                delay = self.reconnect_delay
                while True:
                    try:
                        async with open_websocket_url(self.url, disconnect_timeout=1) as ws:
                            self._ws = ws
                            await self.send({"type": "identify", "agent_id": self.agent_id,
                                             "token": self.token, "name": self.agent_id,
                                             "status": "idle", "capabilities": list(self.capabilities),
                                             "client_type": "sidecar", "protocol_version": 1,
                                             **({"ollama_url": self.ollama_url} if self.ollama_url else {})})
                            async for raw in _messages(ws):
                                await self._handle(json.loads(raw))
                            self.closes.append(ws.closed.code if ws.closed else None)
                    except ConnectionClosed as closed:
                        self.closes.append(closed.reason.code)
                    except OSError:
                        pass
                    self._ws = None
                    self.identified = trio.Event()
                    await trio.sleep(delay)
                    delay = min(delay * 2, 60.0)

    async def crash(self) -> None:
        """``kill -9``: the TCP connection drops without a close handshake; the queue file stays."""
        ws = self._ws
        if ws is not None:
            await ws._stream.aclose()  # no closing handshake, as a killed process
        self._cancel.cancel()

    def stop(self) -> None:
        self._cancel.cancel()

    async def send(self, message: dict[str, Any]) -> bool:
        ws = self._ws
        if ws is None:
            return False
        payload = {**message, "protocol_version": 1}
        try:
            await ws.send_message(json.dumps(payload))
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self.sent.append(payload)
        return True

    # ------------------------------------------------------------------ hub messages

    async def _handle(self, msg: dict[str, Any]) -> None:
        self.received.append(msg)
        kind, task_id = msg.get("type"), msg.get("task_id")
        if kind == "identified":
            self.identified.set()
            recovering, active = self.queue.get("recovering"), self.queue.get("active")
            if recovering:
                await self.send({"type": "task_recovering", "task_id": recovering["task_id"],
                                 "description": recovering["description"],
                                 "metadata": recovering["metadata"], "last_status": recovering["status"]})
            if active:
                await self.send({"type": "state_report", "task_id": active["task_id"],
                                 "status": active["status"],
                                 "generation": self.generations.get(active["task_id"])
                                 or active["generation"], "assigned_at": active["assigned_at"]})
        elif kind == "task_assign":
            await self._assigned(msg)
        elif kind == "task_reassign":
            self.generations.pop(task_id, None)
            if (self.queue.get("recovering") or {}).get("task_id") == task_id:
                self.queue["recovering"] = None
                self._save()
        elif kind == "task_continue":
            if msg.get("generation") is not None:
                self.generations[task_id] = msg["generation"]
            if (self.queue.get("recovering") or {}).get("task_id") == task_id:
                self.queue["active"], self.queue["recovering"] = self.queue["recovering"], None
                self._save()
        elif kind == "task_cancelled":
            for slot in ("active", "recovering"):
                if (self.queue.get(slot) or {}).get("task_id") == task_id:
                    self.queue[slot] = None
                    self._save()
            self.generations.pop(task_id, None)
        elif kind == "state_report_ack" and msg.get("action") == "abort" \
                and (self.queue.get("active") or {}).get("task_id") == task_id:
            self.queue["active"] = None
            self._save()
            self.generations.pop(task_id, None)

    async def _assigned(self, msg: dict[str, Any]) -> None:
        if self.queue.get("active") is not None:
            await self.send({"type": "task_rejected", "task_id": msg["task_id"], "reason": "busy"})
            return
        if msg.get("generation") is not None:
            self.generations[msg["task_id"]] = msg["generation"]
        task = {"task_id": msg["task_id"], "description": msg.get("description"),
                "metadata": msg.get("metadata") or {}, "status": "accepted",
                "assigned_at": msg.get("assigned_at") or int(time.time() * 1000),
                "generation": msg.get("generation") or 0,
                "verification_steps": msg.get("verification_steps") or [],
                "skip_verification": msg.get("skip_verification") or False,
                "verification_timeout_ms": msg.get("verification_timeout_ms"),
                "routing_decision": msg.get("routing_decision")}
        self.queue["active"] = task
        self._save()
        await self.send({"type": "task_accepted", "task_id": msg["task_id"]})
        assert self._nursery is not None
        self._nursery.start_soon(self._execute, task)

    # ------------------------------------------------------------------ execution

    async def _execute(self, task: dict[str, Any]) -> None:
        task["status"] = "working"
        self._save()
        started = time.monotonic()
        target = (task.get("routing_decision") or {}).get("target_type")
        if target == "claude" and self.claude is not None:
            raw = await self.claude(task)
        else:
            raw = await self._shell(task)
        cost, equivalent = sidecar_cost(raw["model_used"], raw["tokens_in"], raw["tokens_out"])
        result: dict[str, Any] = {"status": raw["status"], "output": raw["output"],
                                  "model_used": raw["model_used"], "tokens_in": raw["tokens_in"],
                                  "tokens_out": raw["tokens_out"], "estimated_cost_usd": cost,
                                  "equivalent_claude_cost_usd": equivalent,
                                  "execution_ms": int((time.monotonic() - started) * 1000)}
        reports: list[dict[str, Any]] = []
        if raw["status"] == "success":
            reports.append(await self._verify(task))
            passed = reports[-1]["status"] in ("pass", "skip", "auto_pass")
            result["verification_status"] = "verified" if passed else "partial_pass"
        else:
            result["verification_status"] = "execution_failed"
        result["verification_attempts"] = len(reports)
        generation = self.generations.pop(task["task_id"], 0)
        await self.send({"type": "task_complete", "task_id": task["task_id"], "result": result,
                         "generation": generation,
                         "verification_report": reports[-1] if reports else None,
                         "verification_history": reports})
        self.queue["active"] = None  # whatever task is in the slot by now
        self._save()

    async def _progress(self, task_id: str, event_type: str, text: str) -> None:
        await self.send({"type": "task_progress", "task_id": task_id, "execution_event": {
            "event_type": event_type, "text": text, "tokens_so_far": None, "model": None,
            "timestamp": int(time.time() * 1000)}})

    async def _shell(self, task: dict[str, Any]) -> dict[str, Any]:
        command = (task.get("metadata") or {}).get("shell_command")
        failed = {"status": "failed", "output": "", "model_used": "none", "tokens_in": 0, "tokens_out": 0}
        if not command:
            return {**failed, "error": "no shell_command"}
        error = ""
        for attempt in (1, 2):
            if attempt > 1:
                await self._progress(task["task_id"], "status", "Shell retry 1/1...")
            ok, stdout, error = await self._run_command(command, task)
            if ok:
                return {"status": "success", "output": stdout, "model_used": "none", "tokens_in": 0,
                        "tokens_out": 0}
        await self._progress(task["task_id"], "error", f"Shell failed after 2 attempts: {error}")
        return {**failed, "error": error}

    async def _run_command(self, command: str, task: dict[str, Any]) -> tuple[bool, str, str]:
        timeout_ms = (task.get("metadata") or {}).get("timeout_ms") or 60000
        stdout, stderr = [], []
        timed_out = False
        async with trio.open_nursery() as nursery:
            process = await nursery.start(_spawn, command, self.home)

            async def pump(stream: Any, sink: list[str], kind: str) -> None:
                async for chunk in stream:  # one frame per chunk, as Node's 'data' events
                    text = chunk.decode("utf-8", "replace")
                    sink.append(text)
                    await self._progress(task["task_id"], kind, text)

            nursery.start_soon(pump, process.stdout, stdout, "stdout")
            nursery.start_soon(pump, process.stderr, stderr, "stderr")
            with trio.move_on_after(timeout_ms / 1000) as scope:
                await process.wait()
            if scope.cancelled_caught:
                timed_out = True
                process.kill()
        err = "".join(stderr)
        if timed_out:
            return False, "", f"Command timed out after {timeout_ms}ms"
        if process.returncode != 0:
            return False, "", f"Command exited with code {process.returncode}" + (
                f": {err[:500]}" if err else "")
        return True, "".join(stdout), ""

    async def _verify(self, task: dict[str, Any]) -> dict[str, Any]:
        timeout = task.get("verification_timeout_ms") or 120000
        base = {"task_id": task["task_id"], "run_number": 1, "started_at": int(time.time() * 1000),
                "timeout_ms": timeout}
        empty = {"total": 0, "passed": 0, "failed": 0, "errors": 0, "timed_out": 0}
        if task.get("skip_verification") is True:
            return {**base, "status": "skip", "duration_ms": 0, "checks": [], "summary": empty}
        steps = task.get("verification_steps") or []
        if not steps:
            return {**base, "status": "auto_pass", "duration_ms": 0, "checks": [], "summary": empty}
        checks = []
        for step in steps:
            started = time.monotonic()
            if step.get("type") in ("command_succeeds", "test_passes"):
                ok, out, err = await self._run_command(step["target"], {"task_id": task["task_id"],
                                                                        "metadata": {}})
                status, output = ("pass", out) if ok else ("fail", err)
            elif step.get("type") == "file_exists":
                found = (self.home / step["target"]).exists()
                status, output = ("pass", "") if found else ("fail", f"File not found: {step['target']}")
            else:
                status, output = "error", f"Unknown check type: {step.get('type')}"
            checks.append({"type": step.get("type"), "target": step.get("target"),
                           "description": step.get("description"), "status": status,
                           "output": output, "duration_ms": math.floor((time.monotonic() - started) * 1000)})
        summary = {"total": len(checks), "passed": sum(c["status"] == "pass" for c in checks),
                   "failed": sum(c["status"] == "fail" for c in checks),
                   "errors": sum(c["status"] == "error" for c in checks), "timed_out": 0}
        status = "error" if summary["errors"] else "fail" if summary["failed"] else "pass"
        return {**base, "status": status, "duration_ms": sum(c["duration_ms"] for c in checks),
                "checks": checks, "summary": summary}

    # ------------------------------------------------------------------ for tests

    def frames(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("type") == kind
                and all(m.get(k) == v for k, v in match.items())]

    def sent_frames(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == kind
                and all(m.get(k) == v for k, v in match.items())]

    async def wait_for(self, kind: str, timeout: float = 10.0, *, sent: bool = False,
                       **match: Any) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                found = (self.sent_frames if sent else self.frames)(kind, **match)
                if found:
                    return found[-1]
                await trio.sleep(0.01)


async def _messages(ws: WebSocketConnection):
    while True:
        try:
            yield await ws.get_message()
        except ConnectionClosed:
            return


async def _spawn(command: str, cwd: Path, *, task_status: trio.TaskStatus[Any]) -> None:
    process = await trio.lowlevel.open_process(["sh", "-c", command], cwd=cwd, stdout=-1, stderr=-1)
    try:
        task_status.started(process)
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
