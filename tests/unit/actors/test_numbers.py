"""Numbers, times and text from outside (issue 12 items 4, 5, 9): bounded, finite, encodable."""

from __future__ import annotations

import json

from agentdeck.actors.numbers import MAX_MAGNITUDE, bounded_int, bounded_number, instant_seconds, without_surrogates
from agentdeck.actors.protocol.schema import ProtocolError, decode


def test_numbers_out_of_range_or_not_finite_are_absent():
    assert bounded_number(int("9" * 400)) is None and bounded_number(float("inf")) is None
    assert bounded_number(float("nan")) is None and bounded_number(True) is None
    assert bounded_number(MAX_MAGNITUDE) == MAX_MAGNITUDE and bounded_number(-3.5) == -3.5
    assert bounded_number("1e400", from_text=True) is None and bounded_number("12", from_text=True) == 12.0
    assert bounded_int(2.9) == 2


def test_far_times_are_unreadable_not_errors():
    for far in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2024-02-30", "", 1e300, None):
        assert instant_seconds(far) is None
    assert instant_seconds("2024-01-01T00:00:00") == instant_seconds("2024-01-01T00:00:00Z") == 1704067200.0


def test_lone_surrogates_become_replacement_characters():
    assert without_surrogates("bad\ud800name") == "bad\ufffdname"
    message = decode(json.dumps({"type": "identify", "agent_id": "a", "token": None, "name": "x\ud800\U0001F600"}))
    assert message["name"] == "x\ufffd\U0001F600"
    message["name"].encode("utf-8")


def test_an_agent_cannot_report_absurd_numbers():
    for bad in (int("9" * 400), 10**16):
        frame = json.dumps({"type": "task_complete", "task_id": "t", "generation": 1,
                            "result": {"tokens_in": bad, "estimated_cost_usd": 1}})
        try:
            decode(frame)
        except ProtocolError as error:
            assert error.payload["errors"][0]["field"] == "result.tokens_in"
        else:
            raise AssertionError(f"{bad} accepted")
