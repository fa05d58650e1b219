"""Task moves through the real hub: how many per second, against the file system's floor.

    python bench/bench_moves.py [--agents 50] [--tasks 2000]

A hub runs as a child process (loopback, a temp work dir seeded with ``--tasks`` tasks in the
inbox). ``--agents`` protocol agents complete every task they are given at once, so each task is
two moves through the queue (inbox -> assigned/<agent>, assigned/<agent> -> done/<agent>), each
journalled and durable before the agent hears of it. Timed: the middle 80 % of the completions
(start-up and the tail left out); the hub's CPU from /proc over the same window.

In the same run, on the same disk, the same moves (same file sizes, same folders) are made by two
loops with nothing else around them:
- floor: group commit, nothing else: per batch of ``--agents`` moves one journal write + fsync,
  the renames, one fsync per folder touched;
- per-move fsync (how the hub moved files before group commit): per move a journal write + fsync,
  the new file written + fsynced + renamed, the source removed, each folder fsynced.
Printed: moves/s of each, and hub / floor as a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import trio
import yaml
from trio_websocket import open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hub_process import HubProcess

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def task_text(index: int) -> str:
    return yaml.safe_dump({"id": f"move-{index:05d}", "title": f"move task {index}",
                           "description": "a task that is done as soon as it is given " * 4,
                           "shell_command": f"echo {index}", "complexity": "trivial",
                           "created": "2026-01-01T00:00:00Z"})


def seed(board: Path, tasks: int) -> None:
    inbox = board / "inbox"
    inbox.mkdir(parents=True)
    for index in range(tasks):
        (inbox / f"move-{index:05d}.yaml").write_text(task_text(index))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def agent(url: str, agent_id: str, done: list[float], total: int, finished: trio.Event,
                on_done: Callable[[int], None], busy: list[str]) -> None:
    last = ""
    resent: set[str] = set()
    async with open_websocket_url(url) as ws:
        await ws.send_message(json.dumps({"type": "identify", "agent_id": agent_id, "token": None}))
        while not finished.is_set():
            message = json.loads(await ws.get_message())
            if message["type"] == "task_assign":
                last = json.dumps({
                    "type": "task_complete", "task_id": message["task_id"],
                    "generation": message["generation"],
                    "result": {"status": "success", "output": "ok", "model_used": "shell"}})
                await ws.send_message(last)
            elif message["type"] == "error" and message.get("error") == "hub_busy":
                busy.append(agent_id)  # the hub did not answer within 5 s: say it again
                resent.add(json.loads(last)["task_id"])
                await ws.send_message(last)
            elif message["type"] == "task_ack" and (message.get("status") == "complete" or (
                    message.get("status") == "stale" and message["task_id"] in resent)):
                # stale: the first of two sends was done after all, late (the hub said hub_busy)
                done.append(time.perf_counter())
                on_done(len(done))
                if len(done) >= total:
                    finished.set()
            elif message["type"] == "error":
                raise RuntimeError(f"{agent_id}: {message}")


async def drive(hub: HubProcess, agents: int, tasks: int, pid: int) -> tuple[float, float, int]:
    """(moves/s, CPU seconds of the hub per move, hub_busy answers) over the middle 80 % of the
    completions."""
    done: list[float] = []
    busy: list[str] = []
    finished = trio.Event()
    cpu: dict[int, float] = {}
    first, last = tasks // 10, tasks - tasks // 10

    def on_done(count: int) -> None:
        if count in (first, last):
            cpu[count] = cpu_seconds(pid)

    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            for index in range(agents):
                nursery.start_soon(agent, hub.ws_url, f"mover-{index:03d}", done, tasks, finished, on_done,
                                   busy)
            await finished.wait()
            nursery.cancel_scope.cancel()
    moves = 2 * (last - first)
    elapsed = done[last - 1] - done[first - 1]
    return moves / elapsed, (cpu[last] - cpu[first]) / moves, len(busy)


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(path: Path, data: bytes, sync: bool) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        if sync:
            handle.flush()
            os.fsync(handle.fileno())


def lane_moves(tasks: int, agents: int) -> list[tuple[str, str, bytes]]:
    """The hub's moves in the hub's order: each task assigned to an agent, then done by it."""
    moves = []
    for index in range(tasks):
        name, owner = f"move-{index:05d}.yaml", f"mover-{index % agents:03d}"
        moves.append((f"inbox/{name}", f"assigned/{owner}/{name}", task_text(index).encode() + b"x" * 200))
        moves.append((f"assigned/{owner}/{name}", f"done/{owner}/{name}", task_text(index).encode() + b"y" * 400))
    return moves


def floor_group(root: Path, moves: list[tuple[str, str, bytes]], batch_size: int) -> float:
    journal = root / "journal"
    journal.mkdir()
    start = time.perf_counter()
    for at in range(0, len(moves), batch_size):
        batch = moves[at:at + batch_size]
        staged = []
        for src, dst, data in batch:
            target = root / dst
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            write(tmp, data, sync=False)
            staged.append((root / src, target, tmp))
        entry = journal / f"{at:08d}.jsonl"
        write(entry, b"".join(json.dumps([s, d, x.decode()]).encode() + b"\n" for s, d, x in batch), sync=True)
        fsync_path(journal)
        folders = set()
        for src, target, tmp in staged:
            os.replace(tmp, target)
            src.unlink()
            folders.update((src.parent, target.parent))
        for folder in folders:
            fsync_path(folder)
        entry.unlink()
    return len(moves) / (time.perf_counter() - start)


def per_move_fsync(root: Path, moves: list[tuple[str, str, bytes]]) -> float:
    journal = root / "journal"
    journal.mkdir()
    start = time.perf_counter()
    for src, dst, data in moves:
        entry = journal / f"{uuid.uuid4().hex}.json"
        write(entry, json.dumps([src, dst, data.decode()]).encode(), sync=True)
        fsync_path(journal)
        target = root / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        write(tmp, data, sync=True)
        os.replace(tmp, target)
        fsync_path(target.parent)
        (root / src).unlink()
        fsync_path((root / src).parent)
        entry.unlink()
    return len(moves) / (time.perf_counter() - start)


def floors(workdir: Path, tasks: int, agents: int, peer_tasks: int) -> tuple[float, float]:
    group_root, peer_root = workdir / "floor-group", workdir / "floor-per-move"
    seed(group_root, tasks)
    seed(peer_root, peer_tasks)
    group = floor_group(group_root, lane_moves(tasks, agents), agents)
    peer = per_move_fsync(peer_root, lane_moves(peer_tasks, agents))
    return group, peer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--peer-tasks", type=int, default=300, help="tasks moved by the per-move fsync loop")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}; {args.agents} agents, {args.tasks} tasks "
          f"({2 * args.tasks} moves) per run")
    hub_rates, cpu_per_move, group_rates, peer_rates = [], [], [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="agentdeck-moves-", dir=os.environ.get("TMPDIR")) as tmp:
            group, peer = floors(Path(tmp), args.tasks, args.agents, args.peer_tasks)
            work = Path(tmp) / "work"
            seed(work / "collaboration", args.tasks)
            hub = HubProcess(work, args=("--log-level", "WARNING"))
            hub.start(timeout=90)
            try:
                assert hub.proc is not None
                rate, cpu, busy = trio.run(drive, hub, args.agents, args.tasks, hub.proc.pid)
            finally:
                hub.stop()
            done = len(list((work / "collaboration" / "done").glob("*/*.yaml")))
            assert done == args.tasks, f"{done} of {args.tasks} tasks in done/"
        hub_rates.append(rate)
        cpu_per_move.append(cpu)
        group_rates.append(group)
        peer_rates.append(peer)
        print(f"run {run + 1}: hub {rate:,.0f} moves/s ({cpu * 1000:.2f} ms hub CPU per move, {busy} hub_busy); "
              f"floor (group commit, nothing else) {group:,.0f} moves/s; per-move fsync {peer:,.0f} moves/s; "
              f"hub / floor {rate / group:.2f}, hub / per-move {rate / peer:.1f}x")
    hub_rate, group, peer = (statistics.median(r) for r in (hub_rates, group_rates, peer_rates))
    print(f"median: hub {hub_rate:,.0f} moves/s ({statistics.median(cpu_per_move) * 1000:.2f} ms CPU per move), "
          f"floor {group:,.0f}, per-move fsync {peer:,.0f}; hub / floor {hub_rate / group:.2f}; "
          f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
