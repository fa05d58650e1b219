"""A task's own git worktree: created on its branch from the base, committed and summarised after the
agent, then removed (or kept).

The repository's main checkout is never touched: the worktree starts from a commit, so uncommitted
changes there stay where they are and do not leak in. Each attempt gets a fresh directory; parallel
agents on one repository work in different directories on different branches. Git runs with an
argument vector, never through a shell.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import attrs
import trio

GIT_TIMEOUT = 120.0
MAX_DIFF = 64 * 1024  # characters of diff kept in the result (the task file keeps it)
MAX_FILES = 500
_UNSAFE_REF = re.compile(r"[^A-Za-z0-9._/-]+")
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)
IDENTITY = ("-c", "user.name=agentdeck", "-c", "user.email=agentdeck@localhost")


class WorkspaceError(Exception):
    """The workspace could not be prepared or finished; the message says why, for the task's error."""


@attrs.frozen
class Workspace:
    repo: str  # the repository's top level (a local clone for a URL)
    source: str  # what the task said: a path or a URL
    path: str  # the worktree
    branch: str
    base_ref: str
    base_commit: str
    created_branch: bool
    note: str | None = None


async def git(args: list[str], cwd: str | Path, *, check: bool = True) -> str:
    """Run git; returns stdout. A failure raises WorkspaceError with git's own message."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    with trio.move_on_after(GIT_TIMEOUT) as deadline:
        try:
            done = await trio.run_process(["git", *args], cwd=str(cwd), capture_stdout=True,
                                          capture_stderr=True, check=False, env=env)
        except OSError as error:
            raise WorkspaceError(f"cannot run git: {error.strerror or error}") from None
    if deadline.cancelled_caught:
        raise WorkspaceError(f"git {args[0]} took longer than {GIT_TIMEOUT:g} s")
    if check and done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit code {done.returncode}"
        raise WorkspaceError(f"git {args[0]} failed: {message[:500]}")
    return done.stdout.decode("utf-8", "replace")


def is_url(source: str) -> bool:
    return bool(_URL.match(source.strip()))


def branch_for(task_id: str, requested: Any) -> str:
    """The task's ``branch``, or ``agentdeck/<task-id>`` made safe for a ref name."""
    if isinstance(requested, str) and requested.strip():
        return requested.strip()
    safe = _UNSAFE_REF.sub("-", task_id).strip("-./")
    safe = re.sub(r"\.\.+", ".", safe).replace(".lock", "-lock") or "task"
    return f"agentdeck/{safe[:120]}"


async def _repository(source: str, base_dir: Path, clones: Path) -> str:
    """The top level of the repository the task names; a URL is cloned (or fetched) first."""
    if is_url(source):
        clone = clones / hashlib.sha256(source.encode()).hexdigest()[:16]
        if await trio.to_thread.run_sync(_prepare_clone_dir, clones, clone):
            await git(["fetch", "--quiet", "--prune", "origin"], clone)
        else:
            await git(["clone", "--quiet", "--", source, str(clone)], clones)
        return str(clone)
    path, problem = await trio.to_thread.run_sync(_local_directory, base_dir, source)
    if problem:
        raise WorkspaceError(f"repo {source!r}: {problem} ({path})")
    try:
        top = (await git(["rev-parse", "--show-toplevel"], path)).strip()
    except WorkspaceError:
        raise WorkspaceError(f"repo {source!r}: not a git repository ({path})") from None
    return top


def _prepare_clone_dir(clones: Path, clone: Path) -> bool:
    """Make the clones directory; True when this URL was cloned before."""
    clones.mkdir(parents=True, exist_ok=True)
    return (clone / ".git").exists()


def _local_directory(base_dir: Path, source: str) -> tuple[Path, str | None]:
    path = (base_dir / Path(source).expanduser()).resolve()
    if not path.exists():
        return path, "no such directory"
    return path, None if path.is_dir() else "not a directory"


def _make_parent(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)


