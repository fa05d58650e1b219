"""A fleet under load: several hub processes, many simulated agents, one Redis, one PostgreSQL, and the
fleet view; then Redis and PostgreSQL are each killed for a while and started again.

    python bench/bench_fleet.py [--hubs 3] [--agents 50] [--rate 5] [--phase 20] [--outage 10]

Each hub is a child process (``agentdeck serve --broker ... --telemetry-db ...``) on its own board;
``--agents`` protocol agents per hub (in this process) take every task and complete it at once with a
small priced result; a feeder writes ``--rate`` tasks per second into each inbox. The fleet view
(``agentdeck fleet``) is a child process too. Measured:

- fleet view update latency: a probe file dropped into a hub's ``dead/`` lane (no agent touches it),
  timed until ``GET /api/fleet`` on the fleet shows that hub's dead count go up (polled every 10 ms);
  the floor, in the same run, is a bare XADD -> XREAD BLOCK round trip through the same Redis;
- telemetry write rate per hub and overall (rows in PostgreSQL per second over the phase);
- each outage: the most events/rows a hub held, how long the fleet took to show every hub up again
  after the restart, and at the end whether PostgreSQL holds exactly one row per finished task
  (per hub: rows == the hub's done lane) and no hub dropped an event.

Redis runs without persistence (``--save ''``): a restart comes back empty, as after a crash.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
import trio
from trio_websocket import open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hub_process import REPO, HubProcess, _child_env
from services import PostgresServer, RedisServer, free_port


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


class Tally:
    def __init__(self, hubs: list[str]) -> None:
        self.completed = dict.fromkeys(hubs, 0)
        self.fed = dict.fromkeys(hubs, 0)
        self.errors: list[str] = []
        self.latency: list[float] = []
        self.hub_latency: list[float] = []  # the peer: the same change seen on the hub's own snapshot
        self.peak_events = dict.fromkeys(hubs, 0)
        self.peak_rows = dict.fromkeys(hubs, 0)


async def agent(url: str, hub: str, agent_id: str, tally: Tally, stop: trio.Event) -> None:
    try:
        async with open_websocket_url(url) as ws:
            await ws.send_message(json.dumps({"type": "identify", "agent_id": agent_id, "token": None}))
            async with trio.open_nursery() as nursery:
                async def until_stop() -> None:
                    await stop.wait()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(until_stop)
                while True:
                    message = json.loads(await ws.get_message())
                    if message.get("type") != "task_assign":
                        continue
                    task_id, generation = message["task_id"], message["generation"]
                    await ws.send_message(json.dumps({"type": "task_accepted", "task_id": task_id}))
                    await ws.send_message(json.dumps({
                        "type": "task_complete", "task_id": task_id, "generation": generation,
                        "result": {"status": "success", "output": "ok", "model_used": "claude-sonnet-4-5",
                                   "tokens_in": 1000, "tokens_out": 200, "execution_ms": 50}}))
                    tally.completed[hub] += 1
    except Exception as error:
        tally.errors.append(f"{agent_id}: {type(error).__name__}: {error}")


async def feeder(board: Path, hub: str, rate: float, tally: Tally, stop: trio.Event) -> None:
    inbox = board / "inbox"
    while not stop.is_set():
        n = tally.fed[hub]
        (inbox / f"t{n:06}.yaml").write_text(f"id: t{n:06}\ntitle: load {n}\npriority: medium\n")
        tally.fed[hub] += 1
        await trio.sleep(1 / rate)


async def fleet_snapshot(client: httpx.AsyncClient, fleet_url: str) -> dict[str, Any]:
    return (await client.get(fleet_url + "/api/fleet")).json()


async def probe_latency(boards: dict[str, Path], hub_urls: dict[str, str], fleet_url: str, tally: Tally,
                        until: float) -> None:
    """Drop a file in a hub's dead lane; time until the hub's own snapshot, and the fleet, count it."""
    async with httpx.AsyncClient(timeout=5) as client:
        n = 0
        while trio.current_time() < until:
            hub = sorted(boards)[n % len(boards)]
            before = {h["hub"]: h["lanes"]["dead"] for h in (await fleet_snapshot(client, fleet_url))["hubs"]}
            (boards[hub] / "dead" / f"probe-{n}.yaml").write_text(f"id: probe-{n}\ntitle: probe\n")
            started = time.perf_counter()
            seen_by_hub = None
            while time.perf_counter() - started < 10:
                if seen_by_hub is None:
                    state = (await client.get(hub_urls[hub] + "/api/dashboard/state")).json()
                    if state["queue"]["by_status"]["dead"] > before.get(hub, 0):
                        seen_by_hub = time.perf_counter() - started
                shown = {h["hub"]: h["lanes"]["dead"] for h in (await fleet_snapshot(client, fleet_url))["hubs"]}
                if shown.get(hub, 0) > before.get(hub, 0):
                    tally.latency.append(time.perf_counter() - started)
                    tally.hub_latency.append(seen_by_hub if seen_by_hub is not None else tally.latency[-1])
                    break
                await trio.sleep(0.01)
            else:
                tally.errors.append(f"probe {n} on {hub} never showed")
            n += 1
            await trio.sleep(0.5)


def redis_floor(url: str, samples: int = 200) -> list[float]:
    """Bare XADD -> XREAD BLOCK latency through the same Redis (two clients, two threads)."""
    reader, writer = redis.Redis.from_url(url), redis.Redis.from_url(url)
    key, times = "bench:floor", []
    for _ in range(samples):
        last = writer.xadd(key, {"t": "0"}, maxlen=100)
        box: list[float] = []

        def read(after: bytes = last, box: list[float] = box) -> None:
            reader.xread({key: after}, block=2000, count=1)
            box.append(time.perf_counter())

        thread = threading.Thread(target=read)
        thread.start()
        time.sleep(0.005)
        sent = time.perf_counter()
        writer.xadd(key, {"t": "1"}, maxlen=100)
        thread.join()
        times.append(box[0] - sent)
    writer.delete(key)
    return times


def rows_per_hub(pg_url: str) -> dict[str, int]:
    with psycopg.connect(pg_url) as conn:
        return dict(conn.execute("SELECT hub, count(*) FROM invocations GROUP BY hub").fetchall())


async def watch_health(hubs: dict[str, HubProcess], tally: Tally, until: float) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        while trio.current_time() < until:
            for name, hub in hubs.items():
                try:
                    health = (await client.get(hub.base_url + "/health")).json()
                except httpx.HTTPError as error:
                    tally.errors.append(f"{name} /health: {type(error).__name__}")
                    continue
                tally.peak_events[name] = max(tally.peak_events[name], health["broker"]["pending_events"])
                tally.peak_rows[name] = max(tally.peak_rows[name], health["telemetry"]["pending_writes"])
            await trio.sleep(0.25)


async def all_up_after(fleet_url: str, count: int, limit: float = 60) -> float:
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=5) as client:
        while time.perf_counter() - started < limit:
            try:
                snapshot = await fleet_snapshot(client, fleet_url)
                if snapshot["broker"]["connected"] and snapshot["up"] == count:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            await trio.sleep(0.05)
    return float("inf")


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="agentdeck-bench-fleet-"))
    redis_server, pg = RedisServer().start(), PostgresServer().init().start()
    pg_url = pg.create_database()
    names = [f"hub-{n + 1}" for n in range(args.hubs)]
    hubs: dict[str, HubProcess] = {}
    fleet_proc = None
    try:
        for name in names:
            work = scratch / name
            (work / "collaboration" / "inbox").mkdir(parents=True)
            (work / "collaboration" / "dead").mkdir(parents=True)
            hubs[name] = HubProcess(work, logs=work / "logs", args=(
                "--broker", redis_server.url, "--telemetry-db", pg_url, "--hub-id", name))
            await trio.to_thread.run_sync(hubs[name].start)
        fleet_port = free_port()
        fleet_log = open(scratch / "fleet.log", "wb")  # noqa: SIM115  (open for the whole run)
        fleet_proc = subprocess.Popen(
            [sys.executable, "-m", "agentdeck.web.cli", "fleet", "--broker", redis_server.url,
             "--telemetry-db", pg_url, "--port", str(fleet_port), "--log-level", "WARNING"],
            cwd=REPO, stdout=fleet_log, stderr=subprocess.STDOUT, env=_child_env(None))
        fleet_url = f"http://127.0.0.1:{fleet_port}"
        load = Path("/proc/loadavg").read_text().split()[0]
        print(f"machine: 2 cores shared (load average {load}); {args.hubs} hubs x {args.agents} agents, "
              f"{args.rate} tasks/s per hub")
        floor = await trio.to_thread.run_sync(redis_floor, redis_server.url)
        print(f"floor: bare XADD -> XREAD BLOCK through this Redis p50 {pct(floor, .5) * 1000:.2f} ms, "
              f"p95 {pct(floor, .95) * 1000:.2f} ms")
        print(f"fleet up after start: {await all_up_after(fleet_url, args.hubs):.2f} s")
        tally = Tally(names)
        stop = trio.Event()
        boards = {name: hub.work / "collaboration" for name, hub in hubs.items()}
        async with trio.open_nursery() as nursery:
            for name, hub in hubs.items():
                for index in range(args.agents):
                    nursery.start_soon(agent, hub.ws_url, name, f"{name}-agent-{index}", tally, stop)
            await trio.sleep(2.0)
            for name in names:
                nursery.start_soon(feeder, boards[name], name, args.rate, tally, stop)
            end = trio.current_time() + args.phase + 2 * (args.outage + 15)
            nursery.start_soon(watch_health, hubs, tally, end)

            # ---- steady state
            rows_before, t0 = await trio.to_thread.run_sync(rows_per_hub, pg_url), time.perf_counter()
            hub_urls = {name: hub.base_url for name, hub in hubs.items()}
            await probe_latency(boards, hub_urls, fleet_url, tally, trio.current_time() + args.phase)
            rows_after, t1 = await trio.to_thread.run_sync(rows_per_hub, pg_url), time.perf_counter()
            rates = {n: (rows_after.get(n, 0) - rows_before.get(n, 0)) / (t1 - t0) for n in names}
            print(f"fleet view update latency ({len(tally.latency)} probes): p50 "
                  f"{pct(tally.latency, .5) * 1000:.0f} ms, p95 {pct(tally.latency, .95) * 1000:.0f} ms, "
                  f"max {max(tally.latency, default=float('nan')) * 1000:.0f} ms "
                  f"({pct(tally.latency, .5) / max(pct(floor, .5), 1e-6):.0f}x the floor's p50); the same change "
                  f"on the hub's own snapshot p50 {pct(tally.hub_latency, .5) * 1000:.0f} ms, p95 "
                  f"{pct(tally.hub_latency, .95) * 1000:.0f} ms")
            print("telemetry writes: " + ", ".join(f"{n} {r:.1f} rows/s" for n, r in rates.items())
                  + f"; overall {sum(rates.values()):.1f} rows/s")

            # ---- Redis down for --outage seconds
            for peak in (tally.peak_events, tally.peak_rows):
                peak.update(dict.fromkeys(names, 0))
            redis_server.kill()
            await trio.sleep(args.outage)
            redis_server.start()
            back = await all_up_after(fleet_url, args.hubs)
            print(f"Redis killed for {args.outage:.0f} s: hubs held up to "
                  f"{max(tally.peak_events.values())} events; fleet showed every hub up {back:.2f} s after "
                  f"the restart")

            # ---- PostgreSQL down for --outage seconds
            pg.kill()
            await trio.sleep(args.outage)
            await trio.to_thread.run_sync(pg.start)
            started = time.perf_counter()
            print(f"PostgreSQL serving again at {time.strftime('%H:%M:%S')} (hub logs: {scratch}/*/logs)")
            recovered: dict[str, float] = {}
            async with httpx.AsyncClient(timeout=5) as client:
                # a hub has written what it held once a write succeeds again (its error clears); under
                # load new rows keep arriving, so "nothing pending" is not the test
                while len(recovered) < len(hubs) and time.perf_counter() - started < 60:
                    for name, hub in hubs.items():
                        if name not in recovered and (await client.get(hub.base_url + "/health")).json()[
                                "telemetry"]["error"] is None:
                            recovered[name] = time.perf_counter() - started
                    await trio.sleep(0.05)
            print(f"PostgreSQL killed for {args.outage:.0f} s: hubs held up to {max(tally.peak_rows.values())} "
                  f"rows; each hub wrote them {min(recovered.values(), default=float('nan')):.2f}-"
                  f"{max(recovered.values(), default=float('nan')):.2f} s after the restart")
            stop.set()
        await trio.sleep(3.0)  # the last completions reach the board and the database
        async with httpx.AsyncClient(timeout=10) as client:
            done, dropped = {}, {}
            for name, hub in hubs.items():
                state = (await client.get(hub.base_url + "/api/dashboard/state")).json()
                done[name] = state["queue"]["by_status"]["done"]
                dropped[name] = (await client.get(hub.base_url + "/health")).json()["broker"]["dropped"]
        rows = await trio.to_thread.run_sync(rows_per_hub, pg_url)
        print(f"finished tasks per hub {done}; rows in PostgreSQL {rows}; events dropped {dropped}")
        print("NOTHING LOST" if rows == done and not any(dropped.values()) else "MISMATCH")
        print(f"tasks fed {sum(tally.fed.values())}, completed by agents {sum(tally.completed.values())}; "
              f"errors: {len(tally.errors)} {tally.errors[:5]}")
    finally:
        if fleet_proc is not None:
            fleet_proc.terminate()
            fleet_proc.wait(10)
        for hub in hubs.values():
            hub.stop()
        redis_server.stop()
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hubs", type=int, default=3)
    parser.add_argument("--agents", type=int, default=50, help="agents per hub")
    parser.add_argument("--rate", type=float, default=5.0, help="tasks per second into each hub's inbox")
    parser.add_argument("--phase", type=float, default=20.0, help="seconds of steady load measured")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds Redis, then PostgreSQL, stay down")
    trio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
