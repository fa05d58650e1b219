"""The floor for live latency: a bare inotify watcher pushing one SSE event per change to its clients.

Run: python bench/floor_sse.py BOARD_DIR PORT
Nothing but the kernel's notification, one read of the event and one write per client: no parsing,
no rendering, no framework. Watches every directory under BOARD_DIR (and new ones as they appear).
Any request opens a stream. Benchmarks measure agentdeck against this in the same run.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

from inotify_simple import INotify, flags

MASK = flags.CLOSE_WRITE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE | flags.CREATE
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Connection: keep-alive\r\n\r\nretry: 1000\n\n")


def main() -> None:
    root, port = Path(sys.argv[1]), int(sys.argv[2])
    clients: list[socket.socket] = []
    lock = threading.Lock()
    notify = INotify()
    dirs: dict[int, Path] = {}
    for directory, _, _ in os.walk(root):
        dirs[notify.add_watch(directory, MASK)] = Path(directory)

    def accept(server: socket.socket) -> None:
        while True:
            conn, _ = server.accept()
            conn.recv(65536)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sendall(HEAD)
            with lock:
                clients.append(conn)

    server = socket.create_server(("127.0.0.1", port), backlog=1024)  # 500 browsers may connect at once
    threading.Thread(target=accept, args=(server,), daemon=True).start()
    seq = 0
    while True:
        for event in notify.read():
            where = dirs.get(event.wd)
            if where is None:
                continue
            if event.mask & flags.ISDIR:
                if event.mask & flags.CREATE:
                    dirs[notify.add_watch(where / event.name, MASK)] = where / event.name
                continue
            if event.mask & flags.CREATE or not event.name.endswith(".yaml"):
                continue
            seq += 1
            data = f"id: {seq}\nevent: change\ndata: {where.name}/{event.name}\n\n".encode()
            with lock:
                for conn in tuple(clients):
                    try:
                        conn.sendall(data)
                    except OSError:
                        clients.remove(conn)


if __name__ == "__main__":
    main()
