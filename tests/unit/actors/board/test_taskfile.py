"""Task files: where a path puts a task, how fields are read, and how bad input is refused."""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from conftest import REPO, task_yaml, write_task

from agentdeck.actors.board.taskfile import (
    MAX_TASK_FILE_BYTES,
    Incomplete,
    is_safe_name,
    lane_of,
    normalize_priority,
    parse_task,
    read_task_file,
    scan_board,
)


@pytest.mark.parametrize(
    ("relpath", "expected"),
    [
        ("inbox/a.yaml", ("inbox", None)),
        ("inbox/a.yml", ("inbox", None)),
        ("dead/a.yaml", ("dead", None)),
        ("assigned/backend-dev/a.yaml", ("assigned", "backend-dev")),
        ("done/writer/a.yml", ("done", "writer")),
    ],
)
def test_lane_comes_from_the_path(relpath: str, expected: tuple[str, str | None]) -> None:
    assert lane_of(relpath) == expected


@pytest.mark.parametrize(
    "relpath",
    [
        "inbox/a.txt",  # not YAML
        "inbox/.a.yaml",  # hidden (editor temp files)
        "inbox/.a.yaml.123.tmp",
        "inbox/sub/a.yaml",  # too deep for inbox
        "assigned/a.yaml",  # assigned needs an agent directory
        "done/a/b/c.yaml",
        "elsewhere/a.yaml",
        "a.yaml",
        "",
        "inbox/../a.yaml",
        "../inbox/a.yaml",
        "assigned/../a.yaml",
        "assigned/../inbox/a.yaml",
        "assigned/../../etc/a.yaml",
        "done/bad name!/a.yaml",
        "inbox/caf\udcff.yaml",  # a name with bytes that are not UTF-8, as os.listdir gives it
    ],
)
def test_paths_outside_the_lanes_are_not_tasks(relpath: str) -> None:
    assert lane_of(relpath) is None


def test_safe_names() -> None:
    assert is_safe_name("backend-dev_2.x")
    for bad in ("", ".", "..", "a/b", "a b", "x" * 129, "a\x00b", "é", "agent\n", "agent\r\n", "\nagent"):
        assert not is_safe_name(bad), bad


@pytest.mark.parametrize(
    ("word", "priority"),
    [
        ("critical", "critical"), ("URGENT", "critical"), ("Urgent ", "critical"),
        ("high", "high"), ("High", "high"),
        ("medium", "medium"), ("Normal", "medium"), ("NORMAL", "medium"),
        ("low", "low"), ("LOW", "low"),
        ("whenever", "medium"), (None, "medium"), (3, "medium"), ("", "medium"),
    ],
)
def test_priority_words(word: object, priority: str) -> None:
    assert normalize_priority(word) == priority


def test_all_documented_fields_are_read() -> None:
    text = task_yaml(
        id="T-1", title="Add a rate limiter", agent="backend-dev", status="in_progress",
        priority="Urgent", created="2026-11-20T09:00:00Z", description="Token bucket per client.",
        dependencies=["T-0"], estimated_effort_hours=3, tags=["api", "perf"], reviewer="sam",
    )
    task = parse_task("assigned/backend-dev/t1.yaml", text.encode(), mtime=12.5)
    assert (task.id, task.title, task.agent, task.status) == ("T-1", "Add a rate limiter", "backend-dev", "in_progress")
    assert (task.lane, task.lane_agent, task.path) == ("assigned", "backend-dev", "assigned/backend-dev/t1.yaml")
    assert task.priority == "critical"
    assert task.created == "2026-11-20T09:00:00Z"
    assert task.description == "Token bucket per client."
    assert task.dependencies == ("T-0",)
    assert task.estimated_hours == 3.0
    assert task.tags == ("api", "perf")
    assert task.fields["reviewer"] == "sam"  # unknown fields are kept as they are
    assert task.mtime == 12.5


