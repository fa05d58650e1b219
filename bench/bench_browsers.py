"""Many SSE browsers on one hub: a file change reaches every one of them, and a page still loads meanwhile.

Run: python bench/bench_browsers.py [--browsers 500] [--tasks 1000] [--changes 40] [--gap 0.5]
                                    [--no-gzip] [--profile FILE]

``--browsers`` raw SSE readers (one process, one thread, non-blocking sockets, as many browsers as
a real hub would hold; 500 Chromiums do not fit on one machine) hold ``/events`` open, asking for
gzip as browsers do. Files change as in ``bench_live_latency.py`` (a create in the inbox, an edit in
place, in turn, ``--gap`` s apart with +-30 % jitter); each reader notes when the kernel received
(``SO_TIMESTAMPNS``, so the readers' own scheduling does not count) the first bytes naming the task
(its id or its hash). Printed: latency over every (reader, change) pair, the slowest reader of each
change, changes a reader never saw, the hub's CPU per change; and ``GET /`` (a new browser's page
load, a new connection each time, from a separate process) timed every 0.25 s, before the readers
connect and while the changes go out. The floor is ``bench/floor_sse.py`` with the same readers
(no compression: it sends one line per change). ``--profile`` runs py-spy on the hub during the
changes (raw format).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import queue
import random
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

from bench_live_latency import cpu_seconds, free_port, make_board, percentile, start_agentdeck, start_floor, task_text

from agentdeck.web.view.present import task_hash

CONNECT_BATCH = 50  # connections opened at once (the listen backlog is ~100)
SETTLE_S = 2.0
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; also the control message's type
PAGE_EVERY_S = 0.25


class Stream:
    """One browser's ``/events``: HTTP head, chunked framing and gzip undone as bytes arrive."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.head = b""
        self.body_started = False
        self.chunked = False
        self.inflate: zlib._Decompress | None = None  # type: ignore[name-defined]
        self.raw = bytearray()
        self.chunk_left = 0  # bytes of the current chunk still to come (then its CRLF)
        self.tail = b""
        self.first_at: float | None = None
        self.bytes = 0
        self.reads = 0
        self.seen: dict[int, float] = {}
        self.unseen: list[int] = []
        self.known = 0

    def feed(self, data: bytes) -> bytes:
        """The event-stream text in ``data`` (empty while the head or a chunk header is incomplete)."""
        self.bytes += len(data)
        self.reads += 1
        if not self.body_started:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return b""
            head, _, data = self.head.partition(b"\r\n\r\n")
            lines = head.lower().split(b"\r\n")
            self.chunked = b"transfer-encoding: chunked" in lines
            if b"content-encoding: gzip" in lines:
                self.inflate = zlib.decompressobj(31)
            self.body_started = True
        body = self._dechunk(data) if self.chunked else data
        return self.inflate.decompress(body) if self.inflate is not None else body

    def _dechunk(self, data: bytes) -> bytes:
        self.raw += data
        out = bytearray()
        while self.raw:
            if self.chunk_left > 0:
                take = min(self.chunk_left, len(self.raw))
                out += self.raw[:take]
                del self.raw[:take]
                self.chunk_left -= take
                if self.chunk_left == 0:
                    self.chunk_left = -2  # its CRLF
                continue
            if self.chunk_left < 0:
                drop = min(-self.chunk_left, len(self.raw))
                del self.raw[:drop]
                self.chunk_left += drop
                continue
            end = self.raw.find(b"\r\n")
            if end < 0:
                break
            self.chunk_left = int(bytes(self.raw[:end]).split(b";")[0], 16) or -1
            del self.raw[:end + 2]
        return bytes(out)


