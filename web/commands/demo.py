"""What ``serve --demo`` adds to a hub: a scratch copy of the demo board, a scratch git repository
for the task that works in its own worktree, the demo model endpoint, and two local agents.

The demo agents run shell commands and the demo model, never a real coding agent or a paid API,
even when ``claude`` or ``codex`` is installed: the board's Claude and Codex tasks wait, saying that
no agent can run them.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from importlib.resources import files
from pathlib import Path

from agentdeck.actors.reference_agent.agent import AgentSettings

DEMO_BOARD = files("agentdeck.work") / "collaboration"
DEMO_REPO = "demo-repo"  # beside collaboration/; the demo board's repo task names it
DEMO_AGENTS = ("demo-agent-1", "demo-agent-2")
_README = "# Demo service\n\nA scratch repository for the agentdeck demo.\n"
_CHANGELOG = "# Changelog\n\n## 0.3.0\n- First public release\n"

log = logging.getLogger("agentdeck.demo")


def prepare_demo() -> Path:
    """A scratch work directory: a copy of the demo board (the packaged one is never edited) and a
    small git repository with one commit."""
    target = Path(tempfile.mkdtemp(prefix="agentdeck-demo-"))
    shutil.copytree(str(DEMO_BOARD), target / "collaboration")
    try:
        make_demo_repo(target / DEMO_REPO)
    except (OSError, subprocess.CalledProcessError) as error:
        log.warning("no scratch git repository for the demo (is git installed?): %s", error)
    return target


def make_demo_repo(path: Path) -> None:
    path.mkdir()
    (path / "README.md").write_text(_README)
    (path / "CHANGELOG.md").write_text(_CHANGELOG)
    identity = ["-c", "user.name=agentdeck demo", "-c", "user.email=demo@agentdeck.invalid"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"],
                    [*identity, "commit", "-q", "-m", "Initial commit"]):
        subprocess.run(["git", *command], cwd=path, check=True, capture_output=True, timeout=30)


def demo_agents(address: str, work_dir: Path, model_url: str | None = None) -> list[AgentSettings]:
    """Two local reference agents: shell and the demo model, worktrees under the work directory."""
    hub_url = address.replace("http://", "ws://", 1) + "/ws"
    return [AgentSettings(hub_url=hub_url, agent_id=name, name=name, capabilities=("shell",),
                          ollama_url=model_url, work_dir=str(work_dir),
                          worktree_root=str(work_dir / ".agentdeck" / "worktrees"))
            for name in DEMO_AGENTS]
