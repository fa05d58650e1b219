"""The floor for start-up and memory: a bare server that parses every task file, then serves them.

Run: python bench/floor_startup.py BOARD_DIR PORT
Walks the board, parses each ``*.yaml`` with PyYAML's C loader, keeps the parsed mappings by lane,
and answers ``GET /api/tasks`` with agentdeck's listing shape (``inbox``, ``assigned`` by agent,
``done`` by agent, ``dead``) as JSON. No validation, no cache, no watching, no framework.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_board(root: str) -> dict:
    listing: dict = {"inbox": [], "assigned": {}, "done": {}, "dead": []}
    for directory, _, files in os.walk(root):
        rel = os.path.relpath(directory, root).split(os.sep)
        for name in files:
            if not name.endswith(".yaml"):
                continue
            with open(os.path.join(directory, name), "rb") as handle:
                task = yaml.load(handle.read(), Loader=Loader)
            if rel[0] in ("assigned", "done") and len(rel) == 2:
                listing[rel[0]].setdefault(rel[1], []).append(task)
            elif rel[0] in ("inbox", "dead") and len(rel) == 1:
                listing[rel[0]].append(task)
    return listing


def main() -> None:
    board = read_board(sys.argv[1])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(board, default=str).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()


if __name__ == "__main__":
    main()