class Readers:
    """Every browser's socket read in one thread; each change is matched as its bytes arrive."""

    def __init__(self, changes: list[tuple[float, tuple[bytes, ...]]]) -> None:
        self.changes = changes  # appended by the writer before each change is made
        self.selector = selectors.DefaultSelector()
        self.streams: list[Stream] = []
        self.new: queue.Queue[Stream] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.cpu = 0.0

    def connect(self, port: int, path: str, count: int, gzip: bool) -> None:
        request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
                   f"Cache-Control: no-cache\r\n{'Accept-Encoding: gzip, deflate' + chr(13) + chr(10) if gzip else ''}"
                   f"\r\n").encode()
        for start in range(0, count, CONNECT_BATCH):
            for _ in range(min(CONNECT_BATCH, count - start)):
                sock = socket.create_connection(("127.0.0.1", port))
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                sock.sendall(request)
                sock.setblocking(False)
                stream = Stream(sock)
                self.streams.append(stream)
                self.new.put(stream)
            time.sleep(0.05)

    def _run(self) -> None:
        started = time.thread_time()
        space = socket.CMSG_SPACE(struct.calcsize("qq"))
        while not self.stop.is_set():
            while True:
                try:
                    stream = self.new.get_nowait()
                except queue.Empty:
                    break
                self.selector.register(stream.sock, selectors.EVENT_READ, stream)
            for key, _ in self.selector.select(0.05):
                stream = key.data
                try:
                    data, ancillary, _, _ = stream.sock.recvmsg(1 << 18, space)
                except BlockingIOError:
                    continue
                except OSError:
                    data, ancillary = b"", []
                if not data:
                    self.selector.unregister(stream.sock)
                    continue
                at = time.time()
                for level, kind, value in ancillary:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        seconds, nanos = struct.unpack("qq", value[:16])
                        at = seconds + nanos / 1e9
                if stream.first_at is None:
                    stream.first_at = at
                self._match(stream, at, stream.feed(data))
        self.cpu = time.thread_time() - started

    def _match(self, stream: Stream, at: float, text: bytes) -> None:
        if not text:
            return
        while stream.known < len(self.changes):
            stream.unseen.append(stream.known)
            stream.known += 1
        window = stream.tail + text
        stream.tail = text[-64:]
        for index in tuple(stream.unseen):
            started, needles = self.changes[index]
            if started <= at and any(needle in window for needle in needles):
                stream.seen[index] = at
                stream.unseen.remove(index)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for stream in self.streams:
            with contextlib.suppress(OSError):
                stream.sock.close()