def test_yaml_dates_and_created_at_become_iso_text() -> None:
    task = parse_task("inbox/x.yaml", b"created_at: 2026-11-20 09:30:00\ndue: 2026-12-01\n")
    assert task.created == "2026-11-20T09:30:00"
    assert task.fields["due"] == "2026-12-01"
    json.dumps(dict(task.fields), allow_nan=False)


def test_missing_fields_get_placeholders() -> None:
    task = parse_task("done/writer/2026-guide.yaml", b"{}\n")
    assert task.id == "2026-guide" and task.title == "2026-guide"
    assert task.status == "done" and task.priority == "medium"
    assert task.agent == "writer"  # the lane's agent when the file names none
    assert task.created is None and task.description == ""
    assert task.dependencies == () and task.tags == () and task.estimated_hours is None
    assert parse_task("inbox/n.yaml", b"title: t\n").status == "new"
    assert parse_task("dead/n.yaml", b"title: t\n").status == "dead"


def test_odd_field_values_never_raise() -> None:
    text = b"id: 42\ntitle: [a, b]\ntags: solo\ndependencies:\nestimated_hours: lots\n" \
           b"estimated_effort_hours: '2.5'\npriority: {x: 1}\n1: numeric key\n"
    task = parse_task("inbox/odd.yaml", text)
    assert task.id == "42"
    assert task.tags == ("solo",) and task.dependencies == ()
    assert task.estimated_hours == 2.5
    assert task.priority == "medium"
    assert task.fields["1"] == "numeric key"


def test_non_finite_numbers_stay_valid_json() -> None:
    task = parse_task("inbox/nan.yaml", b"estimated_hours: .nan\nscore: -.inf\n")
    assert task.estimated_hours is None
    json.dumps(dict(task.fields), allow_nan=False)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"title: [unclosed\n", "invalid YAML"),
        (b"title: x\n\tbad: tab\n", "invalid YAML"),
        (b"a: 1\n---\nb: 2\n", "invalid YAML"),
        (b"title: \xff\xfe\n", "invalid YAML"),
        (b"- just\n- a list\n", "expected a mapping"),
        (b"just a string\n", "expected a mapping"),
        (b"!!python/object/apply:os.system [echo hi]\n", "invalid YAML"),
        (b"a: " + b"[" * 20_000 + b"]" * 20_000 + b"\n", "nested more than 100 levels"),
    ],
)
def test_bad_content_is_a_clear_value_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_task("inbox/bad.yaml", data)


def test_alias_bomb_is_refused() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        prev, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    started = time.perf_counter()
    with pytest.raises(ValueError, match="aliases"):
        parse_task("inbox/bomb.yaml", "\n".join(lines).encode())
    assert time.perf_counter() - started < 0.5


def test_a_few_aliases_are_fine() -> None:
    task = parse_task("inbox/ok.yaml", b"base: &b {x: 1}\none: *b\ntwo: *b\ntitle: '*not an alias*'\n")
    assert task.fields["two"] == {"x": 1} and task.title == "*not an alias*"


def test_empty_file_is_incomplete(tmp_path: Path) -> None:
    for data in (b"", b"  \n\n"):
        with pytest.raises(Incomplete):
            parse_task("inbox/e.yaml", data)
    write_task(tmp_path, "inbox/e.yaml", b"")
    with pytest.raises(Incomplete):
        read_task_file(tmp_path, "inbox/e.yaml")


def test_a_50_mb_file_is_refused_quickly_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "inbox" / "huge.yaml"
    path.parent.mkdir()
    with open(path, "wb") as handle:
        handle.write(b"title: huge\ndescription: ")
        handle.truncate(50 * 1024 * 1024)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        read = read_task_file(tmp_path, "inbox/huge.yaml")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read.task is None and read.invalid is not None
    assert "byte limit" in read.invalid.error
    assert elapsed < 0.2
    assert peak < 2 * 1024 * 1024
    assert [r.invalid.path for r in scan_board(tmp_path) if r.invalid] == ["inbox/huge.yaml"]


