"""The ``agentdeck`` command: serve the hub, manage agent tokens, run the reference agent, give work."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import resource
import secrets
import signal
import sys
from pathlib import Path

import attrs
import trio

from agentdeck.actors.board.hub_lock import BoardLocked, HubLock
from agentdeck.actors.config import HUB_ID, HubConfig
from agentdeck.actors.hub import Hub, is_loopback
from agentdeck.actors.protocol.auth import TokenStore, valid_agent_id
from agentdeck.actors.protocol.schema import FRAME_BURST, MAX_FRAMES_PER_SECOND, FrameRate
from agentdeck.web.commands.agent_options import add_executor_arguments
from agentdeck.web.commands.task import add_task_parser, task_command

log = logging.getLogger("agentdeck")


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the hub and its dashboard")
    serve.add_argument("--work", type=Path, default=Path("work"),
                       help="work directory holding collaboration/ (default: ./work)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--demo", action="store_true",
                       help="serve a fresh copy of the demo board (and start demo agents)")
    serve.add_argument("--telemetry-db", default=None, metavar="PATH_OR_URL",
                       help="SQLite telemetry file (default: WORK/.agentdeck/telemetry.db), or a "
                            "postgresql://... database shared by a fleet of hubs")
    serve.add_argument("--broker", default=None, metavar="URL",
                       help="redis://... : publish this hub's events for `agentdeck fleet`")
    serve.add_argument("--publish-output", action="store_true",
                       help="with --broker: publish agents' execution output too (each line shortened)")
    serve.add_argument("--hub-id", default=None,
                       help="this hub's name in a fleet (default: host name and work directory)")
    serve.add_argument("--budget-daily", type=float, default=None, help="daily budget in USD")
    serve.add_argument("--budget-monthly", type=float, default=None, help="monthly budget in USD")
    serve.add_argument("--poll", action="store_true", help="poll the board instead of inotify")
    serve.add_argument("--reconnect-grace", type=float, default=30.0, metavar="SECONDS",
                       help="how long a disconnected agent keeps its task (default 30)")
    serve.add_argument("--retry-backoff", type=float, default=5.0, metavar="SECONDS",
                       help="wait before retrying a failed task; doubles per failure, at most 300 s")
    serve.add_argument("--run-history-kib", type=int, default=2048, metavar="KIB",
                       help="output kept on disk per task, all attempts (oldest trimmed first)")
    serve.add_argument("--run-history-total-mib", type=int, default=512, metavar="MIB",
                       help="output kept on disk for all tasks together (the least recently active "
                            "tasks' output goes first; default 512)")
    serve.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                       help="a host name browsers may use to reach the hub besides its address and "
                            "localhost (repeatable); see docs/security.md")
    serve.add_argument("--dashboard-token", default=os.environ.get("AGENTDECK_DASHBOARD_TOKEN"),
                       help="require this token from browsers (default: $AGENTDECK_DASHBOARD_TOKEN; "
                            "generated when binding off loopback)")
    serve.add_argument("--agent-frame-rate", type=float, default=MAX_FRAMES_PER_SECOND,
                       metavar="FRAMES",
                       help="frames a second one agent connection may send on average; control "
                            f"frames over it close the connection (default {MAX_FRAMES_PER_SECOND})")
    serve.add_argument("--agent-frame-burst", type=float, default=FRAME_BURST, metavar="FRAMES",
                       help=f"frames an agent connection may send at once before the rate applies "
                            f"(default {FRAME_BURST})")
    serve.add_argument("--log-level", default="INFO")


def _fleet_parser(sub: argparse._SubParsersAction) -> None:
    fleet = sub.add_parser("fleet", help="one dashboard over every hub publishing on a broker (read-only)")
    fleet.add_argument("--broker", required=True, metavar="URL", help="the hubs' redis://... broker")
    fleet.add_argument("--telemetry-db", default=None, metavar="URL",
                       help="the hubs' shared postgresql://... telemetry: fleet costs and budgets")
    fleet.add_argument("--budget-daily", type=float, default=None,
                       help="set the fleet's daily budget in USD (needs --telemetry-db)")
    fleet.add_argument("--budget-monthly", type=float, default=None,
                       help="set the fleet's monthly budget in USD (needs --telemetry-db)")
    fleet.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    fleet.add_argument("--port", type=int, default=8090)
    fleet.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                       help="another Host name the fleet view answers to (besides loopback and --host)")
    fleet.add_argument("--stale-after", type=float, default=3.0, metavar="SECONDS",
                       help="a hub silent this long shows as unreachable (default 3)")
    fleet.add_argument("--log-level", default="INFO")


def fleet_command(args: argparse.Namespace) -> int:
    from agentdeck.actors.fleet.service import Fleet

    budgets = {period: amount for period, amount in
               (("daily", args.budget_daily), ("monthly", args.budget_monthly)) if amount is not None}
    if budgets and args.telemetry_db is None:
        log.error("fleet budgets live in the shared telemetry database: add --telemetry-db postgresql://...")
        return 2
    if any(amount <= 0 for amount in budgets.values()):
        log.error("a budget must be a positive amount of USD")
        return 2
    if args.telemetry_db is not None and _telemetry_target(args.telemetry_db)[1] is None:
        log.error("--telemetry-db must be a postgresql:// URL for a fleet")
        return 2
    if not args.broker.startswith(("redis://", "rediss://", "unix://")):
        log.error("--broker must be a redis:// URL")
        return 2
    fleet = Fleet(args.broker, args.telemetry_db, budgets=budgets, stale_after=args.stale_after)
    try:
        trio.run(run_fleet_until_signalled, fleet, args.host, args.port, tuple(args.allowed_host))
    except KeyboardInterrupt:
        return 0
    except (OSError, ExceptionGroup) as error:
        cause = _os_error_in(error)
        if cause is None:
            raise
        log.error("cannot serve: %s", cause)
        return 1
    return 0


async def run_fleet_until_signalled(fleet, host: str, port: int, allowed_hosts: tuple[str, ...] = ()) -> None:
    from agentdeck.web.fleet_app import create_fleet_app
    from agentdeck.web.server import serve

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as outer:
            async def stop_on_signal() -> None:
                async for signum in signals:
                    log.info("received %s, shutting down", signal.Signals(signum).name)
                    fleet.stop()

            outer.start_soon(stop_on_signal)
            await outer.start(fleet.run)
            async with trio.open_nursery() as web:
                addresses = await web.start(serve, create_fleet_app(fleet, host, allowed_hosts), host, port,
                                            fleet.shutdown)
                for address in addresses:
                    print(f"agentdeck: fleet view at {address}/", flush=True)
            outer.cancel_scope.cancel()
    log.info("stopped")


def _token_parser(sub: argparse._SubParsersAction) -> None:
    token = sub.add_parser("token", help="manage agent tokens (stored hashed in WORK/.agentdeck/)")
    token.add_argument("--work", type=Path, default=Path("work"),
                       help="work directory (default: ./work)")
    actions = token.add_subparsers(dest="token_action", required=True)
    add = actions.add_parser("add", help="print a new token for an agent")
    add.add_argument("agent_id")
    listing = actions.add_parser("list", help="agent ids with tokens (never the tokens)")
    revoke = actions.add_parser("revoke", help="revoke an agent's token")
    revoke.add_argument("agent_id")
    for action in (add, listing, revoke):
        # `token add ID --work DIR` as people type it; SUPPRESS keeps an earlier --work when absent
        action.add_argument("--work", type=Path, default=argparse.SUPPRESS,
                            help="work directory (default: ./work)")


def token_command(args: argparse.Namespace) -> int:
    from agentdeck.actors.protocol.auth import TokenFileError, TokenStore

    store = TokenStore.in_state_dir(HubConfig(work_dir=args.work).state_dir)
    try:
        if args.token_action == "add":
            print(store.add(args.agent_id))
            print(f"token for {args.agent_id} stored (hashed) in {store.path}; it is shown only once",
                  file=sys.stderr)
        elif args.token_action == "list":
            for entry in store.list():
                state = f"revoked {entry['revoked']}" if entry["revoked"] else "active"
                print(f"{entry['agent_id']}\tcreated {entry['created']}\t{state}")
        elif not store.revoke(args.agent_id):
            print(f"agentdeck: {args.agent_id} has no active token", file=sys.stderr)
            return 1
    except (TokenFileError, ValueError) as error:
        print(f"agentdeck: {error}", file=sys.stderr)
        return 2
    return 0


def _agent_parser(sub: argparse._SubParsersAction) -> None:
    agent = sub.add_parser("agent", help="run the reference agent against a hub")
    agent.add_argument("--hub", default="ws://127.0.0.1:8080/ws", help="the hub's /ws URL")
    agent.add_argument("--id", required=True, dest="agent_id", help="agent id (names a directory)")
    agent.add_argument("--token", default=os.environ.get("AGENTDECK_TOKEN"),
                       help="token from `agentdeck token add` (default: $AGENTDECK_TOKEN)")
    agent.add_argument("--capabilities", default="", help="comma-separated, e.g. shell,python")
    agent.add_argument("--ollama-url", default=None, help="a local Ollama, e.g. http://127.0.0.1:11434")
    agent.add_argument("--ollama-model", default="llama3.2", help="model when the hub names none")
    agent.add_argument("--workdir", default=None, help="directory shell commands run in")
    agent.add_argument("--log-level", default="INFO")
    add_executor_arguments(agent)


def agent_command(args: argparse.Namespace) -> int:
    from agentdeck.actors.reference_agent.agent import AgentRefused, AgentSettings, run_agent
    from agentdeck.web.commands.agent_options import executor_settings

    if not valid_agent_id(args.agent_id):
        print(f"agentdeck: invalid agent id {args.agent_id!r}", file=sys.stderr)
        return 2
    try:
        executors = executor_settings(args)
    except ValueError as error:
        print(f"agentdeck: {error}", file=sys.stderr)
        return 2
    settings = AgentSettings(
        hub_url=args.hub, agent_id=args.agent_id, token=args.token,
        capabilities=tuple(c.strip() for c in args.capabilities.split(",") if c.strip()),
        ollama_url=args.ollama_url, default_ollama_model=args.ollama_model, work_dir=args.workdir,
        **executors)

    async def until_signalled() -> str | None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                async def stop() -> None:
                    async for _ in signals:
                        nursery.cancel_scope.cancel()

                nursery.start_soon(stop)
                try:
                    await run_agent(settings)
                except AgentRefused as error:
                    nursery.cancel_scope.cancel()
                    return str(error)
        return None

    refused = trio.run(until_signalled)
    if refused is not None:
        print(f"agentdeck: {refused}", file=sys.stderr)
        return 2
    return 0


def serve_command(args: argparse.Namespace) -> int:
    from agentdeck.web.commands.demo import prepare_demo

    work = prepare_demo() if args.demo else args.work
    telemetry_db, telemetry_url = _telemetry_target(args.telemetry_db)
    if args.hub_id is not None and not HUB_ID.fullmatch(args.hub_id):
        log.error("invalid hub id %r: letters, digits, '.', '_' and '-', at most 64", args.hub_id)
        return 2
    try:
        frame_rate = FrameRate(args.agent_frame_rate, args.agent_frame_burst)
    except ValueError as error:
        log.error("%s (--agent-frame-rate, --agent-frame-burst)", error)
        return 2
    config = HubConfig(work_dir=work, host=args.host, port=args.port, telemetry_db=telemetry_db,
                       telemetry_url=telemetry_url, broker_url=args.broker, hub_id=args.hub_id,
                       publish_output=args.publish_output,
                       budget_daily=args.budget_daily,
                       budget_monthly=args.budget_monthly, force_polling=args.poll,
                       demo=args.demo, log_level=args.log_level,
                       reconnect_grace=args.reconnect_grace,
                       run_history_bytes=args.run_history_kib * 1024,
                       run_history_total_bytes=args.run_history_total_mib * 1024 * 1024,
                       retry_backoff=args.retry_backoff, allowed_hosts=tuple(args.allowed_host),
                       dashboard_token=args.dashboard_token or None, agent_frame_rate=frame_rate)
    if args.demo:
        from agentdeck.web.demo_model import DEMO_MODEL

        config = attrs.evolve(config, ollama_model=DEMO_MODEL)
        log.info("demo board copied to %s", work)
    if TokenStore.in_state_dir(config.state_dir).is_empty():
        if not is_loopback(config.host):
            log.error("refusing to bind %s without agent tokens: add one with "
                      "'agentdeck token add <agent_id> --work %s'", config.host, work)
            return 2
        log.warning("no agent tokens configured: agents on this machine are accepted without one")
    if not is_loopback(config.host) and config.dashboard_token is None:
        config = attrs.evolve(config, dashboard_token=secrets.token_urlsafe(24))
        log.warning("the dashboard is reachable off this machine: a dashboard token was generated "
                    "for this run (pass --dashboard-token to choose one)")
    try:
        lock = HubLock.acquire(config.state_dir)
    except BoardLocked as taken:
        log.error("cannot serve %s: %s; stop it first, or serve another --work", config.work_dir, taken)
        return 1
    raise_open_file_limit()
    try:
        with lock:
            trio.run(run_until_signalled, config)
    except KeyboardInterrupt:  # a signal that arrived in the last instant of shutting down
        return 0
    except (OSError, ExceptionGroup) as error:
        cause = _os_error_in(error)
        if cause is None:
            raise
        log.error("cannot serve: %s", cause)  # e.g. the port is taken: no traceback for that
        return 1
    return 0


def _telemetry_target(value: str | None) -> tuple[Path | None, str | None]:
    """``--telemetry-db``: (a SQLite path, None) or (None, a PostgreSQL URL)."""
    if value is None:
        return None, None
    if value.startswith(("postgresql://", "postgres://")):
        return None, value
    return Path(value), None


def raise_open_file_limit(wanted: int = 65536) -> None:
    """Lift the soft limit on open files towards the hard one: each agent, browser and task file read
    costs a descriptor, and running out turns into unreadable task files."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError) as error:
        log.warning("could not raise the open file limit: %s", error)