def write_changes(board: Path, changes: list[tuple[float, tuple[bytes, ...]]], count: int, gap: float,
                  floor: bool, seed: int) -> None:
    """Creates and in-place edits in turn; each change is listed (with its time) just before it is made."""
    rng = random.Random(seed)
    edits = sorted(board.glob("inbox/*.yaml"))
    for i in range(count):
        if i % 2 == 0:
            task_id = f"new-{'f' if floor else 'a'}-{i:05}"
            path, text = board / "inbox" / f"{task_id}.yaml", task_text(task_id, 60_000 + i)
        else:
            path = edits[(i // 2) % len(edits)]
            task_id = path.stem
            text = task_text(task_id, int(task_id.rsplit("-", 1)[1]), f"edit-{i}")
        needles = (path.name.encode(),) if floor else (task_id.encode(), task_hash(task_id).encode())
        started = time.time()
        changes.append((started, needles))
        with open(path, "w") as handle:
            handle.write(text)
        time.sleep(max(0.0, gap * rng.uniform(0.7, 1.3) - (time.time() - started)))


def page_probe(base_url: str, seconds: float) -> None:
    """Separate process: ``GET /`` on a new connection every ``PAGE_EVERY_S``; prints the times (ms)."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    times, errors = [], []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("GET", "/", headers={"Accept-Encoding": "gzip", "Accept": "text/html"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status != 200:
                errors.append(f"HTTP {response.status}")
            else:
                times.append((time.perf_counter() - started) * 1000)
        except OSError as error:
            errors.append(type(error).__name__)
        time.sleep(max(0.0, PAGE_EVERY_S - (time.perf_counter() - started)))
    print(json.dumps({"times": times, "errors": errors}))


def start_probe(port: int, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--probe", f"http://127.0.0.1:{port}", "--seconds",
                             str(seconds)], stdout=subprocess.PIPE, text=True)


def probe_result(process: subprocess.Popen) -> tuple[list[float], list[str]]:
    out, _ = process.communicate(timeout=120)
    body = json.loads(out.strip().splitlines()[-1])
    return body["times"], body["errors"]


def measure(kind: str, args: argparse.Namespace, tmp: Path) -> dict:
    floor = kind == "floor"
    work = tmp / kind
    board = work / "collaboration"
    make_board(board, args.tasks)
    port = free_port()
    process = start_floor(board, port) if floor else start_agentdeck(work, port)
    result: dict = {}
    changes: list[tuple[float, tuple[bytes, ...]]] = []
    readers = Readers(changes)
    profiler = None
    try:
        if not floor:
            result["page_idle"] = probe_result(start_probe(port, 4.0))
        readers.connect(port, "/" if floor else "/events", args.browsers, gzip=args.gzip and not floor)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(s.first_at is None for s in readers.streams):
            time.sleep(0.1)
        time.sleep(SETTLE_S)
        result["connected"] = sum(s.first_at is not None for s in readers.streams)
        duration = args.changes * args.gap + SETTLE_S
        probe = None if floor else start_probe(port, duration)
        if args.profile and not floor:
            spy = str(Path(sys.executable).with_name("py-spy"))
            profiler = subprocess.Popen([spy, "record", "--pid", str(process.pid), "--format", "raw",
                                         "--duration", str(int(duration)), "--nonblocking", "-o", args.profile],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu = cpu_seconds(process.pid)
        load = os.getloadavg()[0]
        reads = sum(s.reads for s in readers.streams)
        write_changes(board, changes, args.changes, args.gap, floor, seed=args.tasks)
        time.sleep(SETTLE_S)
        result["cpu_ms_per_change"] = (cpu_seconds(process.pid) - cpu) / args.changes * 1000
        result["reads_per_change"] = (sum(s.reads for s in readers.streams) - reads) / args.browsers / args.changes
        result["load"] = (load, os.getloadavg()[0])
        if probe is not None:
            result["page_busy"] = probe_result(probe)
        if profiler is not None:
            profiler.wait(60)
    finally:
        readers.close()
        process.terminate()
        process.wait()
    pairs, slowest, missed = [], [], 0
    for index, (started, _) in enumerate(changes):
        seen = [(s.seen[index] - started) * 1000 for s in readers.streams if index in s.seen]
        missed += len(readers.streams) - len(seen)
        pairs.extend(seen)
        if seen:
            slowest.append(max(seen))
    result.update(pairs=pairs, slowest=slowest, missed=missed, reader_cpu=readers.cpu,
                  bytes=sum(s.bytes for s in readers.streams))
    return result


def line(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (f"p50 {percentile(values, 0.5):6.1f}  p95 {percentile(values, 0.95):6.1f}  "
            f"max {max(values):6.1f} ms ({len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--browsers", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between changes (+-30 %%)")
    parser.add_argument("--no-gzip", dest="gzip", action="store_false", help="readers do not ask for gzip")
    parser.add_argument("--profile", help="py-spy raw profile of the hub during the changes, to this file")
    parser.add_argument("--only", choices=("floor", "agentdeck"))
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        page_probe(args.probe, args.seconds)
        return
    print(f"{args.browsers} SSE readers ({'gzip' if args.gzip else 'plain'}), {args.tasks} tasks, "
          f"{args.changes} changes {args.gap} s apart; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}",
          flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="agentdeck-browsers-") as tmp:
        for kind in ("floor", "agentdeck"):
            if args.only in (None, kind):
                results[kind] = result = measure(kind, args, Path(tmp))
                print(f"{kind}: {result['connected']} of {args.browsers} streams, load {result['load'][0]:.2f}"
                      f" -> {result['load'][1]:.2f}", flush=True)
                print(f"  change -> every reader   {line(result['pairs'])}")
                print(f"  slowest reader of each   {line(result['slowest'])}")
                print(f"  missed {result['missed']} of {len(result['slowest']) and args.changes * args.browsers}; "
                      f"server CPU {result['cpu_ms_per_change']:.1f} ms per change; readers' CPU "
                      f"{result['reader_cpu']:.1f} s; {result['bytes'] / max(1, args.browsers) / 1024:.0f} KiB "
                      f"per reader; {result['reads_per_change']:.1f} reads per reader per change", flush=True)
                if kind == "agentdeck":
                    for name in ("page_idle", "page_busy"):
                        times, errors = result[name]
                        print(f"  GET / {name[5:]:4}  {line(times)}  errors {len(errors)} {errors[:3]}")
    if len(results) == 2:
        a, f = results["agentdeck"], results["floor"]
        print(f"ratio agentdeck / floor: p50 {percentile(a['pairs'], 0.5) / percentile(f['pairs'], 0.5):.1f}, "
              f"p95 {percentile(a['pairs'], 0.95) / percentile(f['pairs'], 0.95):.1f}")


if __name__ == "__main__":
    main()
