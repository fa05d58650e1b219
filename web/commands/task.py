"""``agentdeck task add|list|show|retry|cancel``: give the hub work, and see and steer it.

``add`` writes the task file itself (the hub may be stopped); the others ask a running hub: ``list``
and ``show`` its JSON API, ``retry`` and ``cancel`` the dashboard socket (``/ws/dashboard``), the
same commands the dashboard's buttons send. A hub that asks for a dashboard token gets it as
``Authorization: Bearer`` (``--dashboard-token`` or ``$AGENTDECK_DASHBOARD_TOKEN``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import trio

if TYPE_CHECKING:
    import httpx

COMMAND_TIMEOUT = 15.0
RESULTS = {"retry_task": "retry_result", "cancel_task": "cancel_result"}
SUCCESS = {"retry_task": "requeued", "cancel_task": "cancelled"}


def add_task_parser(sub: argparse._SubParsersAction) -> None:
    task = sub.add_parser("task", help="add a task, or list, show, retry and cancel tasks")
    actions = task.add_subparsers(dest="task_action", required=True)
    add = actions.add_parser("add", help="write a new task into the inbox (the hub may be stopped)")
    add.add_argument("title")
    add.add_argument("--work", type=Path, default=Path("work"), help="work directory (default: ./work)")
    add.add_argument("--description", "-d", default=None)
    kind = add.add_mutually_exclusive_group()
    kind.add_argument("--shell", default=None, metavar="CMD", help="a shell command to run (trivial task)")
    kind.add_argument("--repo", default=None, metavar="PATH_OR_URL",
                      help="a git repository: the task runs in its own worktree on its own branch")
    add.add_argument("--branch", default=None, help="branch for --repo (default agentdeck/<task-id>)")
    add.add_argument("--base-branch", default=None, help="branch to start from (default: the repo's)")
    add.add_argument("--priority", "-p", default="medium", help="critical, high, medium or low")
    add.add_argument("--capabilities", default="", help="comma-separated capabilities an agent needs")
    add.add_argument("--depends-on", nargs="+", default=[], metavar="ID", help="task ids to finish first")
    add.add_argument("--verify", action="append", default=[], metavar="CMD",
                     help="a verification command run after the agent (repeatable)")
    add.add_argument("--executor", default=None,
                     help="claude, codex, ollama, shell or a command agent's name (default: by tier)")
    add.add_argument("--complexity", choices=("trivial", "standard", "complex"), default=None)
    add.add_argument("--max-retries", type=int, default=None)
    add.add_argument("--id", dest="task_id", default=None, help="task id (default: time and title)")
    for name, helptext in (("list", "tasks on the running hub's board"), ("show", "one task, all fields"),
                           ("retry", "send a dead-letter task back to the inbox"),
                           ("cancel", "cancel a waiting or running task")):
        action = actions.add_parser(name, help=helptext)
        if name != "list":
            action.add_argument("task_id")
        else:
            action.add_argument("--lane", choices=("inbox", "assigned", "done", "dead"), default=None)
            action.add_argument("--json", action="store_true", help="print the API's JSON")
        action.add_argument("--hub", default=os.environ.get("AGENTDECK_HUB", "http://127.0.0.1:8080"),
                            help="the hub's address (default: $AGENTDECK_HUB or http://127.0.0.1:8080)")
        action.add_argument("--dashboard-token", default=os.environ.get("AGENTDECK_DASHBOARD_TOKEN"))


def task_command(args: argparse.Namespace) -> int:
    """Run ``agentdeck task ...`` (the HTTP and socket clients are imported only here)."""
    import httpx
    from trio_websocket import HandshakeError

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise here
    try:
        if args.task_action == "add":
            return _add(args)
        if args.task_action == "list":
            return _list(args)
        if args.task_action == "show":
            return _show(args)
        return trio.run(_command, args, f"{args.task_action}_task")
    except httpx.HTTPStatusError as error:
        return _refused(args, error.response.status_code)
    except HandshakeError as error:
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            return _refused(args, status)
        print(f"agentdeck: cannot reach the hub at {args.hub}: {error}", file=sys.stderr)
        return 1
    except (httpx.HTTPError, OSError, trio.TooSlowError) as error:
        print(f"agentdeck: cannot reach the hub at {args.hub}: {error or 'no answer'}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"agentdeck: {error}", file=sys.stderr)
        return 2


def _refused(args: argparse.Namespace, status: int) -> int:
    hint = " (pass --dashboard-token or set $AGENTDECK_DASHBOARD_TOKEN)" if status in (401, 403) else ""
    print(f"agentdeck: the hub at {args.hub} answered HTTP {status}{hint}", file=sys.stderr)
    return 1


def _add(args: argparse.Namespace) -> int:
    from agentdeck.actors.config import HubConfig
    from agentdeck.web.commands.task_file import task_fields, write_new_task

    if args.repo and not args.repo.startswith(("http://", "https://", "ssh://", "git@")) and \
            not Path(args.repo).expanduser().is_dir():
        print(f"agentdeck: warning: {args.repo} is not a directory here (fine if the agent's machine has it)",
              file=sys.stderr)
    fields = task_fields(
        args.title, description=args.description, shell=args.shell, repo=args.repo,
        priority=args.priority, capabilities=[c.strip() for c in args.capabilities.split(",") if c.strip()],
        depends_on=args.depends_on, verify=args.verify, executor=args.executor, branch=args.branch,
        base_branch=args.base_branch, complexity=args.complexity, max_retries=args.max_retries,
        task_id=args.task_id)
    path = write_new_task(HubConfig(work_dir=args.work).board_dir, fields)
    print(path.stem)
    print(f"written to {path}", file=sys.stderr)
    return 0


def _headers(args: argparse.Namespace) -> dict[str, str]:
    return {"Authorization": f"Bearer {args.dashboard_token}"} if args.dashboard_token else {}


def _get(args: argparse.Namespace, path: str, **params: Any) -> httpx.Response:
    import httpx

    return httpx.get(args.hub.rstrip("/") + path, params={k: v for k, v in params.items() if v},
                     headers=_headers(args), timeout=COMMAND_TIMEOUT)


def _list(args: argparse.Namespace) -> int:
    response = _get(args, "/api/tasks", lane=args.lane)
    response.raise_for_status()
    board = response.json()
    if args.json:
        print(json.dumps(board, indent=2))
        return 0
    rows = list(board.get("inbox", [])) + [t for lane in ("assigned", "done") for group in
                                          board.get(lane, {}).values() for t in group] + list(board.get("dead", []))
    for task in rows:
        place = task["lane"] + (f"/{task['lane_agent']}" if task.get("lane_agent") else "")
        print(f"{place:<24} {task['status']:<10} {task['priority']:<8} {task['id']}  {task['title']}")
    for invalid in board.get("invalid", []):
        print(f"{'invalid':<24} {'':<10} {'':<8} {invalid.get('path')}  {invalid.get('error')}")
    return 0


def _show(args: argparse.Namespace) -> int:
    import yaml

    response = _get(args, "/api/tasks/" + quote(args.task_id, safe=""))
    if response.status_code == 404:
        print(f"agentdeck: no task {args.task_id!r} on the hub's board", file=sys.stderr)
        return 1
    response.raise_for_status()
    print(yaml.safe_dump(response.json(), sort_keys=False, allow_unicode=True), end="")
    return 0


async def _command(args: argparse.Namespace, kind: str) -> int:
    from trio_websocket import open_websocket_url

    url = args.hub.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    with trio.fail_after(COMMAND_TIMEOUT):
        headers = [(key.encode(), value.encode()) for key, value in _headers(args).items()]
        async with open_websocket_url(url + "/ws/dashboard", extra_headers=headers,
                                      max_message_size=64 * 1024 * 1024) as ws:
            await ws.send_message(json.dumps({"type": kind, "task_id": args.task_id}))
            while True:
                message = json.loads(await ws.get_message())
                if message.get("type") == "error" and message.get("request") == kind:
                    raise ValueError(message.get("message") or message.get("error"))
                if message.get("type") == RESULTS[kind] and message.get("task_id") == args.task_id:
                    status = message.get("status")
                    print(f"{args.task_id}: {status}")
                    return 0 if status == SUCCESS[kind] else 1