async def _base(repo: str, base_branch: Any, cloned: bool) -> tuple[str, str]:
    """``(base_ref, base_commit)``: the task's ``base_branch``, else the default branch."""
    if isinstance(base_branch, str) and base_branch.strip():
        if base_branch.strip().startswith("-") or not (await git(
                ["check-ref-format", "--branch", base_branch.strip()], repo, check=False)).strip():
            raise WorkspaceError(f"base_branch {base_branch.strip()!r} is not a valid branch name")
        candidates = [base_branch.strip(), f"origin/{base_branch.strip()}"]
    elif cloned:
        candidates = ["origin/HEAD"]
    else:
        current = (await git(["symbolic-ref", "--quiet", "--short", "HEAD"], repo, check=False)).strip()
        candidates = [current or "HEAD"]
    for ref in candidates:
        commit = (await git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], repo,
                            check=False)).strip()
        if commit:
            return ref, commit
    raise WorkspaceError(f"base {candidates[0]!r} not found in {repo} (an empty repository?)")


async def _checked_out(repo: str) -> set[str]:
    listing = await git(["worktree", "list", "--porcelain"], repo)
    return {line.split(" ", 1)[1].removeprefix("refs/heads/") for line in listing.splitlines()
            if line.startswith("branch ")}


async def _branch_exists(repo: str, branch: str) -> bool:
    found = await git(["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], repo, check=False)
    return bool(found.strip())


async def open_workspace(source: str, task_id: str, *, branch: Any = None, base_branch: Any = None,
                         root: Path, base_dir: Path, keep: bool = False) -> Workspace:
    """Create the task's worktree under ``root`` (``worktrees/``, or ``kept/`` when it is to stay).

    A branch that already exists and is checked out nowhere (an earlier attempt's) is continued;
    one checked out elsewhere gets a suffix (``-2``, ``-3``, ...) so two worktrees never share it.
    """
    repo = await _repository(source, base_dir, root / "clones")
    base_ref, base_commit = await _base(repo, base_branch, is_url(source))
    name = branch_for(task_id, branch)
    check = await git(["check-ref-format", "--branch", name], repo, check=False)
    if not check.strip():
        raise WorkspaceError(f"branch {name!r} is not a valid branch name")
    busy = await _checked_out(repo)
    chosen, note = name, None
    suffix = 1
    while chosen in busy:
        suffix += 1
        chosen = f"{name}-{suffix}"
    if chosen != name:
        note = f"branch {name} is checked out elsewhere; working on {chosen}"
    existed = await _branch_exists(repo, chosen)
    label = branch_for(task_id, None).removeprefix("agentdeck/")[:50].replace("/", "-")
    path = root / ("kept" if keep else "worktrees") / f"{Path(repo).name}-{label}-{secrets.token_hex(3)}"
    await trio.to_thread.run_sync(_make_parent, path)
    if existed:
        await git(["worktree", "add", "--quiet", str(path), chosen], repo)
        base_commit = (await git(["merge-base", base_commit, chosen], repo, check=False)).strip() or base_commit
        note = (note + "; " if note else "") + f"branch {chosen} existed: continuing from its last commit"
    else:
        await git(["worktree", "add", "--quiet", "-b", chosen, str(path), base_commit], repo)
    return Workspace(repo=repo, source=source, path=str(path), branch=chosen, base_ref=base_ref,
                     base_commit=base_commit, created_branch=not existed, note=note)


async def _commit(ws: Workspace, message: str) -> bool:
    await git(["add", "-A"], ws.path)
    staged = await git(["diff", "--cached", "--name-only"], ws.path)
    if not staged.strip():
        return False
    identity = (await git(["config", "user.email"], ws.path, check=False)).strip()
    await git([*(() if identity else IDENTITY), "commit", "--quiet", "--no-verify", "-m", message],
              ws.path)
    return True


def _numstat(text: str) -> list[dict[str, Any]]:
    files = []
    for line in text.splitlines()[:MAX_FILES]:
        added, removed, path = [*line.split("\t", 2), "", ""][:3]
        files.append({"path": path, "added": int(added) if added.isdigit() else None,
                      "removed": int(removed) if removed.isdigit() else None,
                      "binary": added == "-"})
    return files


async def summarize(ws: Workspace, *, commit_message: str) -> dict[str, Any]:
    """Commit what the agent left, then describe the branch: commits, files, diff."""
    committed = await _commit(ws, commit_message)
    head = (await git(["rev-parse", "HEAD"], ws.path)).strip()
    log = await git(["log", "--format=%H%x09%s", f"{ws.base_commit}..{head}"], ws.path)
    diff = await git(["diff", "--no-color", "--no-ext-diff", ws.base_commit, head], ws.path)
    numstat = await git(["diff", "--numstat", ws.base_commit, head], ws.path)
    files = _numstat(numstat)
    return {
        "repo": ws.source, "repo_path": ws.repo, "branch": ws.branch, "base_branch": ws.base_ref,
        "base_commit": ws.base_commit, "head_commit": head, "committed": committed,
        "commits": [dict(zip(("sha", "subject"), line.split("\t", 1), strict=False))
                    for line in log.splitlines()][:100],
        "files_changed": files,
        "insertions": sum(f["added"] or 0 for f in files),
        "deletions": sum(f["removed"] or 0 for f in files),
        "diff": diff[:MAX_DIFF], "diff_truncated": len(diff) > MAX_DIFF, "diff_chars": len(diff),
        "note": ws.note,
    }


async def remove(ws: Workspace, *, drop_branch: bool = False) -> None:
    """Remove the worktree (and the branch when asked and this attempt created it); never raises."""
    with trio.CancelScope(shield=True), trio.move_on_after(GIT_TIMEOUT):
        try:
            await git(["worktree", "remove", "--force", ws.path], ws.repo, check=False)
            await trio.to_thread.run_sync(shutil.rmtree, ws.path, True)
            await git(["worktree", "prune"], ws.repo, check=False)
            if drop_branch and ws.created_branch:
                await git(["branch", "-D", ws.branch], ws.repo, check=False)
        except WorkspaceError:
            pass


def _stale_worktrees(root: Path) -> list[tuple[Path, Path | None]]:
    """Worktree directories under ``root`` and the repository each belongs to (from its ``.git``
    file: ``gitdir: <repo>/.git/worktrees/<name>``), None when that cannot be read."""
    found: list[tuple[Path, Path | None]] = []
    directory = root / "worktrees"
    if not directory.is_dir():
        return found
    for path in sorted(directory.iterdir()):
        repo = None
        try:
            pointer = (path / ".git").read_text(errors="replace").strip()
            if pointer.startswith("gitdir:"):
                gitdir = Path(pointer.removeprefix("gitdir:").strip())
                repo = gitdir.parent.parent.parent if gitdir.parent.name == "worktrees" else None
        except OSError:
            pass
        found.append((path, repo))
    return found


async def remove_stale(root: Path, *, drop_branches: bool) -> list[str]:
    """At agent start nothing runs, so every worktree left under ``root`` belongs to an attempt the
    agent did not finish (it was killed): remove them, and their ``agentdeck/`` branches when they
    hold no commit of their own and ``drop_branches``. Returns the paths removed."""
    removed = []
    for path, repo in await trio.to_thread.run_sync(_stale_worktrees, root):
        branch = None
        if repo is not None:
            branch = (await git(["symbolic-ref", "--quiet", "--short", "HEAD"], path, check=False)).strip()
            await git(["worktree", "remove", "--force", str(path)], repo, check=False)
        await trio.to_thread.run_sync(shutil.rmtree, path, True)
        if repo is not None:
            await git(["worktree", "prune"], repo, check=False)
            if drop_branches and branch and branch.startswith("agentdeck/"):
                ahead = await git(["rev-list", "--count", f"HEAD..{branch}"], repo, check=False)
                if ahead.strip() == "0":
                    await git(["branch", "-D", branch], repo, check=False)
        removed.append(str(path))
    return removed
