"""The fast path for everyday output frames: it takes only what the full validator accepts, and it
takes the frames sidecars and the reference agent really send."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from agentdeck.actors.board.taskfile import MAX_TASK_ID
from agentdeck.actors.numbers import MAX_MAGNITUDE
from agentdeck.actors.protocol.schema import (
    EVENT_TYPES,
    MAX_SHORT,
    SCHEMAS,
    ProtocolError,
    decode,
    plain_output,
    validate_fields,
)

# values around every limit and of every JSON type, so both sides of each check are drawn
edge_numbers = st.sampled_from([0, -1, 1, MAX_MAGNITUDE, MAX_MAGNITUDE + 1, -MAX_MAGNITUDE - 1, 10**400,
                                0.0, -0.5, 1.5e9, float(MAX_MAGNITUDE) * 1.5, float("inf"), float("-inf"),
                                float("nan"), True, False])
anything = st.one_of(st.none(), edge_numbers, st.text(max_size=8), st.lists(st.integers(), max_size=2),
                     st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
sized_text = st.sampled_from([0, 1, 64, 65, MAX_SHORT, MAX_SHORT + 1, MAX_TASK_ID, MAX_TASK_ID + 1]).map(
    lambda n: "x" * n)
event_types = st.one_of(st.sampled_from(EVENT_TYPES), st.sampled_from(["STDOUT", "", "log"]), anything)


def _maybe(strategy):
    return st.one_of(st.just(...), st.none(), strategy, anything)


@st.composite
def progress_messages(draw):
    event = {}
    for name, values in (("event_type", event_types), ("text", st.one_of(st.text(max_size=20), sized_text)),
                         ("tokens_so_far", edge_numbers), ("model", sized_text),
                         ("timestamp", st.one_of(edge_numbers, sized_text))):
        value = draw(_maybe(values))
        if value is not ...:
            event[name] = value
    if draw(st.booleans()):
        event[draw(st.sampled_from(["extra", "Text", "progress"]))] = draw(anything)
    message = {"type": "task_progress"}
    task_id = draw(_maybe(st.one_of(st.text(max_size=10), sized_text)))
    if task_id is not ...:
        message["task_id"] = task_id
    shape = draw(st.sampled_from(["event", "event", "none", "other", "missing"]))
    if shape == "event":
        message["execution_event"] = event
    elif shape == "none":
        message["execution_event"] = None
    elif shape == "other":
        message["execution_event"] = draw(anything)
    if draw(st.booleans()):
        message[draw(st.sampled_from(["progress", "generation", "note"]))] = draw(anything)
    return message


@settings(max_examples=3000, deadline=None)
@given(progress_messages())
def test_the_fast_path_takes_nothing_the_full_validator_refuses(message):
    if plain_output(message):
        assert validate_fields(message, SCHEMAS["task_progress"]) == []


@settings(max_examples=500, deadline=None)
@given(task_id=st.text(min_size=1, max_size=MAX_TASK_ID), text=st.text(max_size=200),
       event_type=st.sampled_from(EVENT_TYPES),
       timestamp=st.one_of(st.none(), st.floats(min_value=0, max_value=4e9), st.integers(0, 4 * 10**12)),
       tokens=st.one_of(st.none(), st.integers(0, 10**6)), model=st.one_of(st.none(), st.text(max_size=40)))
def test_everyday_output_takes_the_fast_path_and_decodes_as_sent(task_id, text, event_type, timestamp,
                                                                 tokens, model):
    event = {"event_type": event_type, "text": text, "timestamp": timestamp, "tokens_so_far": tokens,
             "model": model}
    message = {"type": "task_progress", "task_id": task_id, "execution_event": event}
    assert plain_output(message)
    assert validate_fields(message, SCHEMAS["task_progress"]) == []
    assert decode(json.dumps(message)) == message  # hypothesis's text holds no lone surrogates


def test_hostile_output_still_gets_the_full_validators_answer():
    for frame, field in (
        ('{"type":"task_progress","task_id":"t","execution_event":{"event_type":"stdout","text":"x",'
         '"timestamp":1e400}}', "execution_event.timestamp"),
        ('{"type":"task_progress","task_id":"t","execution_event":{"event_type":"stdout","text":"x",'
         '"tokens_so_far":100000000000000000000}}', "execution_event.tokens_so_far"),
        ('{"type":"task_progress","task_id":"t","execution_event":{"event_type":"stdout","text":5}}',
         "execution_event.text"),
        ('{"type":"task_progress","task_id":"t","execution_event":{"event_type":"shout","text":""}}',
         "execution_event.event_type"),
        ('{"type":"task_progress","task_id":7,"execution_event":{"event_type":"stdout","text":""}}',
         "task_id"),
    ):
        try:
            decode(frame)
        except ProtocolError as error:
            assert error.payload["error"] == "validation_failed"
            assert [e["field"] for e in error.payload["errors"]] == [field]
        else:
            raise AssertionError(f"accepted {frame}")


def test_a_lone_surrogate_in_fast_path_output_is_replaced_not_passed_on():
    message = decode('{"type":"task_progress","task_id":"t","execution_event":'
                     '{"event_type":"stdout","text":"a\\ud800b"}}')
    assert message["execution_event"]["text"] == "a\ufffdb"
    message["execution_event"]["text"].encode("utf-8")
