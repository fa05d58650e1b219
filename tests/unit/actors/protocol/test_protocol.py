"""Agent protocol v1: every agent -> hub message validates against the one schema table."""

from __future__ import annotations

import json

import pytest

from agentdeck.actors.protocol import assignment
from agentdeck.actors.protocol import schema as protocol
from agentdeck.actors.protocol.schema import KNOWN_TYPES, ProtocolError, decode

VALID = {
    "identify": {"agent_id": "agent-1.x_y", "token": "t", "name": "A", "status": "idle",
                 "capabilities": ["code", "shell"], "ollama_url": "http://127.0.0.1:11434"},
    "ping": {},
    "task_accepted": {"task_id": "t1"},
    "task_progress": {"task_id": "t1", "progress": 40,
                      "execution_event": {"event_type": "stdout", "text": "hi\n",
                                          "tokens_so_far": 3, "model": "m", "timestamp": 1.5}},
    "task_complete": {"task_id": "t1", "generation": 2, "tokens_used": 10,
                      "result": {"status": "success", "output": "ok", "model_used": "none",
                                 "tokens_in": 0, "tokens_out": 0, "estimated_cost_usd": 0,
                                 "equivalent_claude_cost_usd": 0.01, "execution_ms": 12,
                                 "error": None}},
    "task_failed": {"task_id": "t1", "generation": 1, "error": "boom"},
    "task_rejected": {"task_id": "t1", "reason": "busy"},
    "task_recovering": {"task_id": "t1"},
    "state_report": {"task_id": "t1", "status": "working", "generation": 3},
    "resource_report": {"cpu_percent": 12.5, "ram_used_bytes": 10, "vram_total_mb": 8.0},
    "ollama_report": {"ollama_url": "http://127.0.0.1:11434"},
    "wake_result": {"task_id": "t1", "status": "ok", "detail": "woke"},
    "agent_restarting": {"reason": "update"},
}


def rejected(frame) -> dict:
    with pytest.raises(ProtocolError) as info:
        decode(frame)
    return info.value.payload


def frame(kind: str, **fields) -> str:
    return json.dumps({"type": kind, **fields})


def test_every_known_type_has_a_valid_example():
    assert set(VALID) == set(KNOWN_TYPES)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_messages_decode_with_extra_fields_kept(kind):
    message = decode(frame(kind, **VALID[kind], protocol_version=1, client_type="sidecar"))
    assert message["type"] == kind
    assert message["client_type"] == "sidecar"


@pytest.mark.parametrize("kind", sorted(VALID))
def test_optional_fields_may_be_null(kind):
    nulled = {}
    for spec in protocol.SCHEMAS[kind]:
        if not spec.required and not spec.name.endswith("*"):
            nulled[spec.name] = None
    required = {s.name: VALID[kind][s.name] for s in protocol.SCHEMAS[kind] if s.required}
    assert decode(frame(kind, **required, **nulled))["type"] == kind


def test_bytes_frames_decode():
    assert decode(b'{"type": "ping"}') == {"type": "ping"}


@pytest.mark.parametrize("bad", ["{", "", "not json", b"\xff\xfe\x00", "NaN", '{"a": Infinity}',
                                 "[" * 100000])
def test_invalid_json(bad):
    payload = rejected(bad)
    assert payload["type"] == "error" and payload["error"] == "invalid_json"


@pytest.mark.parametrize("bad", ["[1, 2]", '"ping"', "42", "null", "true"])
def test_non_object_is_unknown_message_type(bad):
    payload = rejected(bad)
    assert payload["error"] == "unknown_message_type"
    assert payload["known_types"] == list(KNOWN_TYPES)


@pytest.mark.parametrize("bad", ['{}', '{"type": null}', '{"type": 7}', '{"type": "launch_missiles"}',
                                 '{"type": "PING"}', '{"type": ["ping"]}'])
def test_missing_or_unknown_type(bad):
    payload = rejected(bad)
    assert payload["error"] == "unknown_message_type"
    assert "ping" in payload["known_types"] and "identify" in payload["known_types"]


def errors_of(kind: str, **fields) -> list[dict]:
    payload = rejected(frame(kind, **fields))
    assert payload["error"] == "validation_failed"
    assert payload["message_type"] == kind
    for error in payload["errors"]:
        assert set(error) == {"field", "error", "detail"}
    return payload["errors"]


def test_missing_required_fields_are_each_reported():
    errors = errors_of("identify")
    assert {(e["field"], e["error"]) for e in errors} == {("agent_id", "required"),
                                                         ("token", "required")}
    assert errors_of("task_complete", task_id="t")[0]["field"] == "generation"
    assert errors_of("task_rejected", task_id="t")[0]["field"] == "reason"
    assert errors_of("ollama_report")[0]["field"] == "ollama_url"


