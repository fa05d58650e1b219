"""The reference agent's executors against a real shell and a real (fake-Ollama) HTTP server."""

from __future__ import annotations

import os
import sys

import pytest
import trio
from fake_ollama import FakeOllama

from agentdeck.actors.reference_agent.executors import run_ollama, run_shell
from agentdeck.actors.reference_agent.prompt import prompt_of


class Events(list):
    async def __call__(self, event):
        self.append(event)

    def text(self, event_type: str) -> str:
        return "".join(e["text"] for e in self if e["event_type"] == event_type)


async def test_shell_streams_stdout_and_stderr_lines():
    events = Events()
    result = await run_shell("echo one; echo two; echo oops >&2; printf 'no newline'",
                             emit=events, timeout=5)
    assert result["status"] == "success" and result["error"] is None
    assert result["exit_code"] == 0
    assert events.text("stdout") == "one\ntwo\nno newline"
    assert events.text("stderr") == "oops\n"
    assert "one\n" in result["output"] and "oops\n" in result["output"]
    assert result["model_used"] == "none"
    assert (result["tokens_in"], result["tokens_out"], result["estimated_cost_usd"]) == (0, 0, 0.0)
    assert isinstance(result["execution_ms"], int)
    assert all(isinstance(e["timestamp"], int) for e in events)


async def test_shell_output_arrives_while_the_command_runs():
    events = Events()
    seen_before_exit = []

    async def emit(event):
        await events(event)
        seen_before_exit.append(event["text"])

    with trio.fail_after(5):
        result = await run_shell("echo first; sleep 0.4; echo second", emit=emit, timeout=5,
                                 batch_interval=0.02)
    assert seen_before_exit[0] == "first\n", "first line must be sent before the command ends"
    assert result["status"] == "success"


async def test_many_lines_are_batched_into_few_events():
    events = Events()
    result = await run_shell("seq 1 5000", emit=events, timeout=5)
    assert events.text("stdout") == "".join(f"{i}\n" for i in range(1, 5001))
    assert len(events) < 50
    assert result["output"].endswith("5000\n")


async def test_a_flood_of_output_stays_within_frame_limits_and_memory():
    events = Events()

    async def slow_socket(event):
        await trio.sleep(0.01)
        await events(event)

    with trio.fail_after(10):
        result = await run_shell("head -c 30000000 /dev/zero | tr '\\0' 'x'; echo; echo done",
                                 emit=slow_socket, timeout=10)
    assert result["status"] == "success"
    assert max(len(e["text"]) for e in events) <= 64 * 1024
    assert "characters of output not streamed" in events.text("status")
    assert len(events.text("stdout")) < 30_000_000
    assert events.text("stdout").endswith("x\ndone\n")
    assert result["output"].endswith("x\ndone\n") and len(result["output"]) <= 128 * 1024


async def test_non_zero_exit_fails_with_output_kept():
    events = Events()
    result = await run_shell("echo partial work; echo broken >&2; exit 3", emit=events, timeout=5)
    assert result["status"] == "failed"
    assert result["error"] == "exit code 3" and result["exit_code"] == 3
    assert "partial work" in result["output"] and "broken" in result["output"]


async def test_timeout_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "survivor"
    events = Events()
    with trio.fail_after(5):
        result = await run_shell(f"echo started; sleep 0.6 && touch {marker} & sleep 30",
                                 emit=events, timeout=0.3)
    assert result["status"] == "failed"
    assert result["error"] == "timed out after 0.3 s"
    assert "started" in result["output"]
    assert "timed out" in events.text("error")
    await trio.sleep(0.6)
    assert not marker.exists(), "a background child of the shell outlived the timeout"


