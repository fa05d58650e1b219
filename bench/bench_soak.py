"""Soak: steady execution events through a real hub process for a long time; RSS and fds must stay flat.

    python bench/bench_soak.py [--duration 60] [--rate 1000] [--agents 4] [--sse 2]

A hub runs as a child process (loopback, a temp work dir). ``--agents`` protocol agents each take a
long shell task and stream ``task_progress`` execution events at ``rate / agents`` per second (under
the per-connection rate limit); ``--sse`` dashboard clients read ``/events`` the whole time, so
every event crosses the whole pipeline (bus, execution log, broadcaster, SSE). Every 10 s the hub's
RSS and open file descriptors are sampled; the figures at the end are what docs/benchmarks.md records.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio
import yaml
from trio_websocket import open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hub_process import HubProcess


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def agent(url: str, agent_id: str, rate: float, until: float, sent: list[int]) -> None:
    async with open_websocket_url(url) as ws:
        await ws.send_message(json.dumps({"type": "identify", "agent_id": agent_id, "token": None}))
        task_id = None
        while task_id is None:
            message = json.loads(await ws.get_message())
            if message["type"] == "task_assign":
                task_id = message["task_id"]
        await ws.send_message(json.dumps({"type": "task_accepted", "task_id": task_id}))

        async def drain() -> None:
            while True:
                await ws.get_message()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain)
            start, count = trio.current_time(), 0
            while trio.current_time() < until:
                due = int((trio.current_time() - start) * rate)
                while count < due:
                    count += 1
                    await ws.send_message(json.dumps({
                        "type": "task_progress", "task_id": task_id,
                        "execution_event": {"event_type": "stdout", "text": f"line {count} of {agent_id}",
                                            "timestamp": time.time()}}))
                await trio.sleep(0.01)
            sent[0] += count
            nursery.cancel_scope.cancel()


async def sse_reader(base_url: str, until: float, received: list[int]) -> None:
    async with httpx.AsyncClient(timeout=None) as client:
        with trio.move_on_at(until):
            async with client.stream("GET", base_url + "/events") as response:
                async with contextlib.aclosing(response.aiter_bytes()) as chunks:
                    async for chunk in chunks:
                        received[0] += len(chunk)


async def sampler(hub: HubProcess, until: float, samples: list[tuple[float, int, int]]) -> None:
    start = trio.current_time()
    while trio.current_time() < until:
        samples.append((trio.current_time() - start, hub.rss_kib(), fd_count(hub.proc.pid)))
        await trio.sleep(10)


async def soak(hub: HubProcess, args: argparse.Namespace) -> dict:
    until = trio.current_time() + args.duration
    sent, received, samples = [0], [0], []
    async with trio.open_nursery() as nursery:
        for _ in range(args.sse):
            nursery.start_soon(sse_reader, hub.base_url, until + 1, received)
        for index in range(args.agents):
            nursery.start_soon(agent, hub.ws_url, f"soak-{index}", args.rate / args.agents, until, sent)
        await trio.sleep(2)  # connected and working before the first sample
        nursery.start_soon(sampler, hub, until, samples)
    samples.append((args.duration, hub.rss_kib(), fd_count(hub.proc.pid)))
    return {"sent": sent[0], "sse_bytes": received[0], "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of steady traffic")
    parser.add_argument("--rate", type=float, default=1000.0, help="execution events per second, all agents")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--sse", type=int, default=2, help="dashboard clients reading /events")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentdeck-soak-") as tmp:
        work = Path(tmp) / "work"
        inbox = work / "collaboration" / "inbox"
        inbox.mkdir(parents=True)
        for index in range(args.agents):
            (inbox / f"long-{index}.yaml").write_text(yaml.safe_dump(
                {"title": f"long task {index}", "shell_command": "sleep 86400", "complexity": "trivial"}))
        hub = HubProcess(work, args=("--log-level", "WARNING"))
        hub.start()
        try:
            result = trio.run(soak, hub, args)
            health = hub.get("/health").json()
        finally:
            hub.stop()
    samples = result["samples"]
    (_, rss0, fd0), (_, rss1, fd1) = samples[0], samples[-1]
    rss_max = max(s[1] for s in samples)
    print(f"duration {args.duration:.0f} s, {args.agents} agents, {args.sse} SSE clients")
    print(f"execution events sent {result['sent']} ({result['sent'] / args.duration:.0f}/s), "
          f"SSE bytes received {result['sse_bytes']}")
    print(f"hub RSS start {rss0 / 1024:.1f} MiB, end {rss1 / 1024:.1f} MiB, max {rss_max / 1024:.1f} MiB")
    print(f"hub open fds start {fd0}, end {fd1}, max {max(s[2] for s in samples)}")
    print(f"health at the end: {health.get('status')}, actor restarts "
          f"{sum(a.get('restarts', 0) for a in health.get('actors', []))}")
    print("samples (s, RSS KiB, fds):", [(round(t), r, f) for t, r, f in samples])


if __name__ == "__main__":
    main()
