"""Coding-agent overheads, each beside a floor measured in the same run.

1. Claude Code stream reading: stream-json lines (text deltas, tool calls, tool results) through
   ``ClaudeStream`` into the output batcher, against the floor of ``json.loads`` on the same lines.
2. A task's worktree: create it, commit one file, summarise (commits, numstat, diff) and remove it,
   against the floor of the same number of ``git`` processes doing nothing (``git --version``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from agentdeck.actors.reference_agent.claude_code import ClaudeStream
from agentdeck.actors.reference_agent.output import OutputBatcher
from agentdeck.actors.reference_agent.workspace import open_workspace, remove, summarize

LINES = 200_000
WORKTREES = 20


def stream_lines(count: int) -> list[str]:
    envelope = {"session_id": "s", "parent_tool_use_id": None, "uuid": "u"}
    delta = json.dumps({"type": "stream_event", "event": {"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": "word "}}, **envelope})
    tool = json.dumps({"type": "assistant", "message": {"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "pytest -q tests/unit"}}]},
        **envelope})
    result = json.dumps({"type": "user", "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": "ok\n" * 40, "is_error": False}]}, **envelope})
    pattern = [delta] * 8 + [tool, result]
    return [pattern[i % len(pattern)] for i in range(count)]


def bench_stream() -> tuple[float, float]:
    lines = stream_lines(LINES)

    async def emit(event):
        pass

    batcher = OutputBatcher(emit)
    stream = ClaudeStream(batcher)
    start = time.perf_counter()
    for line in lines:
        stream.line(line)
        if batcher.pending_chars > 256 * 1024:
            batcher.pending, batcher.pending_chars = [], 0
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for line in lines:
        json.loads(line)
    floor = time.perf_counter() - start
    return LINES / ours, LINES / floor


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


async def bench_worktrees(root: Path) -> tuple[list[float], list[float], int]:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for i in range(200):
        (repo / f"f{i}.txt").write_text("x\n" * 50)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "-m", "init")
    ours, floors = [], []
    for i in range(WORKTREES):
        start = time.perf_counter()
        ws = await open_workspace(str(repo), f"task-{i}", root=root / "agent", base_dir=root)
        Path(ws.path, "new.txt").write_text(f"{i}\n")
        await summarize(ws, commit_message=f"task {i}")
        await remove(ws)
        ours.append(time.perf_counter() - start)
    processes = 17  # git runs per worktree in workspace.py: 7 to open, 8 to commit and summarise, 2 to remove
    for _ in range(WORKTREES):
        start = time.perf_counter()
        for _ in range(processes):
            await trio.run_process(["git", "--version"], capture_stdout=True)
        floors.append(time.perf_counter() - start)
    return ours, floors, processes


def main() -> None:
    ours, floor = bench_stream()
    print(f"claude stream-json: {ours:,.0f} lines/s; floor json.loads alone {floor:,.0f} lines/s "
          f"(ratio {floor / ours:.2f}x)")
    with tempfile.TemporaryDirectory() as tmp:
        spans, floors, processes = trio.run(bench_worktrees, Path(tmp))
    p50, floor50 = statistics.median(spans), statistics.median(floors)
    print(f"worktree create + commit + summary + remove, 200-file repo: p50 {p50 * 1000:.0f} ms, "
          f"max {max(spans) * 1000:.0f} ms; floor {processes} x `git --version` p50 {floor50 * 1000:.0f} ms "
          f"(ratio {p50 / floor50:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())