async def test_cancelling_a_shell_run_kills_it(tmp_path):
    pid_file = tmp_path / "pid"
    with trio.move_on_after(0.3):
        await run_shell(f"echo $$ > {pid_file}; exec sleep 30", emit=Events(), timeout=10)
    pid = int(pid_file.read_text())
    await trio.sleep(0.1)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_invalid_utf8_output_is_replaced_not_fatal():
    events = Events()
    result = await run_shell(f"{sys.executable} -c \"import sys; sys.stdout.buffer.write(b'ok \\xff\\n')\"",
                             emit=events, timeout=5)
    assert result["status"] == "success"
    assert events.text("stdout") == "ok \ufffd\n"


@pytest.fixture
async def ollama(nursery):
    fake = FakeOllama()
    shutdown = trio.Event()
    await nursery.start(fake.serve, shutdown)
    yield fake
    shutdown.set()


async def test_ollama_streams_tokens_and_reports_usage(ollama):
    events = Events()
    result = await run_ollama(ollama.url, "llama3.2", "say hello", emit=events, timeout=5,
                              batch_interval=0.01)
    assert ollama.requests == [{"model": "llama3.2", "prompt": "say hello", "stream": True}]
    assert events.text("token") == "Hello, world!"
    assert all(e["model"] == "llama3.2" for e in events)
    assert events[-1]["tokens_so_far"] == 4
    assert result["status"] == "success" and result["output"] == "Hello, world!"
    assert result["model_used"] == "llama3.2"
    assert (result["tokens_in"], result["tokens_out"]) == (12, 4)
    assert result["estimated_cost_usd"] == 0.0
    assert result["equivalent_claude_cost_usd"] > 0


async def test_ollama_retries_server_errors_with_status_events(ollama):
    ollama.fail_first = 2
    events = Events()
    result = await run_ollama(ollama.url, "llama3.2", "x", emit=events, timeout=5, retry_delay=0.01)
    assert result["status"] == "success"
    assert len(ollama.requests) == 3
    status = events.text("status")
    assert "Ollama retry 1/2..." in status and "Ollama retry 2/2..." in status


async def test_ollama_gives_up_after_the_retries(ollama):
    ollama.fail_first = 10
    events = Events()
    result = await run_ollama(ollama.url, "llama3.2", "x", emit=events, timeout=5, retries=2,
                              retry_delay=0.01)
    assert result["status"] == "failed" and len(ollama.requests) == 3
    assert "HTTP 500" in result["error"]
    assert "HTTP 500" in events.text("error")


async def test_ollama_unknown_model_is_not_retried(ollama):
    ollama.missing_models = {"nope"}
    result = await run_ollama(ollama.url, "nope", "x", emit=Events(), timeout=5, retry_delay=0.01)
    assert result["status"] == "failed" and len(ollama.requests) == 1
    assert "not found" in result["error"]


async def test_ollama_unreachable_endpoint_fails_clearly():
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await run_ollama(f"http://127.0.0.1:{port}", "llama3.2", "x", emit=Events(),
                              timeout=5, retries=1, retry_delay=0.01)
    assert result["status"] == "failed" and "ConnectError" in result["error"]


async def test_ollama_timeout(ollama):
    ollama.stall_after = 1
    result = await run_ollama(ollama.url, "llama3.2", "x", emit=Events(), timeout=2.0)
    assert result["status"] == "failed" and result["error"] == "timed out after 2 s"
    assert result["output"].startswith("Hello")


def test_prompt_includes_hints_and_criteria():
    prompt = prompt_of({"description": "Fix it", "file_hints": ["a.py"],
                        "success_criteria": "tests pass"})
    assert prompt == "Fix it\n\nRelevant files:\n- a.py\n\nSuccess criteria: tests pass"


def test_prompt_renders_object_hints_as_the_elixir_hub_sends_them():
    prompt = prompt_of({"description": "d", "file_hints": [{"path": "lib/a.ex", "reason": "entry"}],
                        "verification_steps": [{"type": "test", "command": "mix test"}]})
    assert "- lib/a.ex (reason: entry)" in prompt
    assert "- mix test (type: test)" in prompt
