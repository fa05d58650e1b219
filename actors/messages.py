"""Every message that crosses an actor boundary, in one place.

Messages are frozen attrs classes: once sent, nobody can change what another part sees. Events that
go out on the bus carry a ``kind`` class attribute, the dotted name used on the wire (SSE, dashboard
WebSocket, activity feed). Commands and queries travel point-to-point in an actor's mailbox.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import trio

from agentdeck.actors.numbers import bounded_number

LANES = ("inbox", "assigned", "done", "dead")
PRIORITIES = ("critical", "high", "medium", "low")


@attrs.frozen
class Task:
    """One task file as the board sees it. ``fields`` is the whole YAML mapping, read-only."""

    id: str
    path: str  # relative to the collaboration root, posix separators
    lane: str  # one of LANES
    lane_agent: str | None  # the <agent> of assigned/<agent>/ or done/<agent>/
    title: str
    status: str
    priority: str  # one of PRIORITIES
    agent: str | None
    created: str | None  # ISO 8601 text as written, or None
    description: str
    dependencies: tuple[str, ...]
    estimated_hours: float | None
    tags: tuple[str, ...]
    fields: Mapping[str, Any] = attrs.field(eq=True, repr=False)
    mtime: float = attrs.field(default=0.0, eq=False)

    @property
    def generation(self) -> int:
        value = bounded_number(self.fields.get("generation"))
        return value if isinstance(value, int) else 0

    @property
    def attempt_records(self) -> list[Mapping[str, Any]]:
        """The recorded attempts that are mappings (a hand-edited file may hold anything there)."""
        attempts = self.fields.get("attempts")
        return [a for a in attempts if isinstance(a, Mapping)] if isinstance(attempts, list) else []

    @property
    def retry_count(self) -> int:
        value = bounded_number(self.fields.get("retry_count"))
        return value if isinstance(value, int) else 0


@attrs.frozen
class InvalidTaskFile:
    """A file under the board that could not be read as a task, and why."""

    path: str
    error: str


# ---------------------------------------------------------------- watcher -> queue


@attrs.frozen
class FileRead:
    """The watcher read ``path``: exactly one of ``task`` and ``invalid`` is set."""

    path: str
    task: Task | None
    invalid: InvalidTaskFile | None


@attrs.frozen
class FileGone:
    path: str


@attrs.frozen
class FilesChanged:
    """One watchfiles batch, already read and parsed. Moves show as FileGone + FileRead pairs."""

    changes: tuple[FileRead | FileGone, ...]


@attrs.frozen
class RescanRequested:
    """The watcher (re)started after missing changes: the queue should scan the board again."""

    reason: str = ""


# ---------------------------------------------------------------- mailbox plumbing


@attrs.frozen
class Request:
    """A query or command with a one-shot reply channel (see ``agentdeck.actors.mailbox.ask``)."""

    body: Any
    reply: trio.MemorySendChannel | None = attrs.field(default=None, eq=False)


@attrs.frozen
class ListTasks:
    """Query the queue: the board by lane, filtered; answered with a ``BoardView``."""

    agent: str | None = None
    priority: str | None = None
    lane: str | None = None
    include_done: bool = True


@attrs.frozen
class GetTask:
    """Query the queue for one task; answered with the Task or a KeyError."""

    task_id: str


@attrs.frozen
class WhyWaiting:
    """Query the queue: why each of these inbox tasks is not running yet; answered with a dict of
    task id -> ``WaitReason`` (tasks not in the inbox are left out)."""

    task_ids: tuple[str, ...]


@attrs.frozen
class BoardView:
    """An immutable copy of the board at one version: safe to hand to any number of readers."""

    version: int
    inbox: tuple[Task, ...]
    assigned: tuple[Task, ...]
    done: tuple[Task, ...]
    dead: tuple[Task, ...]
    invalid: tuple[InvalidTaskFile, ...]


@attrs.frozen
class AgentConnect:
    """An agent identified on a new connection; ``outbox`` carries frames back to its socket."""

    agent_id: str
    connection_id: int
    name: str = ""
    capabilities: tuple[str, ...] = ()
    ollama_url: str | None = None
    outbox: trio.MemorySendChannel | None = attrs.field(default=None, eq=False, repr=False)
    executors: tuple[str, ...] | None = None  # None: the agent did not say (an older sidecar)


@attrs.frozen
class AgentDisconnect:
    agent_id: str
    connection_id: int
    reason: str = ""


@attrs.frozen
class AgentSaid:
    """A validated protocol message from an identified agent (see actors.protocol)."""

    agent_id: str
    connection_id: int
    message: Mapping[str, Any]


@attrs.frozen
class OutputSeen:
    """An agent streams output for a task it holds: a sign of life for the queue's stuck-task clock
    and the agent's state. The session publishes the output itself and sends this at most once a
    second per task, and at once for an ``error`` event (its text is what a failure reports when
    the agent gives no reason)."""

    agent_id: str
    connection_id: int
    task_id: str
    last_error: str | None = None


@attrs.frozen
class RetryTask:
    """Command: a dead-letter task back to the inbox; answered "requeued" or "not_found"."""

    task_id: str


@attrs.frozen
class CancelTask:
    """Command: stop a task (abandoned by its agent) and park it in the dead letter."""

    task_id: str


@attrs.frozen
class ListAgents:
    """Query the queue: every known agent as a JSON-ready dict."""


@attrs.frozen
class Tick:
    """Sent by the queue's own timer: time to check deadlines (accept, progress, reconnect)."""


