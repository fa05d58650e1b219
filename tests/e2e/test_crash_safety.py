"""kill -9 the real hub at random moments while reference agents work through hundreds of tasks.

After every restart (agents frozen with SIGSTOP, so nothing moves while we look) the board must be
whole: every task file present exactly once, parseable, in a lane that agrees with its status, no
temp files, an empty journal, and the hub's API agreeing with the disk. Along the way some agents
are killed mid-task; their tasks must be reclaimed and finished by another agent. The run ends with
every task done. telemetry.db must stay intact and, after every restart, hold exactly one row per
attempt the task files record (rows lost in a kill are rebuilt from the files at start-up): the
run ends with exactly 300 completions counted.

The kill schedule comes from a seeded RNG: the seed is printed, and ``AGENTDECK_CRASH_SEED=N``
replays it (``AGENTDECK_CRASH_KILLS`` raises the number of kills for a longer run).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import socket
import sqlite3
import time
from pathlib import Path

import pytest
import yaml
from hub_process import AgentProcess, HubProcess

from agentdeck.actors.board.store import TMP_SUFFIX
from agentdeck.actors.board.taskfile import parse_task

TASKS = 300
SLOW_EVERY = 25  # every 25th task sleeps, so an agent can be caught (and killed) in the middle
MIN_KILLS = int(os.environ.get("AGENTDECK_CRASH_KILLS", "50"))
AGENTS = 4
AGENT_KILLS = 3
GRACE = 2.0
TIME_LIMIT = float(os.environ.get("AGENTDECK_CRASH_TIME_LIMIT", "300"))  # longer on a loaded machine
STATUS_OF_LANE = {"inbox": {None, "new", "queued"}, "assigned": {"assigned"}, "done": {"done"},
                  "dead": {"dead"}}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TIME_LIMIT + 60)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def task_name(number: int) -> str:
    return f"t-{number:03d}"


def is_slow(task_id: str) -> bool:
    return int(task_id[2:]) % SLOW_EVERY == 0


def seed_board(board: Path) -> None:
    for lane in ("inbox", "assigned", "done", "dead"):
        (board / lane).mkdir(parents=True, exist_ok=True)
    for number in range(TASKS):
        name = task_name(number)
        command = f"sleep 1.5; echo {number}" if is_slow(name) else f"echo {number}"
        (board / "inbox" / f"{name}.yaml").write_text(yaml.safe_dump(
            {"id": name, "title": f"task {number}", "shell_command": command,
             "complexity": "trivial", "created": f"2026-01-01T00:00:{number % 60:02d}Z"}))


def snapshot(board: Path) -> dict[str, tuple[str, str | None, dict]]:
    """task id -> (lane, lane agent, fields), failing on any duplicate, stray or unreadable file."""
    found: dict[str, tuple[str, str | None, dict]] = {}
    for path in sorted(board.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(board).as_posix()
        assert path.suffix == ".yaml", f"stray file on the board: {rel}"
        data = path.read_bytes()
        task = parse_task(rel, data, 0.0)  # raises on anything unparseable or misplaced
        fields = yaml.safe_load(data)
        assert path.stem == task.id, f"{rel} holds task {task.id}"
        assert task.id not in found, f"{task.id} twice: {found[task.id][:2]} and {rel}"
        status = fields.get("status")
        assert status in STATUS_OF_LANE[task.lane], f"{rel} has status {status!r}"
        found[task.id] = (task.lane, task.lane_agent, fields)
    return found


def check_disk(work: Path) -> dict[str, tuple[str, str | None, dict]]:
    board = work / "collaboration"
    tasks = snapshot(board)
    assert sorted(tasks) == [task_name(n) for n in range(TASKS)], "a task went missing"
    leftovers = [p.as_posix() for p in work.rglob(f"*{TMP_SUFFIX}")]
    assert leftovers == [], f"temp files left behind: {leftovers}"
    journal = work / ".agentdeck" / "journal"
    assert not journal.exists() or list(journal.iterdir()) == [], "journal not empty after recovery"
    return tasks


def lanes_in_api(listed: dict) -> dict[str, str]:
    assert listed["invalid"] == []
    seen: dict[str, str] = {}
    for lane in ("inbox", "dead"):
        seen.update({t["id"]: lane for t in listed[lane]})
    for lane in ("assigned", "done"):
        for agent_tasks in listed[lane].values():
            seen.update({t["id"]: lane for t in agent_tasks})
    return seen


def check_whole(work: Path, hub: HubProcess, settle: float = 15.0) -> dict[str, tuple[str, str | None, dict]]:
    """The disk is whole and the API agrees with it, read consistently.

    The agents are frozen, but the hub still writes: once the reconnect grace runs out it reclaims
    the tasks of agents that did not come back. So the disk is read between two API reads, and only
    a read during which the API did not change counts; a hub write in the middle means read again.
    A real defect (a lost task, a stray file, a disagreement) persists and fails after ``settle``.
    """
    def board() -> dict:
        listed = hub.get("/api/tasks").json()
        listed.pop("timestamp")  # when it was asked, not what the board holds
        return listed

    deadline = time.monotonic() + settle
    while True:
        before = board()
        try:
            tasks = check_disk(work)
            problem = None
        except (AssertionError, FileNotFoundError) as error:  # a file moved while it was read
            tasks, problem = {}, error
        after = board()
        if before == after:
            if problem is None:
                disk = {task_id: lane for task_id, (lane, _, _) in tasks.items()}
                if lanes_in_api(after) == disk:
                    return tasks
                problem = AssertionError("API and disk disagree")
            if time.monotonic() > deadline:
                raise problem
        elif time.monotonic() > deadline:
            moved = sorted(task_id for task_id in set(lanes_in_api(before)) | set(lanes_in_api(after))
                           if lanes_in_api(before).get(task_id) != lanes_in_api(after).get(task_id))
            raise AssertionError(f"the hub's board did not hold still for {settle:.0f} s with the agents "
                                 f"frozen; last moves: {moved[:10]}; other changes: "
                                 f"{sorted(k for k in before if before[k] != after.get(k))}; "
                                 f"the disk meanwhile: {problem or 'whole'}")
        time.sleep(0.1)


def done_count(board: Path) -> int:
    return len(list(board.glob("done/*/*.yaml")))


def recent_slow_assignment(board: Path, alive: dict[str, AgentProcess]) -> tuple[str, str] | None:
    """A slow task an agent started less than a second ago: killing that agent now is mid-task.
    (Read while the hub works, so a file may vanish under us: that is not an error here.)"""
    now = dt.datetime.now(dt.UTC)
    for path in board.glob("assigned/*/t-*.yaml"):
        agent = path.parent.name
        if agent not in alive or not is_slow(path.stem):
            continue
        try:
            fields = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            continue
        started = dt.datetime.fromisoformat(str(fields["assigned_at"]))
        if (now - started).total_seconds() < 1.0:
            return path.stem, agent
    return None


def telemetry_figures(db: Path) -> tuple[str, int, list]:
    with sqlite3.connect(db) as connection:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        completions = connection.execute(
            "SELECT count(*) FROM invocations WHERE status = 'success'").fetchone()[0]
        doubles = connection.execute(
            "SELECT task_id, count(*) FROM invocations WHERE status = 'success' "
            "GROUP BY task_id HAVING count(*) > 1").fetchall()
    return integrity, completions, doubles


def attempts_in_files(tasks: dict[str, tuple[str, str | None, dict]]) -> list[tuple[str, int, str]]:
    """(task, generation, status) of every attempt the files record: a done file's completion and
    each failed attempt (reclaims are not invocations)."""
    keys = []
    for task_id, (lane, _, fields) in tasks.items():
        keys += [(task_id, a["generation"], "error") for a in fields.get("attempts") or []
                 if a.get("outcome") == "failed"]
        if lane == "done":
            keys.append((task_id, fields["generation"], (fields.get("result") or {}).get("status")
                         or "success"))
    return sorted(keys)


def telemetry_rows(db: Path) -> list[tuple[str, int, str]]:
    try:
        with sqlite3.connect(db) as connection:
            return sorted(connection.execute(
                "SELECT task_id, generation, status FROM invocations").fetchall())
    except sqlite3.OperationalError:  # not created yet
        return []


def wait_for_telemetry(work: Path, tasks: dict[str, tuple[str, str | None, dict]]) -> int:
    """Wait (agents frozen, so the files hold still) until telemetry.db holds one row per attempt
    the files record, no more and no fewer; returns how many completions that is."""
    expected = attempts_in_files(tasks)
    deadline = time.monotonic() + 10.0
    while (rows := telemetry_rows(work / ".agentdeck" / "telemetry.db")) != expected:
        extra = sorted(set(rows) - set(expected)) + [r for r in set(rows) if rows.count(r) > 1]
        assert not extra, f"telemetry counts attempts the files do not record: {extra[:5]}"
        assert time.monotonic() < deadline, \
            f"telemetry lacks {sorted(set(expected) - set(rows))[:5]} ({len(rows)}/{len(expected)} rows)"
        time.sleep(0.1)
    return sum(1 for _, _, status in expected if status != "error")


def test_kill_9_at_random_moments_loses_no_task(tmp_path: Path) -> None:
    seed = int(os.environ.get("AGENTDECK_CRASH_SEED", random.SystemRandom().randrange(2**31)))
    print(f"\ncrash test seed {seed} (replay: AGENTDECK_CRASH_SEED={seed})")
    rng = random.Random(seed)
    work = tmp_path / "work"
    board = work / "collaboration"
    seed_board(board)
    logs = tmp_path / "logs"
    # retries at once, so the board holds still while the agents are frozen for a check
    hub = HubProcess(work, port=free_port(), logs=logs,
                     args=("--reconnect-grace", str(GRACE), "--retry-backoff", "0"))
    hub.start()
    alive = {f"a{i}": AgentProcess(hub.ws_url, f"a{i}", logs) for i in range(AGENTS)}
    gone: list[AgentProcess] = []
    killed_mid_task: dict[str, str] = {}  # task id -> the agent killed while running it
    kills = early_kills = 0
    started = time.monotonic()
    try:
        while True:
            if kills >= MIN_KILLS:
                break
            time.sleep(rng.uniform(0.05, 0.6))
            if len(killed_mid_task) < AGENT_KILLS:
                victim = recent_slow_assignment(board, alive)
                if victim is not None:
                    task_id, agent_id = victim
                    alive[agent_id].kill()
                    gone.append(alive.pop(agent_id))
                    killed_mid_task[task_id] = agent_id
                    # a name of its own: the same task caught twice must not reuse one, or the
                    # older agent would drop out of ``alive``, never be frozen, and work on
                    fresh = f"r{len(gone)}"
                    alive[fresh] = AgentProcess(hub.ws_url, fresh, logs)
            hub.kill()
            for agent in alive.values():
                agent.pause()
            kills += 1
            if rng.random() < 0.15:  # sometimes again while it starts up (recovery half done)
                hub.spawn()
                time.sleep(rng.uniform(0.0, 0.7))
                hub.kill()
                kills += 1
                early_kills += 1
            hub.start()
            try:
                wait_for_telemetry(work, check_whole(work, hub))
            except AssertionError as error:
                raise AssertionError(f"seed {seed}, after kill {kills}: {error}") from None
            for agent in alive.values():
                agent.resume()
        done_at_last_kill = done_count(board)
        while done_count(board) < TASKS:  # no more kills: the rest must simply get done
            assert time.monotonic() - started < TIME_LIMIT, \
                f"seed {seed}: only {done_count(board)} of {TASKS} done after {kills} kills"
            time.sleep(0.2)
        final = check_whole(work, hub)
        assert wait_for_telemetry(work, final) == TASKS
    finally:
        for agent in [*alive.values(), *gone]:
            agent.stop()
        hub.stop()

    assert all(lane == "done" for lane, _, _ in final.values())
    assert len(killed_mid_task) >= 1, f"seed {seed}: never caught an agent mid-task"
    for task_id, agent_id in killed_mid_task.items():
        _, finisher, fields = final[task_id]
        assert finisher != agent_id, f"{task_id} was finished by the agent killed while running it"
        outcomes = [(a.get("agent"), a["outcome"]) for a in fields["attempts"]]
        assert (agent_id, "reclaimed") in outcomes, outcomes
    repairs = len(re.findall(r"recovery: ", hub.log_text()))
    rebuilt = sum(int(n) for n in re.findall(r"telemetry: (\d+) finished attempt", hub.log_text()))
    integrity, completions, doubles = telemetry_figures(work / ".agentdeck" / "telemetry.db")
    assert integrity == "ok"
    assert doubles == [], f"completions counted twice: {doubles}"
    assert completions == TASKS
    print(f"kills {kills} (during start-up {early_kills}), done when the kills stopped {done_at_last_kill}, "
          f"repairs logged {repairs}, agents killed "
          f"mid-task {len(killed_mid_task)}, telemetry completions {completions}/{TASKS} "
          f"({rebuilt} row(s) rebuilt from the files at restarts), "
          f"{time.monotonic() - started:.0f} s")