def _os_error_in(error: BaseException) -> OSError | None:
    """The OSError that ended the run, found inside the nurseries' exception groups."""
    if isinstance(error, OSError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            if (found := _os_error_in(inner)) is not None:
                return found
    return None


async def start_demo_agents(nursery: trio.Nursery, address: str, work_dir: Path,
                            shutdown: trio.Event) -> None:
    """The demo model endpoint, then the two demo agents that use it."""
    from agentdeck.actors.reference_agent.agent import run_agent
    from agentdeck.web.commands.demo import demo_agents
    from agentdeck.web.demo_model import DemoModel

    model_url = await nursery.start(DemoModel().serve, shutdown)
    log.info("demo model (canned text, not a real AI) at %s", model_url)
    for agent in demo_agents(address, work_dir, model_url):
        nursery.start_soon(run_agent, agent)


async def run_until_signalled(config: HubConfig) -> None:
    from agentdeck.web.server import run_hub

    hub = Hub(config)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as outer:
            async def stop_on_signal() -> None:
                async for signum in signals:  # a second Ctrl-C while stopping changes nothing
                    log.info("received %s, shutting down", signal.Signals(signum).name)
                    hub.stop()

            outer.start_soon(stop_on_signal)
            async with trio.open_nursery() as inner:
                addresses = await inner.start(run_hub, hub)
                # the board read at start-up lives as long as the process: the collector's full
                # passes skip it (a pass over 10,000 tasks was a 50-100 ms pause on the loop)
                gc.freeze()
                login = f"?token={config.dashboard_token}" if config.dashboard_token else ""
                for address in addresses:
                    print(f"agentdeck: dashboard at {address}/{login}", flush=True)
                if config.demo:
                    await start_demo_agents(outer, addresses[0], config.work_dir, hub.shutdown)
            outer.cancel_scope.cancel()
    log.info("stopped")


class OneLineFormatter(logging.Formatter):
    """Every record is one line: control characters in messages (a file name may hold a newline)
    are escaped, so data can never forge a log line of its own. Tracebacks stay as they are."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))


def escape_controls(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentdeck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _token_parser(sub)
    _agent_parser(sub)
    _fleet_parser(sub)
    add_task_parser(sub)
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "log_level", "INFO"))
    if args.command == "serve":
        return serve_command(args)
    if args.command == "token":
        return token_command(args)
    if args.command == "agent":
        return agent_command(args)
    if args.command == "fleet":
        return fleet_command(args)
    if args.command == "task":
        return task_command(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