def test_a_file_just_over_the_limit_is_refused_by_parse_too() -> None:
    with pytest.raises(ValueError, match="byte limit"):
        parse_task("inbox/big.yaml", b"t: " + b"x" * MAX_TASK_FILE_BYTES)


def test_parse_refuses_a_path_outside_the_lanes() -> None:
    with pytest.raises(ValueError, match="not a task file location"):
        parse_task("inbox/../../etc/passwd.yaml", b"title: x\n")


def test_scan_board_reads_every_lane_and_lists_invalid_files(tmp_path: Path) -> None:
    write_task(tmp_path, "inbox/a.yaml", task_yaml(title="A"))
    write_task(tmp_path, "dead/d.yml", task_yaml(title="D"))
    write_task(tmp_path, "assigned/bob/b.yaml", task_yaml(title="B"))
    write_task(tmp_path, "done/amy/c.yaml", task_yaml(title="C"))
    write_task(tmp_path, "inbox/broken.yaml", b"title: [\n")
    write_task(tmp_path, "inbox/empty.yaml", b"")
    write_task(tmp_path, "inbox/notes.txt", b"title: not a task\n")
    write_task(tmp_path, "inbox/.hidden.yaml", b"title: hidden\n")
    write_task(tmp_path, "assigned/bad name/x.yaml", b"title: skipped\n")
    write_task(tmp_path, "elsewhere/x.yaml", b"title: skipped\n")
    (tmp_path / "inbox" / "dir.yaml").mkdir()

    reads = scan_board(tmp_path)
    tasks = {r.path: r.task for r in reads if r.task}
    invalid = {r.path: r.invalid.error for r in reads if r.invalid}
    assert set(tasks) == {"inbox/a.yaml", "dead/d.yml", "assigned/bob/b.yaml", "done/amy/c.yaml"}
    assert tasks["done/amy/c.yaml"].lane_agent == "amy"
    assert set(invalid) == {"inbox/broken.yaml", "inbox/empty.yaml"}
    assert "invalid YAML" in invalid["inbox/broken.yaml"]
    assert "empty" in invalid["inbox/empty.yaml"]


def test_scan_of_a_missing_board_is_empty(tmp_path: Path) -> None:
    assert scan_board(tmp_path / "nothing") == []


EQUIVALENCE_DOCS = [
    "title: plain\ncount: 42\nhex: 0x1f\noct: 0o17\nsexagesimal: 1:30\nunderscored: 1_000\n",
    "ratio: 1.5\nexp: 1e3\nnan: .nan\ninf: -.inf\nneg: -7\nplus: +3\n",
    "yes: yes\nno: No\non: on\nt: true\nf: FALSE\nnull1: ~\nnull2: null\nempty:\n",
    "quoted_num: '42'\nquoted_bool: \"true\"\nquoted_null: '~'\nquoted_date: '2026-01-01'\n",
    "date: 2026-11-20\nstamp: 2026-11-20T09:00:00Z\nspaced: 2026-11-20 09:00:00.5 +02:00\n",
    "nested: {a: [1, two, {three: 3}], b: {c: {d: [e, f]}}}\nlist: [x, 1, 2.5, null, true]\n",
    "base: &base {priority: high, tags: [a]}\ntask:\n  <<: *base\n  title: merged\n",
    "multi: |\n  line one\n  line two\nfolded: >\n  folded\n  text\n",
    "set: !!set {a, b}\nomap: !!omap [{a: 1}, {b: 2}]\npairs: !!pairs [{a: 1}]\nbin: !!binary aGVsbG8=\n",
    "explicit: !!str 123\nexplicit_int: !!int '7'\nexplicit_float: !!float '1'\n",
    "'quoted key': 1\n? complex key\n: value\n1: int key\n2026-01-01: date key\n",
    "unicode: \"caf\\u00e9 \\u2603\"\nemoji: 🚀\n",
    "anchored: &x [1, 2]\nagain: *x\n",
    "{}",
]


