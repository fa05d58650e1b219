"""Each task in its own git worktree, verified before it is done: real temporary git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from fake_cli_agents import calls, install
from git_repos import git, make_repo

from agentdeck.actors.reference_agent.attempt import WorkspaceOptions, run_attempt
from agentdeck.actors.reference_agent.claude_code import ClaudeOptions
from agentdeck.actors.reference_agent.dispatch import Executors, run_target
from agentdeck.actors.reference_agent.executors import run_shell
from agentdeck.actors.reference_agent.workspace import open_workspace, remove_stale


class Events(list):
    async def __call__(self, event):
        self.append(event)

    def of(self, event_type: str) -> str:
        return "".join(e["text"] for e in self if e["event_type"] == event_type)


def shell(command: str, emit, runs: list | None = None):
    async def execute(cwd, feedback):
        if runs is not None:
            runs.append((cwd, feedback))
        env = {"AGENTDECK_VERIFICATION_FEEDBACK": feedback} if feedback else None
        return await run_shell(command, emit=emit, timeout=20, cwd=cwd, env=env)
    return execute


def options(tmp_path: Path, **extra) -> WorkspaceOptions:
    return WorkspaceOptions(root=tmp_path / "agent-root", base_dir=tmp_path, **extra)


def task(task_id: str, repo: Path | str, **fields):
    return {"task_id": task_id, "description": f"task {task_id}", "generation": 1, "repo": str(repo),
            **fields}


async def test_two_agents_on_one_repository_work_in_separate_worktrees(tmp_path):
    repo = make_repo(tmp_path / "repo")
    results: dict[str, dict] = {}

    async def one(name: str) -> None:
        events = Events()
        command = f"echo {name} > {name}.txt; sleep 0.5; ls -A | grep -v '^.git$' > {tmp_path}/seen-{name}"
        results[name] = await run_attempt(task(name, repo), run_executor=shell(command, events), emit=events,
                                          options=options(tmp_path), cwd=None, timeout=30)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, "alpha")
        nursery.start_soon(one, "beta")
    for name, other in (("alpha", "beta"), ("beta", "alpha")):
        result = results[name]
        assert result["status"] == "success", result["error"]
        ws = result["workspace"]
        assert ws["branch"] == f"agentdeck/{name}" and ws["base_branch"] == "main"
        assert [f["path"] for f in ws["files_changed"]] == [f"{name}.txt"]
        assert ws["files_changed"][0]["added"] == 1 and ws["insertions"] == 1
        assert len(ws["commits"]) == 1
        assert f"agentdeck task {name}" in git(repo, "log", "-1", "--format=%B", ws["head_commit"])
        assert (tmp_path / f"seen-{name}").read_text().split() == ["README.md", f"{name}.txt"], \
            "while both ran, neither saw the other's file"
        assert f"+{name}" in ws["diff"] and ws["worktree"] is None
        assert git(repo, "ls-tree", "--name-only", f"agentdeck/{name}").split() == ["README.md", f"{name}.txt"]
        assert f"{other}.txt" not in git(repo, "ls-tree", "--name-only", f"agentdeck/{name}")
    assert git(repo, "status", "--porcelain") == ""
    assert sorted(p.name for p in repo.iterdir()) == [".git", "README.md"]
    assert len(git(repo, "worktree", "list").splitlines()) == 1, "worktrees removed"


async def test_a_failing_verification_is_fed_back_and_passes_on_the_next_try(tmp_path):
    repo = make_repo(tmp_path / "repo")
    events, runs = Events(), []
    command = 'if [ -n "$AGENTDECK_VERIFICATION_FEEDBACK" ]; then echo fixed; else echo broken; fi > value.txt'
    result = await run_attempt(task("fix", repo, verification_steps=["test -f value.txt", "grep -q fixed value.txt"],
                                    max_verification_retries=2),
                               run_executor=shell(command, events, runs), emit=events, options=options(tmp_path),
                               cwd=None, timeout=30)
    assert result["status"] == "success", result["error"]
    assert len(runs) == 2 and runs[0][1] is None
    assert "grep -q fixed value.txt" in runs[1][1] and "exit code 1" in runs[1][1]
    first, second = result["verification_history"]
    assert [c["status"] for c in first["checks"]] == ["pass", "fail"] and first["status"] == "fail"
    assert [c["status"] for c in second["checks"]] == ["pass", "pass"] and second["status"] == "pass"
    assert (first["run_number"], second["run_number"]) == (1, 2) and first["task_id"] == "fix"
    assert second["summary"] == {"total": 2, "passed": 2, "failed": 0, "errors": 0, "timed_out": 0}
    assert first["checks"][1]["target"] == "grep -q fixed value.txt" and first["checks"][1]["exit_code"] == 1
    assert result["verification_report"] == second
    assert (result["verification_status"], result["verification_attempts"]) == ("verified", 2)
    assert "verification 2/2 (run 1): grep -q fixed value.txt" in events.of("status")
    assert "verification 2/2 FAILED" in events.of("error")
    assert git(repo, "show", f"{result['workspace']['head_commit']}:value.txt") == "fixed\n"


async def test_the_coding_agent_gets_the_failure_in_its_prompt(tmp_path):
    repo = make_repo(tmp_path / "repo")
    claude = install(tmp_path / "bin", "claude", scenario="fix_on_feedback")
    executors = Executors(claude=ClaudeOptions(binary=str(claude)))
    assignment = task("cc", repo, verification_steps=["grep -q fixed value.txt"], max_verification_retries=1,
                      routing_decision={"target_type": "claude", "selected_model": "claude-sonnet-4-5"})
    events = Events()

    async def execute(cwd, feedback):
        return await run_target("claude", assignment, executors, emit=events, timeout=30, cwd=cwd,
                                feedback=feedback)

    result = await run_attempt(assignment, run_executor=execute, emit=events, options=options(tmp_path),
                               cwd=None, timeout=60)
    assert result["status"] == "success", result["error"]
    prompts = [c["prompt"] for c in calls(claude)]
    assert len(prompts) == 2 and "did not pass verification" in prompts[1]
    assert "grep -q fixed value.txt" in prompts[1] and "task cc" in prompts[0]
    assert result["tokens_in"] == 2 * (12 + 3600 + 27000), "both tries counted"
    assert result["workspace"]["files_changed"][0]["path"] == "value.txt"


async def test_a_verification_that_never_passes_fails_the_attempt_with_the_step(tmp_path):
    repo = make_repo(tmp_path / "repo")
    events, runs = Events(), []
    result = await run_attempt(task("never", repo, verification_steps=["echo checking; exit 3", "true"],
                                    max_verification_retries=1),
                               run_executor=shell("echo work > w.txt", events, runs), emit=events,
                               options=options(tmp_path), cwd=None, timeout=30)
    assert result["status"] == "failed" and len(runs) == 2
    assert result["error"] == "verification step `echo checking; exit 3` failed (exit code 3) after 2 runs"
    last = result["verification_report"]
    assert [c["status"] for c in last["checks"]] == ["fail", "pass"] and last["status"] == "fail"
    assert last["checks"][0]["output"] == "checking\n" and result["verification_status"] == "partial_pass"
    assert result["workspace"]["branch"] == "agentdeck/never", "the work is kept on its branch"


async def test_a_dirty_base_checkout_is_left_untouched(tmp_path):
    repo = make_repo(tmp_path / "repo")
    (repo / "README.md").write_text("# Project\n\nuncommitted edit\n")
    (repo / "scratch.txt").write_text("untracked\n")
    before = git(repo, "status", "--porcelain")
    events = Events()
    result = await run_attempt(task("clean", repo), run_executor=shell("cat README.md; ls; echo x > new.txt", events),
                               emit=events, options=options(tmp_path), cwd=None, timeout=30)
    assert result["status"] == "success"
    assert "uncommitted edit" not in events.of("stdout") and "scratch.txt" not in events.of("stdout")
    assert git(repo, "status", "--porcelain") == before
    assert (repo / "README.md").read_text() == "# Project\n\nuncommitted edit\n"
    assert [f["path"] for f in result["workspace"]["files_changed"]] == ["new.txt"]
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


@pytest.mark.parametrize("kind", ["missing", "not_git", "file"])
async def test_a_missing_or_non_git_repo_fails_clearly_and_runs_nothing(tmp_path, kind):
    target = tmp_path / "target"
    if kind == "not_git":
        target.mkdir()
    elif kind == "file":
        target.write_text("x")
    runs: list = []
    result = await run_attempt(task("bad", target), run_executor=shell("true", Events(), runs), emit=Events(),
                               options=options(tmp_path), cwd=None, timeout=30)
    assert result["status"] == "failed" and not runs
    expected = {"missing": "no such directory", "not_git": "not a git repository", "file": "not a directory"}[kind]
    assert result["error"].startswith(f"workspace: repo '{target}': {expected}")


@pytest.mark.parametrize("keep_branch", [False, True])
async def test_an_agent_killed_mid_task_leaves_no_worktree(tmp_path, keep_branch):
    repo = make_repo(tmp_path / "repo")
    events = Events()
    started = trio.Event()

    async def emit(event):
        await events(event)
        if "working" in event["text"]:
            started.set()

    async with trio.open_nursery() as nursery:
        async def attempt():
            await run_attempt(task("killed", repo), run_executor=shell("echo working; echo x > f; sleep 30", emit),
                              emit=emit, options=options(tmp_path, keep_failed_branches=keep_branch),
                              cwd=None, timeout=60)
        nursery.start_soon(attempt)
        await started.wait()
        nursery.cancel_scope.cancel()
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert not any((tmp_path / "agent-root" / "worktrees").iterdir())
    branches = git(repo, "branch", "--list", "agentdeck/*").split()
    assert branches == (["agentdeck/killed"] if keep_branch else [])
    assert git(repo, "status", "--porcelain") == ""


async def test_an_existing_branch_is_continued_and_a_busy_one_gets_a_new_name(tmp_path):
    repo = make_repo(tmp_path / "repo")
    git(repo, "branch", "feature/x")
    git(repo, "checkout", "-q", "feature/x")
    (repo / "earlier.txt").write_text("from an earlier attempt\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "earlier work")
    git(repo, "checkout", "-q", "main")
    events = Events()
    result = await run_attempt(task("again", repo, branch="feature/x"),
                               run_executor=shell("test -f earlier.txt && echo more > more.txt", events),
                               emit=events, options=options(tmp_path), cwd=None, timeout=30)
    assert result["status"] == "success", result["error"]
    ws = result["workspace"]
    assert ws["branch"] == "feature/x" and "existed" in ws["note"]
    assert ws["base_commit"] == git(repo, "rev-parse", "main").strip()
    assert sorted(f["path"] for f in ws["files_changed"]) == ["earlier.txt", "more.txt"]
    # a branch checked out in the main checkout is never shared: the attempt gets its own
    result = await run_attempt(task("main-task", repo, branch="main"), run_executor=shell("echo y > y.txt", events),
                               emit=events, options=options(tmp_path), cwd=None, timeout=30)
    assert result["workspace"]["branch"] == "main-2" and "checked out elsewhere" in result["workspace"]["note"]
    assert git(repo, "rev-parse", "main").strip() == ws["base_commit"], "main itself not moved"


async def test_keep_worktree_and_invalid_branch_name(tmp_path):
    repo = make_repo(tmp_path / "repo")
    result = await run_attempt(task("kept", repo, keep_worktree=True), run_executor=shell("echo k > k.txt", Events()),
                               emit=Events(), options=options(tmp_path), cwd=None, timeout=30)
    kept = Path(result["workspace"]["worktree"])
    assert (kept / "k.txt").exists() and len(git(repo, "worktree", "list").splitlines()) == 2
    bad = await run_attempt(task("b", repo, branch="bad..name"), run_executor=shell("true", Events()),
                            emit=Events(), options=options(tmp_path), cwd=None, timeout=30)
    assert bad["status"] == "failed" and "not a valid branch name" in bad["error"]


async def test_skip_verification_and_a_verification_timeout(tmp_path):
    repo = make_repo(tmp_path / "repo")
    skipped = await run_attempt(task("skip", repo, verification_steps=["false"], skip_verification=True),
                                run_executor=shell("echo s > s.txt", Events()), emit=Events(),
                                options=options(tmp_path), cwd=None, timeout=30)
    assert skipped["status"] == "success" and "verification_report" not in skipped
    slow = await run_attempt(task("slow", repo, verification_steps=["sleep 20"], verification_timeout_ms=300),
                             run_executor=shell("echo t > t.txt", Events()), emit=Events(),
                             options=options(tmp_path), cwd=None, timeout=30)
    assert slow["status"] == "failed" and slow["verification_report"]["status"] == "timeout"
    assert "timed out after 0.3 s" in slow["error"]


async def test_a_clone_url_is_cloned_once_and_the_branch_lands_in_the_clone(tmp_path):
    origin = make_repo(tmp_path / "origin")
    url = f"file://{origin}"
    first = await run_attempt(task("u1", url), run_executor=shell("echo 1 > one.txt", Events()), emit=Events(),
                              options=options(tmp_path), cwd=None, timeout=60)
    assert first["status"] == "success", first["error"]
    ws = first["workspace"]
    assert ws["repo"] == url and ws["base_branch"] == "origin/HEAD" and ws["repo_path"] != str(origin)
    assert git(Path(ws["repo_path"]), "show", "agentdeck/u1:one.txt") == "1\n"
    second = await run_attempt(task("u2", url), run_executor=shell("echo 2 > two.txt", Events()), emit=Events(),
                               options=options(tmp_path), cwd=None, timeout=60)
    assert second["workspace"]["repo_path"] == ws["repo_path"], "the clone is reused (fetched again)"
    assert git(origin, "branch", "--list", "agentdeck/*") == "", "the origin is not pushed to"


async def test_option_like_names_are_refused_not_passed_to_git(tmp_path):
    repo = make_repo(tmp_path / "repo")
    for fields, expected in (({"branch": "--orphan"}, "not a valid branch name"),
                             ({"base_branch": "--output=/tmp/x"}, "base_branch '--output=/tmp/x' is not a valid"),
                             ({"base_branch": "no-such-branch"}, "base 'no-such-branch' not found")):
        runs: list = []
        result = await run_attempt(task("opt", repo, **fields), run_executor=shell("true", Events(), runs),
                                   emit=Events(), options=options(tmp_path), cwd=None, timeout=30)
        assert result["status"] == "failed" and expected in result["error"] and not runs
    hostile = await run_attempt(task("url", "--upload-pack@x:y"), run_executor=shell("true", Events()),
                                emit=Events(), options=options(tmp_path), cwd=None, timeout=30)
    assert hostile["status"] == "failed" and hostile["error"].startswith("workspace: git clone failed")


async def test_worktrees_of_a_killed_agent_are_removed_when_it_starts_again(tmp_path):
    repo = make_repo(tmp_path / "repo")
    root = tmp_path / "agent-root"
    left = await open_workspace(str(repo), "was-running", root=root, base_dir=tmp_path)
    (Path(left.path) / "half.txt").write_text("half done\n")
    kept = await open_workspace(str(repo), "kept", root=root, base_dir=tmp_path, keep=True)
    git(repo, "branch", "agentdeck/with-work", "main")
    continued = await open_workspace(str(repo), "with-work", root=root, base_dir=tmp_path)
    (Path(continued.path) / "w.txt").write_text("w\n")
    git(Path(continued.path), "add", "-A")
    git(Path(continued.path), "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "-m", "work")
    removed = await remove_stale(root, drop_branches=True)
    assert sorted(removed) == sorted([left.path, continued.path])
    assert not Path(left.path).exists() and Path(kept.path).exists()
    branches = git(repo, "branch", "--list", "agentdeck/*").split()
    assert "agentdeck/was-running" not in branches, "a branch with no work of its own is dropped"
    assert "agentdeck/with-work" in branches, "a branch holding commits is kept"
    assert len(git(repo, "worktree", "list").splitlines()) == 2  # main checkout + the kept one
    assert await remove_stale(root, drop_branches=True) == []