@attrs.frozen
class GetStats:
    """Query the telemetry actor: the cost/token/latency figures as a ``StatsReply``.

    ``scope="fleet"``: every hub sharing the telemetry database; the answer is None when the
    database is this hub's own (SQLite)."""

    scope: str = "hub"  # "hub" | "fleet"


@attrs.frozen
class GetDashboardSnapshot:
    """Query the dashboard state actor: the whole snapshot (a JSON-ready dict)."""


@attrs.frozen
class GetHealth:
    """Query the dashboard state actor: a ``HealthReport`` (cheap: only the health part is rebuilt)."""


@attrs.frozen
class GetMetrics:
    """Query the metrics actor: every figure in Prometheus text exposition format (bytes)."""


@attrs.frozen
class GetOutput:
    """Query the execution log: the kept output of a task's latest attempt, oldest first."""

    task_id: str


@attrs.frozen
class GetRunHistory:
    """Query the execution log: every kept attempt's output of a task, from disk (a ``RunRecord``)."""

    task_id: str


# ---------------------------------------------------------------- bus events


@attrs.frozen
class Event:
    """Base of everything published on the bus."""

    kind: ClassVar[str] = "event"
    at: float = attrs.field(kw_only=True, factory=time.time)


@attrs.frozen
class Resync(Event):
    """Told to a subscriber that fell behind: its buffer was dropped, re-read the state."""

    kind: ClassVar[str] = "resync"
    missed: int = 0


@attrs.frozen
class TaskCreated(Event):
    kind: ClassVar[str] = "task.created"
    task: Task


@attrs.frozen
class TaskUpdated(Event):
    kind: ClassVar[str] = "task.updated"
    task: Task
    previous: Task


@attrs.frozen
class TaskMoved(Event):
    kind: ClassVar[str] = "task.moved"
    task: Task
    previous: Task


@attrs.frozen
class TaskAssigned(Event):
    kind: ClassVar[str] = "task.assigned"
    task: Task
    previous: Task | None
    agent_id: str | None = None
    generation: int = 0
    routing_decision: Mapping[str, Any] | None = None


@attrs.frozen
class ExecutionResult:
    """What an agent reported for one attempt; costs are USD, ``priced`` False for unknown models."""

    status: str = "success"
    output: str = ""
    error: str | None = None
    model_used: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    estimated_cost_usd: float | None = None
    equivalent_claude_cost_usd: float | None = None
    execution_ms: int | None = None
    priced: bool = True
    agent_cost_usd: float | None = None  # the agent's own figure, kept beside the hub's price
    cost_disagreement: bool = False  # the agent's figure differs from the hub's price


@attrs.frozen
class TaskCompleted(Event):
    kind: ClassVar[str] = "task.completed"
    task: Task
    previous: Task | None
    agent_id: str | None = None
    result: ExecutionResult | None = None
    duration_ms: int | None = None