@pytest.mark.parametrize("doc", EQUIVALENCE_DOCS)
def test_the_fast_loader_builds_what_the_safe_loader_builds(doc: str) -> None:
    import math

    import yaml

    from agentdeck.actors.board.taskfile import load_yaml

    expected, got = yaml.safe_load(doc), load_yaml(doc.encode())

    def same(a, b) -> bool:
        if isinstance(a, float) and math.isnan(a):
            return isinstance(b, float) and math.isnan(b)
        if isinstance(a, dict):
            return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)):
            return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
        return type(a) is type(b) and a == b

    assert same(expected, got), (expected, got)


def test_the_fast_loader_refuses_what_the_safe_loader_refuses() -> None:
    for doc in (b"? [a, b]\n: unhashable key\n", b"!!python/name:os.system x\n",
                b"a: !!python/object/new:os.system [ls]\n", b"a: &a [*a]\n"):
        with pytest.raises(ValueError):
            parse_task("inbox/bad.yaml", doc)


def test_the_demo_board_is_all_valid() -> None:
    demo = REPO / "work" / "collaboration"
    reads = scan_board(demo)
    assert reads and all(r.task is not None for r in reads), [r.invalid for r in reads if r.invalid]


# ------------------------------------------------------------------ the scan cache


@pytest.fixture
def no_racy_window(monkeypatch):
    from agentdeck.actors.board import scan_cache

    monkeypatch.setattr(scan_cache, "RACY_NS", 0)


def cached_entries(cache: Path) -> dict:
    return json.loads(cache.read_text())["entries"]


def forge_title(cache: Path, relpath: str, title: str) -> None:
    data = json.loads(cache.read_text())
    data["entries"][relpath][1]["title"] = title
    cache.write_text(json.dumps(data))


def test_a_cached_scan_gives_the_same_tasks(tmp_path: Path, no_racy_window) -> None:
    board, cache = tmp_path / "board", tmp_path / "state" / "scan-cache.json"
    write_task(board, "inbox/a.yaml", task_yaml(title="A", created="2026-11-20T09:00:00Z", hours=1.5,
                                                nested={"k": [1, "two", None]}))
    write_task(board, "done/amy/b.yaml", task_yaml(title="B", tags=["x"]))
    write_task(board, "inbox/bad.yaml", b"title: [\n")
    first = scan_board(board, cache)
    assert set(cached_entries(cache)) == {"inbox/a.yaml", "done/amy/b.yaml"}  # invalid files are not cached
    second = scan_board(board, cache)
    assert second == first
    assert [r.task.mtime for r in second if r.task] == [r.task.mtime for r in first if r.task]


def test_the_cache_is_used_only_while_the_file_is_unchanged(tmp_path: Path, no_racy_window) -> None:
    board, cache = tmp_path / "board", tmp_path / "cache.json"
    write_task(board, "inbox/a.yaml", task_yaml(title="A"))
    scan_board(board, cache)
    forge_title(cache, "inbox/a.yaml", "from the cache")
    assert scan_board(board, cache)[0].task.title == "from the cache"  # proof the cache is read

    write_task(board, "inbox/a.yaml", task_yaml(title="edited on disk"))
    assert scan_board(board, cache)[0].task.title == "edited on disk"

    forge_title(cache, "inbox/a.yaml", "from the cache")
    os.replace(board / "inbox" / "a.yaml", board / "inbox" / "tmp")
    write_task(board, "inbox/a.yaml", (board / "inbox" / "tmp").read_bytes())  # same text, new inode
    (board / "inbox" / "tmp").unlink()
    assert scan_board(board, cache)[0].task.title == "edited on disk"


