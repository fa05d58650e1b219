"""Agent protocol v1: one schema table for every agent -> hub message, and builders for the replies.

Wire-compatible with the Elixir hub's sidecars: JSON text frames, a ``type`` field, unknown extra
fields accepted and ignored, optional fields may be ``null``. The table below is the single source of
truth: ``decode`` validates against it and ``schemas_json`` publishes it (as JSON Schema) at
``GET /api/schemas``. Validation is plain Python over the table, cheap enough for thousands of frames
per second, and every limit is explicit so hostile input gets a precise error instead of a crash.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from agentdeck.actors.board.taskfile import MAX_TASK_ID, is_safe_name
from agentdeck.actors.numbers import MAX_MAGNITUDE, bounded_number, without_surrogates

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 1024 * 1024
# the default ``FrameRate`` (a hub setting): sustained per connection, more ends it with
# rate_limited + 1008; and the frames a connection may send at once before the rate applies
MAX_FRAMES_PER_SECOND = 500
FRAME_BURST = 1000
MAX_ID = 256
MAX_SHORT = 1024
MAX_TEXT = MAX_FRAME_BYTES
MAX_LIST = 256
EVENT_TYPES = ("token", "stdout", "stderr", "status", "error", "tool_call")


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and value > 0


@attrs.frozen
class FrameRate:
    """How fast one agent connection may send frames: ``burst`` at once, then ``per_second``
    sustained. An operator setting of the hub (``agentdeck serve --agent-frame-rate/-burst``),
    published with the schemas so a sidecar can pace itself."""

    per_second: float = attrs.field(default=MAX_FRAMES_PER_SECOND)
    burst: float = attrs.field(default=FRAME_BURST)

    @per_second.validator
    def _check_per_second(self, _attribute: attrs.Attribute, value: float) -> None:
        if not _positive(value):
            raise ValueError(f"the agent frame rate must be a positive number of frames a second, "
                             f"got {value!r}")

    @burst.validator
    def _check_burst(self, _attribute: attrs.Attribute, value: float) -> None:
        if not (_positive(value) and value >= 1):
            raise ValueError(f"the agent frame burst must be a number of frames, at least 1 (below "
                             f"that every frame is refused), got {value!r}")


DEFAULT_FRAME_RATE = FrameRate()


_KIND_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
_JSON_NAMES = {"object": "object", "array": "array", "string": "string", "integer": "integer",
               "number": "number", "boolean": "boolean"}


@attrs.frozen
class Field:
    """One field of a message. ``name`` ending in ``*`` matches every key with that prefix."""

    name: str
    kinds: tuple[str, ...]
    required: bool = False
    nullable: bool = True
    max_length: int | None = None  # characters for strings, items for arrays
    minimum: int | None = None
    enum: tuple[str, ...] | None = None
    items: str | None = None  # kind of each array item
    fields: tuple[Field, ...] | None = None  # schema of a nested object (extras allowed)
    agent_id: bool = False  # must be a safe path component
    description: str = ""


def req(name: str, *kinds: str, **options: Any) -> Field:
    return Field(name, kinds, required=True, nullable=options.pop("nullable", False), **options)


def opt(name: str, *kinds: str, **options: Any) -> Field:
    return Field(name, kinds, required=False, **options)


def _task_id() -> Field:
    return req("task_id", "string", max_length=MAX_TASK_ID)


EXECUTION_EVENT = (
    req("event_type", "string", enum=EVENT_TYPES),
    req("text", "string", max_length=MAX_TEXT),
    opt("tokens_so_far", "integer", minimum=0),
    opt("model", "string", max_length=MAX_SHORT),
    opt("timestamp", "number", "string", max_length=64),
)

EXECUTION_RESULT = (
    opt("status", "string", max_length=64),
    opt("output", "string", "object", "array", max_length=MAX_TEXT),
    opt("model_used", "string", max_length=MAX_SHORT),
    opt("tokens_in", "integer", minimum=0),
    opt("tokens_out", "integer", minimum=0),
    opt("estimated_cost_usd", "number", minimum=0),
    opt("equivalent_claude_cost_usd", "number", minimum=0),
    opt("execution_ms", "number", minimum=0),
    opt("error", "string", "object", max_length=MAX_TEXT),
    opt("verification_status", "string", max_length=64),
    opt("verification_attempts", "integer", minimum=0),
)

VERIFICATION_REPORT = (
    opt("status", "string", max_length=64),
    opt("run_number", "integer", minimum=0),
    opt("checks", "array", items="object", max_length=MAX_LIST),
    opt("summary", "object"),
)

SCHEMAS: dict[str, tuple[Field, ...]] = {
    "identify": (
        req("agent_id", "string", max_length=128, agent_id=True,
            description="letters, digits, '-', '_', '.'; names a directory"),
        req("token", "string", max_length=MAX_SHORT, nullable=True),
        opt("name", "string", max_length=MAX_ID),
        opt("status", "string", max_length=MAX_ID),
        opt("capabilities", "array", items="string", max_length=MAX_LIST),
        opt("ollama_url", "string", max_length=2048),
        opt("executors", "array", items="string", max_length=MAX_LIST,
            description="what it can run: shell, ollama, claude, codex, command agents by name; "
                        "an agent that sends it is routed only those"),
    ),
    "ping": (),
    "task_accepted": (_task_id(),),
    "task_progress": (
        _task_id(),
        opt("progress", "number", "string", "object", max_length=MAX_SHORT),
        opt("execution_event", "object", fields=EXECUTION_EVENT),
    ),
    "task_complete": (
        _task_id(),
        req("generation", "integer", minimum=0),
        opt("result", "object", fields=EXECUTION_RESULT),
        opt("tokens_used", "integer", minimum=0),
        opt("verification_report", "object", fields=VERIFICATION_REPORT),
        opt("verification_history", "array", items="object", max_length=MAX_LIST),
    ),
    "task_failed": (
        _task_id(),
        req("generation", "integer", minimum=0),
        opt("error", "string", "object", max_length=MAX_TEXT),
        opt("reason", "string", max_length=MAX_TEXT),
    ),
    "task_rejected": (_task_id(), req("reason", "string", max_length=MAX_SHORT)),
    "task_recovering": (
        _task_id(),
        opt("last_status", "string", max_length=64),
        opt("description", "string", max_length=MAX_TEXT),
        opt("metadata", "object"),
    ),
    "state_report": (
        _task_id(),
        opt("status", "string", max_length=64),
        opt("generation", "integer", minimum=0),
    ),
    "resource_report": (
        opt("cpu_percent", "number"),
        opt("ram_*", "number"),
        opt("vram_*", "number"),
    ),
    "ollama_report": (req("ollama_url", "string", max_length=2048),),
    "wake_result": (_task_id(), req("status", "string", max_length=64)),
    "agent_restarting": (opt("reason", "string", max_length=MAX_SHORT),),
}

REPLIES = {
    "identify": "identified | error", "ping": "pong", "task_accepted": "task_ack",
    "task_complete": "task_ack", "task_failed": "task_ack", "task_recovering":
    "task_continue | task_reassign", "state_report": "state_report_ack",
}

KNOWN_TYPES: tuple[str, ...] = tuple(SCHEMAS)


class ProtocolError(Exception):
    """A frame the hub refuses; ``payload`` is the exact ``error`` message to send back."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("error", "protocol_error"))
        self.payload = payload


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # one, not one per frame (json.loads)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def decode(frame: str | bytes) -> dict[str, Any]:
    """Parse and validate one agent frame; returns the message (extra fields kept, never trusted)."""
    try:
        if isinstance(frame, str):
            message = _DECODER.decode(frame)
        else:
            message = json.loads(frame, parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        raise ProtocolError(error_message("invalid_json", detail=str(error)[:200])) from None
    if isinstance(frame, str) and "\\" in frame and _ESCAPED_SURROGATE.search(frame):
        message = _scrubbed(message)
    if not isinstance(message, dict):
        raise ProtocolError(error_message(
            "unknown_message_type", known_types=list(KNOWN_TYPES),
            detail=f"expected a JSON object with a 'type', got {_json_type(message)}"))
    kind = message.get("type")
    if kind == "task_progress" and plain_output(message):
        return message
    if not isinstance(kind, str) or kind not in SCHEMAS:
        shown = kind[:64] if isinstance(kind, str) else kind if kind is None else _json_type(kind)
        raise ProtocolError(error_message("unknown_message_type", received_type=shown,
                                          known_types=list(KNOWN_TYPES)))
    errors = validate_fields(message, SCHEMAS[kind])
    if errors:
        raise ProtocolError(error_message("validation_failed", message_type=kind, errors=errors))
    return message


_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")

_PLAIN_OUTPUT_KEYS = frozenset(("type", "task_id", "execution_event"))
_PLAIN_EVENT_KEYS = frozenset(("event_type", "text", "tokens_so_far", "model", "timestamp"))
_EVENT_TYPE_SET = frozenset(EVENT_TYPES)


def plain_output(message: dict[str, Any]) -> bool:
    """True for a ``task_progress`` of the everyday shape (a task id and one execution event of
    exact JSON types, no other fields) that ``validate_fields`` would accept; anything else,
    valid or not, is left to it. The bulk of all traffic, so checked in a few steps."""
    if not message.keys() <= _PLAIN_OUTPUT_KEYS:
        return False
    task_id = message.get("task_id")
    event = message.get("execution_event")
    if type(task_id) is not str or len(task_id) > MAX_TASK_ID or type(event) is not dict \
            or not event.keys() <= _PLAIN_EVENT_KEYS:
        return False
    event_type, text = event.get("event_type"), event.get("text")
    if type(event_type) is not str or event_type not in _EVENT_TYPE_SET or type(text) is not str \
            or len(text) > MAX_TEXT:
        return False
    timestamp = event.get("timestamp")
    if timestamp is not None and not (
            (type(timestamp) is float and -MAX_MAGNITUDE <= timestamp <= MAX_MAGNITUDE)
            or (type(timestamp) is int and -MAX_MAGNITUDE <= timestamp <= MAX_MAGNITUDE)
            or (type(timestamp) is str and len(timestamp) <= 64)):
        return False
    tokens, model = event.get("tokens_so_far"), event.get("model")
    return (tokens is None or (type(tokens) is int and 0 <= tokens <= MAX_MAGNITUDE)) and \
        (model is None or (type(model) is str and len(model) <= MAX_SHORT))


def _scrubbed(value: Any) -> Any:
    """Strings without lone surrogates (a valid escaped pair was already joined by the parser)."""
    if isinstance(value, str):
        return without_surrogates(value)
    if isinstance(value, dict):
        return {without_surrogates(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


def validate_fields(message: Mapping[str, Any], schema: Iterable[Field],
                    prefix: str = "") -> list[dict[str, str]]:
    """Every problem of ``message`` against ``schema`` as ``{field, error, detail}``; [] if valid."""
    errors: list[dict[str, str]] = []
    for spec in schema:
        if spec.name.endswith("*"):
            stem = spec.name[:-1]
            for key, value in message.items():
                if key.startswith(stem):
                    _check(spec, prefix + key, value, errors)
            continue
        if spec.name not in message:
            if spec.required:
                errors.append(_error(prefix + spec.name, "required", "field is required"))
            continue
        _check(spec, prefix + spec.name, message[spec.name], errors)
    return errors


def _check(spec: Field, path: str, value: Any, errors: list[dict[str, str]]) -> None:
    if value is None:
        if not spec.nullable:
            errors.append(_error(path, "null_not_allowed", "must not be null"))
        return
    kind = next((k for k in spec.kinds if _KIND_CHECKS[k](value)), None)
    if kind is None:
        errors.append(_error(path, "wrong_type",
                             f"expected {' or '.join(spec.kinds)}, got {_json_type(value)}"))
        return
    if spec.max_length is not None and kind in ("string", "array") and len(value) > spec.max_length:
        unit = "characters" if kind == "string" else "items"
        errors.append(_error(path, "too_long", f"at most {spec.max_length} {unit}, got {len(value)}"))
        return
    if kind in ("integer", "number"):
        if isinstance(value, float) and not math.isfinite(value):
            errors.append(_error(path, "invalid_value", "must be finite"))
        elif bounded_number(value) is None:
            errors.append(_error(path, "invalid_value", f"must be at most {MAX_MAGNITUDE:.0e} in size"))
        elif spec.minimum is not None and value < spec.minimum:
            errors.append(_error(path, "invalid_value", f"must be >= {spec.minimum}"))
    elif kind == "string":
        if spec.enum is not None and value not in spec.enum:
            errors.append(_error(path, "invalid_value", f"must be one of {list(spec.enum)}"))
        elif spec.agent_id and not is_safe_name(value):
            errors.append(_error(path, "invalid_agent_id",
                                 "1-128 letters, digits, '-', '_', '.'; not '.' or '..'"))
    elif kind == "array" and spec.items is not None:
        for index, item in enumerate(value):
            if not _KIND_CHECKS[spec.items](item):
                errors.append(_error(f"{path}[{index}]", "wrong_type",
                                     f"expected {spec.items}, got {_json_type(item)}"))
                return
            if spec.items == "string" and len(item) > MAX_ID:
                errors.append(_error(f"{path}[{index}]", "too_long", f"at most {MAX_ID} characters"))
                return
    elif kind == "object" and spec.fields is not None:
        errors.extend(validate_fields(value, spec.fields, prefix=path + "."))


MAX_PREFIXED_FIELDS = 16  # e.g. ram_* and vram_* keys of one resource_report
MAX_FIELD_NAME = 64


def known_fields(message: Mapping[str, Any]) -> dict[str, Any]:
    """Only the fields the schema names (at most ``MAX_PREFIXED_FIELDS`` per ``prefix*`` field): what a
    hub keeps of a report. Extra fields are accepted on the wire and dropped here, never stored."""
    kept: dict[str, Any] = {}
    for spec in SCHEMAS.get(str(message.get("type")), ()):
        if spec.name.endswith("*"):
            stem = spec.name[:-1]
            names = [k for k in message if isinstance(k, str) and k.startswith(stem) and len(k) <= MAX_FIELD_NAME]
            kept.update((k, message[k]) for k in names[:MAX_PREFIXED_FIELDS])
        elif spec.name in message:
            kept[spec.name] = message[spec.name]
    return kept


def _error(field: str, error: str, detail: str) -> dict[str, str]:
    return {"field": field, "error": error, "detail": detail}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    for name in ("string", "integer", "number", "object", "array"):
        if _KIND_CHECKS[name](value):
            return name
    return type(value).__name__


# ---------------------------------------------------------------- published schemas

def _field_schema(spec: Field) -> dict[str, Any]:
    types = [_JSON_NAMES[k] for k in spec.kinds] + (["null"] if spec.nullable else [])
    schema: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
    if spec.description:
        schema["description"] = spec.description
    if spec.enum is not None:
        schema["enum"] = list(spec.enum) + ([None] if spec.nullable else [])
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.max_length is not None:
        if "string" in spec.kinds:
            schema["maxLength"] = spec.max_length
        if "array" in spec.kinds:
            schema["maxItems"] = spec.max_length
    if spec.agent_id:
        schema["pattern"] = r"^[A-Za-z0-9_.\-]{1,128}$"
    if spec.items is not None:
        schema["items"] = {"type": _JSON_NAMES[spec.items], "maxLength": MAX_ID}
    if spec.fields is not None:
        schema.update(_object_schema(spec.fields))
    return schema


def _object_schema(fields: Iterable[Field], kind: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"type": {"const": kind}} if kind else {}
    patterns: dict[str, Any] = {}
    required = ["type"] if kind else []
    for spec in fields:
        if spec.name.endswith("*"):
            patterns["^" + spec.name[:-1]] = _field_schema(spec)
            continue
        properties[spec.name] = _field_schema(spec)
        if spec.required:
            required.append(spec.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required,
                              "additionalProperties": True}
    if patterns:
        schema["patternProperties"] = patterns
    return schema


def schemas_json(frame_rate: FrameRate = DEFAULT_FRAME_RATE) -> dict[str, Any]:
    """The protocol as data: JSON Schema per agent -> hub message, plus the hub -> agent shapes,
    with the limits of the hub that serves it (``frame_rate`` is its setting)."""
    agent_to_hub = {}
    for kind, fields in SCHEMAS.items():
        agent_to_hub[kind] = {**_object_schema(fields, kind), "reply": REPLIES.get(kind)}
    return {
        "protocol_version": PROTOCOL_VERSION,
        "transport": "JSON text frames on /ws; first message must be identify",
        "limits": {"max_frame_bytes": MAX_FRAME_BYTES, "max_violations_per_minute": 10,
                   "max_frames_per_second": frame_rate.per_second, "frame_burst": frame_rate.burst,
                   "close_code_on_abuse": 1008},
        "known_types": list(KNOWN_TYPES),
        "agent_to_hub": agent_to_hub,
        "hub_to_agent": {kind: {"fields": list(fields)} for kind, fields in HUB_MESSAGES.items()},
        "errors": ["invalid_json", "unknown_message_type", "validation_failed", "not_identified",
                   "invalid_token", "token_agent_mismatch", "agent_id_in_use", "frame_too_large", "rate_limited"],
    }


# ---------------------------------------------------------------- hub -> agent builders

HUB_MESSAGES = {
    "identified": ("agent_id",),
    "error": ("error", "..."),
    "pong": ("timestamp",),
    "task_ack": ("task_id", "status"),
    "task_assign": ("task_id", "description", "metadata", "generation", "assigned_at", "complexity",
                    "routing_decision", "skip_verification", "verification_timeout_ms",
                    "max_verification_retries", "title", "repo", "branch", "base_branch", "file_hints",
                    "success_criteria", "verification_steps"),
    "task_continue": ("task_id", "generation"),
    "task_reassign": ("task_id", "reason"),
    "task_cancelled": ("task_id", "timestamp", "reason"),
    "state_report_ack": ("task_id", "action"),
}


def error_message(error: str, **details: Any) -> dict[str, Any]:
    return {"type": "error", "error": error, **details}


def identified(agent_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "identified", "agent_id": agent_id, "protocol_version": PROTOCOL_VERSION, **extra}


def pong(timestamp_ms: int) -> dict[str, Any]:
    return {"type": "pong", "timestamp": timestamp_ms}


def task_ack(task_id: str, status: str, **extra: Any) -> dict[str, Any]:
    """``status``: accepted | complete | retried | dead_letter | stale (| unknown_task)."""
    return {"type": "task_ack", "task_id": task_id, "status": status, **extra}


def task_assign(task_id: str, *, description: str, metadata: Mapping[str, Any], generation: int,
                assigned_at: int, complexity: Mapping[str, Any], routing_decision: Mapping[str, Any],
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The assignment; ``assigned_at`` in epoch milliseconds; ``extra`` holds the verification
    controls and enrichment fields (``repo``, ``verification_steps``, ...), sent top level."""
    message = {"type": "task_assign", "task_id": task_id, "description": description,
               "metadata": dict(metadata), "generation": generation, "assigned_at": assigned_at,
               "complexity": dict(complexity), "routing_decision": dict(routing_decision)}
    for key, value in (extra or {}).items():
        message.setdefault(key, value)
    return message


def task_continue(task_id: str, generation: int) -> dict[str, Any]:
    return {"type": "task_continue", "task_id": task_id, "generation": generation}


def task_reassign(task_id: str, reason: str | None = None) -> dict[str, Any]:
    message = {"type": "task_reassign", "task_id": task_id}
    if reason:
        message["reason"] = reason
    return message


def task_cancelled(task_id: str, timestamp_ms: int, reason: str | None = None) -> dict[str, Any]:
    """The task was cancelled: the agent drops it (a sidecar frees its slot at once)."""
    message: dict[str, Any] = {"type": "task_cancelled", "task_id": task_id, "timestamp": timestamp_ms}
    if reason:
        message["reason"] = reason
    return message


def state_report_ack(task_id: str, action: str, **extra: Any) -> dict[str, Any]:
    """``action``: continue | abort."""
    if action not in ("continue", "abort"):
        raise ValueError(f"state_report_ack action must be continue or abort, not {action!r}")
    return {"type": "state_report_ack", "task_id": task_id, "action": action, **extra}


def encode(message: Mapping[str, Any]) -> str:
    """A message as one compact JSON text frame."""
    return _ENCODER.encode(message)
