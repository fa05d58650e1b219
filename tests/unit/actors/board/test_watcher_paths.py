"""Changed paths as the board names them: plain ones as written (no disk access), the rest resolved."""

from __future__ import annotations

import os
from pathlib import Path

from agentdeck.actors.board.watcher import board_relpath


def test_a_path_built_from_the_board_directories_is_taken_as_written(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    assert board_relpath(f"{root}/inbox/t1.yaml", root) == "inbox/t1.yaml"
    assert board_relpath(f"{root}/done/a1/t 1.yaml", root) == "done/a1/t 1.yaml"
    assert board_relpath(f"{root}/inbox/.t1.yaml.swp", root) == "inbox/.t1.yaml.swp"
    assert board_relpath(str(root), root) == "."


def test_other_spellings_are_resolved_and_paths_outside_the_board_are_none(tmp_path: Path) -> None:
    root = (tmp_path / "board").resolve()
    (root / "inbox").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(root, tmp_path / "alias")
    assert board_relpath(f"{root}/inbox/../inbox/./t1.yaml", root) == "inbox/t1.yaml"
    assert board_relpath(f"{root}//inbox/t1.yaml", root) == "inbox/t1.yaml"
    assert board_relpath(f"{tmp_path}/alias/inbox/t1.yaml", root) == "inbox/t1.yaml"
    assert board_relpath(f"{root}/../elsewhere/t1.yaml", root) is None
    assert board_relpath(f"{root}-other/inbox/t1.yaml", root) is None
    assert board_relpath("/", root) is None
