"""What a user gets from the wheel: `agentdeck serve --demo` answers pages and streams /events.

Run by .ci/run with the throwaway venv's Python, from `/`, with nothing but the standard library.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PAGES = ("/", "/graph", "/health", "/api/tasks", "/api/stats", "/static/htmx.min.js")


def main() -> int:
    agentdeck = Path(sys.executable).with_name("agentdeck")
    hub = subprocess.Popen([str(agentdeck), "serve", "--demo", "--port", "0"], cwd="/",
                           stdout=subprocess.PIPE, text=True)
    try:
        assert hub.stdout is not None
        line = hub.stdout.readline()
        found = re.search(r"dashboard at (http://\S+)/", line)
        if not found:
            print(f"smoke: the hub did not say where it listens: {line!r}", file=sys.stderr)
            return 1
        base = found.group(1)
        for path in PAGES:
            with urllib.request.urlopen(base + path, timeout=10) as answer:
                print(f"smoke: GET {path} -> {answer.status}")
        deadline = time.monotonic() + 20
        with urllib.request.urlopen(base + "/events", timeout=10) as stream:
            while time.monotonic() < deadline:
                event = stream.readline().decode()
                if event.startswith("event: lane"):
                    print(f"smoke: /events -> {event.strip()}")
                    return 0
        print("smoke: /events sent no lane event in 20 s", file=sys.stderr)
        return 1
    finally:
        hub.terminate()
        hub.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