@attrs.frozen
class TaskRemoved(Event):
    kind: ClassVar[str] = "task.removed"
    task: Task


@attrs.frozen
class TaskInvalid(Event):
    """A task file became unreadable (or stopped being so: ``invalid`` is then None)."""

    kind: ClassVar[str] = "task.invalid"
    path: str
    invalid: InvalidTaskFile | None


@attrs.frozen
class TaskConflict(Event):
    """Two files claim the same task id; the board keeps the first and reports the second."""

    kind: ClassVar[str] = "task.conflict"
    task_id: str
    paths: tuple[str, ...]


@attrs.frozen
class TaskProgress(Event):
    kind: ClassVar[str] = "task.progress"
    task_id: str
    agent_id: str
    progress: Any = None


@attrs.frozen
class ExecutionEvent(Event):
    """One piece of live output from a running attempt (token, stdout, stderr, status, error...)."""

    kind: ClassVar[str] = "execution_event"
    task_id: str
    agent_id: str
    generation: int
    event_type: str
    text: str
    tokens_so_far: int | None = None
    model: str | None = None
    timestamp: float | None = None


@attrs.frozen
class TaskFailed(Event):
    """An attempt failed; the task either goes back for another try or into the dead letter."""

    kind: ClassVar[str] = "task.failed"
    task: Task
    agent_id: str | None
    error: str
    retry_count: int
    result: ExecutionResult | None = None


@attrs.frozen
class TaskRetried(TaskFailed):
    kind: ClassVar[str] = "task.retried"


@attrs.frozen
class TaskDeadLettered(TaskFailed):
    kind: ClassVar[str] = "task.dead_letter"


@attrs.frozen
class TaskReclaimed(Event):
    """A task taken back from an agent (accept timeout, stuck, agent gone) to the inbox."""

    kind: ClassVar[str] = "task.reclaimed"
    task: Task
    agent_id: str | None
    reason: str


@attrs.frozen
class TaskRequeued(Event):
    """A dead-letter task sent back to the inbox by a person."""

    kind: ClassVar[str] = "task.requeued"
    task: Task


@attrs.frozen
class AgentJoined(Event):
    kind: ClassVar[str] = "agent.joined"
    agent_id: str
    name: str
    capabilities: tuple[str, ...] = ()


@attrs.frozen
class AgentLeft(Event):
    kind: ClassVar[str] = "agent.left"
    agent_id: str
    reason: str = ""


@attrs.frozen
class AgentStateChanged(Event):
    kind: ClassVar[str] = "agent.state_changed"
    agent_id: str
    state: str  # offline | idle | assigned | working
    task_id: str | None = None


@attrs.frozen
class AgentReported(Event):
    """A report an agent sent that needs no reply (resources, its Ollama endpoint...)."""

    kind: ClassVar[str] = "agent.report"
    agent_id: str
    report_type: str  # resource_report | ollama_report | wake_result | agent_restarting
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class BoardWriteFailed(Event):
    """Moving or rewriting a task file failed (disk full, read-only...): the task stayed put."""

    kind: ClassVar[str] = "board.write_failed"
    task_id: str
    error: str


@attrs.frozen
class SecurityWarning(Event):
    """Something people should know about the hub's exposure (e.g. agents accepted without tokens)."""

    kind: ClassVar[str] = "security.warning"
    message: str


@attrs.frozen
class ActorRestarted(Event):
    kind: ClassVar[str] = "actor.restarted"
    name: str
    restarts: int
    error: str


@attrs.frozen
class WatcherModeChanged(Event):
    """The watcher switched between native notifications and polling (and why)."""

    kind: ClassVar[str] = "watcher.mode"
    mode: str  # "native" | "polling"
    reason: str = ""


@attrs.frozen
class TelemetryChanged(Event):
    """New invocation rows were written (by the hub or another process): figures are stale."""

    kind: ClassVar[str] = "telemetry.changed"
    source: str = "hub"  # "hub" | "external"


@attrs.frozen
class BudgetThreshold(Event):
    kind: ClassVar[str] = "budget.threshold"
    period: str  # "daily" | "monthly"
    level: int  # 80 or 100
    spent: float
    budget: float
    scope: str = "hub"  # "hub" | "fleet" (every hub sharing the telemetry database)