@pytest.mark.parametrize("kind,fields,field", [
    ("task_accepted", {"task_id": 5}, "task_id"),
    ("task_complete", {"task_id": "t", "generation": "1"}, "generation"),
    ("task_complete", {"task_id": "t", "generation": 1.5}, "generation"),
    ("task_complete", {"task_id": "t", "generation": True}, "generation"),
    ("task_complete", {"task_id": "t", "generation": 1, "result": "ok"}, "result"),
    ("task_complete", {"task_id": "t", "generation": 1, "result": {"tokens_in": "9"}},
     "result.tokens_in"),
    ("identify", {"agent_id": "a", "token": "t", "capabilities": "code"}, "capabilities"),
    ("identify", {"agent_id": "a", "token": "t", "capabilities": ["ok", 3]}, "capabilities[1]"),
    ("task_progress", {"task_id": "t", "execution_event": ["x"]}, "execution_event"),
    ("task_progress", {"task_id": "t", "execution_event": {"event_type": "stdout", "text": 1}},
     "execution_event.text"),
    ("resource_report", {"cpu_percent": "high"}, "cpu_percent"),
    ("resource_report", {"ram_free": [1]}, "ram_free"),
])
def test_wrong_types(kind, fields, field):
    errors = errors_of(kind, **fields)
    assert [(e["field"], e["error"]) for e in errors] == [(field, "wrong_type")]


def test_required_fields_are_not_nullable():
    errors = errors_of("task_failed", task_id=None, generation=None)
    assert {(e["field"], e["error"]) for e in errors} == {("task_id", "null_not_allowed"),
                                                         ("generation", "null_not_allowed")}


@pytest.mark.parametrize("agent_id", ["..", ".", "a/b", "../etc", "", "a" * 129, "name with space",
                                      "ünïcode", "a\\b"])
def test_agent_ids_that_could_name_other_directories_are_refused(agent_id):
    errors = errors_of("identify", agent_id=agent_id, token="t")
    assert errors[0]["field"] == "agent_id"
    assert errors[0]["error"] in ("invalid_agent_id", "too_long")


def test_oversized_and_out_of_range_values_get_clear_errors():
    assert errors_of("task_accepted", task_id="x" * 257)[0]["error"] == "too_long"
    assert errors_of("identify", agent_id="a", token="t",
                     capabilities=["c"] * 300)[0]["error"] == "too_long"
    assert errors_of("task_complete", task_id="t", generation=-1)[0]["error"] == "invalid_value"
    bad_event = {"event_type": "shout", "text": "x"}
    assert errors_of("task_progress", task_id="t",
                     execution_event=bad_event)[0]["field"] == "execution_event.event_type"
    assert errors_of("task_complete", task_id="t", generation=0,
                     result={"tokens_out": -5})[0]["field"] == "result.tokens_out"


def test_nested_objects_accept_unknown_fields():
    message = decode(frame("task_complete", task_id="t", generation=1,
                           result={"status": "failed", "exit_code": 2, "stderr": "x"}))
    assert message["result"]["exit_code"] == 2


def test_schemas_json_covers_every_type_as_json_schema():
    schemas = protocol.schemas_json()
    assert schemas["known_types"] == list(KNOWN_TYPES)
    identify = schemas["agent_to_hub"]["identify"]
    assert identify["required"] == ["type", "agent_id", "token"]
    assert identify["additionalProperties"] is True
    assert identify["properties"]["capabilities"]["type"] == ["array", "null"]
    complete = schemas["agent_to_hub"]["task_complete"]["properties"]["result"]
    assert "model_used" in complete["properties"]
    assert "^ram_" in schemas["agent_to_hub"]["resource_report"]["patternProperties"]
    assert "task_assign" in schemas["hub_to_agent"]
    json.dumps(schemas)


def test_builders_produce_the_wire_names():
    assign = assignment.build(
        "t1", {"shell_command": "echo", "repo": "r", "branch": None,
               "assigned_at": "2026-01-01T00:00:00+00:00"},
        description="d", generation=3, complexity={"effective_tier": "trivial", "source": "inferred"},
        routing_decision={"target_type": "sidecar"}, now=0.0)
    assert assign["type"] == "task_assign" and assign["repo"] == "r" and "branch" not in assign
    assert assign["metadata"] == {"shell_command": "echo"}
    assert assign["assigned_at"] == 1767225600000
    assert (assign["skip_verification"], assign["verification_timeout_ms"],
            assign["max_verification_retries"]) == (False, None, 0)
    assert protocol.task_cancelled("t", 5) == {"type": "task_cancelled", "task_id": "t", "timestamp": 5}
    assert protocol.pong(5) == {"type": "pong", "timestamp": 5}
    assert protocol.task_ack("t", "stale") == {"type": "task_ack", "task_id": "t", "status": "stale"}
    assert protocol.task_continue("t", 2)["generation"] == 2
    assert protocol.task_reassign("t") == {"type": "task_reassign", "task_id": "t"}
    assert protocol.state_report_ack("t", "abort")["action"] == "abort"
    with pytest.raises(ValueError):
        protocol.state_report_ack("t", "maybe")
    assert protocol.identified("a")["agent_id"] == "a"
    assert json.loads(protocol.encode(protocol.error_message("not_identified")))["error"] == \
        "not_identified"


async def test_schemas_are_served(running_hub):
    response = await running_hub.client.get("/api/schemas")
    assert response.status_code == 200
    assert response.json()["known_types"] == list(KNOWN_TYPES)
