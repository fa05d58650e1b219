"""Running a program for an executor: argument vector or shell command, output streamed, the whole
process group killed on cancel or timeout.

A prompt never goes through a shell: coding-agent CLIs get an argument vector and the prompt on
stdin (or as one argument). Only commands a person wrote as shell (``shell_command``, verification
steps) run with ``sh -c``. Every program starts in its own session, so cancelling kills its children
too (TERM, then KILL after a grace period).
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from functools import partial

import attrs
import trio

from agentdeck.actors.reference_agent.output import MAX_PARTIAL_LINE, OutputBatcher

KILL_GRACE = 2.0
MAX_JSON_LINE = 8 * 1024 * 1024  # a tool result may carry a whole file; longer lines are dropped
LineHandler = Callable[[str], None]


@attrs.frozen
class ProcessOutcome:
    """How a program ended: its exit code, or why there is none."""

    exit_code: int | None
    timed_out: bool = False
    start_error: str | None = None  # the program could not be started (e.g. not installed)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self, timeout: float) -> str:
        if self.start_error is not None:
            return self.start_error
        if self.timed_out:
            return f"timed out after {timeout:g} s"
        return f"exit code {self.exit_code}"


async def kill_group(process: trio.Process) -> None:
    """Cancel delivery: the whole process group, TERM then KILL."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        if wait is not None:
            with trio.move_on_after(wait):
                await process.wait()
                return


async def _pump_text(stream: trio.abc.ReceiveStream, event_type: str, batcher: OutputBatcher) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    partial_line = ""
    while True:
        chunk = await stream.receive_some(65536)
        partial_line += decoder.decode(chunk, final=not chunk)
        cut = partial_line.rfind("\n") + 1
        if (cut == 0 and len(partial_line) > MAX_PARTIAL_LINE) or not chunk:
            cut = len(partial_line)
        batcher.add(event_type, partial_line[:cut])
        partial_line = partial_line[cut:]
        if not chunk:
            return


async def _pump_lines(stream: trio.abc.ReceiveStream, on_line: LineHandler,
                      batcher: OutputBatcher) -> None:
    """Whole lines to ``on_line`` (JSON Lines); an absurdly long line is dropped with a note."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    buffer = ""
    skipping = False
    while True:
        chunk = await stream.receive_some(65536)
        buffer += decoder.decode(chunk, final=not chunk)
        *lines, buffer = buffer.split("\n")
        if not chunk and buffer:
            lines, buffer = [*lines, buffer], ""
        for line in lines:
            if skipping:
                skipping = False
                continue
            if line.strip():
                on_line(line)
        if len(buffer) > MAX_JSON_LINE:
            batcher.add("status", f"[an output line over {MAX_JSON_LINE} characters was skipped]\n")
            buffer, skipping = "", True
        if not chunk:
            return


async def _feed(stream: trio.abc.SendStream, text: str) -> None:
    try:
        async with stream:
            await stream.send_all(text.encode("utf-8", "surrogatepass"))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the program exited without reading all of it; its exit code tells


async def run_streaming(command: str | Sequence[str], *, batcher: OutputBatcher, timeout: float,
                        cwd: str | None = None, stdin_text: str | None = None,
                        env: Mapping[str, str] | None = None,
                        on_stdout_line: LineHandler | None = None) -> ProcessOutcome:
    """Run ``command`` (a string runs with ``sh -c``, a sequence is an argument vector).

    stdout goes to ``on_stdout_line`` line by line when given, else into the batcher as ``stdout``;
    stderr always streams as ``stderr``. Cancellation (task abandoned) and the timeout both kill
    the process group.
    """
    shell = isinstance(command, str)
    full_env = {**os.environ, **env} if env else None
    exit_code: int | None = None
    start_error: str | None = None
    with trio.move_on_after(timeout) as deadline:
        async with trio.open_nursery() as nursery:
            try:
                process = await nursery.start(partial(
                    trio.run_process, command if shell else list(command), shell=shell,
                    check=False, cwd=cwd, env=full_env,
                    stdin=subprocess.DEVNULL if stdin_text is None else subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                    deliver_cancel=kill_group))
            except OSError as error:
                program = command if shell else (list(command) or ["?"])[0]
                start_error = f"cannot start {program}: {error.strerror or error}"
            else:
                if stdin_text is not None:
                    nursery.start_soon(_feed, process.stdin, stdin_text)
                if on_stdout_line is None:
                    nursery.start_soon(_pump_text, process.stdout, "stdout", batcher)
                else:
                    nursery.start_soon(_pump_lines, process.stdout, on_stdout_line, batcher)
                nursery.start_soon(_pump_text, process.stderr, "stderr", batcher)
        if start_error is not None:
            batcher.add("error", start_error + "\n")
            return ProcessOutcome(None, start_error=start_error)
        exit_code = process.returncode
    if deadline.cancelled_caught:
        batcher.add("error", f"timed out after {timeout:g} s; process killed\n")
        return ProcessOutcome(None, timed_out=True)
    return ProcessOutcome(exit_code)