def test_an_edit_that_keeps_size_and_modification_time_is_still_read_again(tmp_path: Path, no_racy_window) -> None:
    """An editor (or ``touch -r``) may put the old modification time back on a file edited in place
    while the hub was down: the change time still moves, and the cache entry no longer matches."""
    board, cache = tmp_path / "board", tmp_path / "cache.json"
    path = write_task(board, "inbox/a.yaml", task_yaml(title="AAAA"))
    scan_board(board, cache)
    before = path.stat()
    time.sleep(0.01)
    with open(path, "r+b") as handle:  # same inode, same size
        handle.write(path.read_bytes().replace(b"AAAA", b"BBBB"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert scan_board(board, cache)[0].task.title == "BBBB"


def test_a_first_scan_with_no_cache_reads_what_a_cached_scan_reads(tmp_path: Path, no_racy_window) -> None:
    board, cache = tmp_path / "board", tmp_path / "cache.json"
    for n in range(5):
        write_task(board, f"assigned/amy/t{n}.yaml", task_yaml(title=f"T{n}", tags=["a", n]))
    cold = scan_board(board, cache)
    assert scan_board(board, cache) == cold == scan_board(board, None)
    assert set(cached_entries(cache)) == {f"assigned/amy/t{n}.yaml" for n in range(5)}


def test_a_moved_or_deleted_file_leaves_the_cache(tmp_path: Path, no_racy_window) -> None:
    board, cache = tmp_path / "board", tmp_path / "cache.json"
    write_task(board, "inbox/a.yaml", task_yaml(title="A"))
    write_task(board, "inbox/b.yaml", task_yaml(title="B"))
    scan_board(board, cache)
    os.renames(board / "inbox" / "a.yaml", board / "assigned" / "bob" / "a.yaml")
    (board / "inbox" / "b.yaml").unlink()
    [read] = scan_board(board, cache)
    assert read.task.lane == "assigned" and read.task.lane_agent == "bob"
    assert set(cached_entries(cache)) == {"assigned/bob/a.yaml"}


def test_files_changed_just_now_are_not_cached(tmp_path: Path) -> None:
    board, cache = tmp_path / "board", tmp_path / "cache.json"
    write_task(board, "inbox/fresh.yaml", task_yaml(title="fresh"))
    scan_board(board, cache)
    assert cached_entries(cache) == {}


@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b'{"version": 999, "entries": {}}',
                                     b'{"version": 1, "entries": {"inbox/a.yaml": "junk"}}',
                                     b'{"version": 1, "entries": {"inbox/a.yaml": [[1, 2], "junk"]}}'])
def test_a_damaged_cache_is_ignored_and_rewritten(tmp_path: Path, no_racy_window, content: bytes) -> None:
    board, cache = tmp_path / "board", tmp_path / "cache.json"
    write_task(board, "inbox/a.yaml", task_yaml(title="A"))
    cache.write_bytes(content)
    assert scan_board(board, cache)[0].task.title == "A"
    assert set(cached_entries(cache)) == {"inbox/a.yaml"}


def test_symbolic_links_are_listed_as_invalid_and_never_followed(tmp_path: Path) -> None:
    board, outside = tmp_path / "board", tmp_path / "outside"
    write_task(outside, "secret.yaml", task_yaml(title="a secret outside the board"))
    write_task(board, "inbox/real.yaml", task_yaml(title="real"))
    (board / "inbox" / "link.yaml").symlink_to(outside / "secret.yaml")
    (board / "inbox" / "dangling.yaml").symlink_to(outside / "missing.yaml")
    (board / "assigned").mkdir()
    (board / "assigned" / "evil").symlink_to(outside)
    reads = {r.path: r for r in scan_board(board)}
    assert reads["inbox/real.yaml"].task.title == "real"
    for path in ("inbox/link.yaml", "inbox/dangling.yaml", "assigned/evil/secret.yaml"):
        assert reads[path].task is None and "symbolic link" in reads[path].invalid.error, path
    assert all("secret" not in str(r.task) for r in reads.values())
    assert read_task_file(board, "assigned/evil/secret.yaml").invalid.error.startswith("assigned/evil is")
