"""The quick reader of plain task files: whatever it reads, it reads exactly as the full loader does.

Every document it accepts is also parsed by the full loader (the one ``parse_task`` falls back to)
and the two results must be equal value for value and type for type (``True`` is not ``1``);
documents the full loader refuses must be refused here too (``None``: the caller then gets the full
loader's error).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agentdeck.actors.board.plain_yaml import parse_plain
from agentdeck.actors.board.taskfile import dump_task, jsonable, load_yaml, parse_task


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b) and (not isinstance(a, dt.datetime) or a.tzinfo == b.tzinfo)


def full_loader(data: bytes) -> Any:
    try:
        return load_yaml(data)
    except (yaml.YAMLError, ValueError, RecursionError):
        return "refused"


def assert_exact(data: bytes) -> Any:
    quick = parse_plain(data)
    if quick is not None:
        full = full_loader(data)
        assert full != "refused", f"accepted what the full loader refuses: {data!r}"
        assert same(quick, full), f"{data!r}: {quick!r} != {full!r}"
    return quick


BENCH_FILE = (b"id: task-00007\ntitle: Task number 7 with a realistic title\npriority: low\nstatus: new\n"
              b"created: 2026-11-20T09:07:00Z\ndescription: |\n  Some words about what to do for task 7.\n"
              b"  A second line.\ntags: [bench, lane-1]\nestimated_hours: 8\n")


@pytest.mark.parametrize("data", [
    BENCH_FILE,
    BENCH_FILE.rstrip(b"\n"),
    b"id: a\ndescription: |-\n  one\n\n  two\n\n\nnext: x\n",
    b"a: yes\nb: No\nc: ~\nd: null\ne: 0x1F\nf: 1:30\ng: -5\nh: 1_000\ni: .inf\nj: 2026-01-02\nk: 3.5e3\n",
    b"tags:\n- a\n- 'b c'\n- \"d\"\n- 7\nafter: 1\n",
    b"deps:\n  - a\n  - b\n# a comment\nx: [1, 2.5, yes, null, x y, 2026-01-02]\ny: []\nz:\n",
    b"title: 'it''s: fine'\nlong: 'word word\n  word\n\n  next\n\n  '\n",
    b"a: 1\na: 2\nb: 3\n",
    "title: caf\u00e9 \U0001F600 \u2014 ok\n".encode(),
])
def test_common_shapes_are_read_quickly_and_exactly(data: bytes) -> None:
    assert assert_exact(data) is not None


@pytest.mark.parametrize("data", [
    b"a: &x 1\nb: *x\n", b"a: !!str 1\n", b"a: b: c\n", b"a: x #c\n", b"a:\n  b: 1\n", b"a: >\n  x\n",
    b"- a\n- b\n", b"---\na: 1\n", b"a: 1\r\nb: 2\r\n", b"a:\t1\n", b"yes: 1\n", b"a: |+\n  x\n\n",
    b"a: plain\n  continued\n", b"a: 'open\n", b"a: \"esc\\n\"\n", b"<<: {a: 1}\n", b"a: {b: 1}\n",
    b"a: [x, [y]]\n", b"a: [x: 1]\n", b"a: |\nb: 1\n", b"\xef\xbb\xbfa: 1\n", b"a: \xff\n", b"# only\n",
    b"a: 'x' y\n", b"a:\n- b\n  - c\n", b"a: |\n    x\n  y\n", b"a: %x\n", b"a: @x\n", b"a: =\n",
])
def test_anything_else_goes_to_the_full_loader(data: bytes) -> None:
    assert assert_exact(data) is None


def test_a_task_reads_the_same_either_way() -> None:
    fields = {"id": "t-1", "title": "A title: with a colon", "description": "Two lines.\nSecond.\n",
              "tags": ["a", "yes", "7"], "created": "2026-11-20T09:00:00Z", "long": "word " * 40,
              "estimated_hours": 2.5, "empty": None, "quote": "it's"}
    text = dump_task(fields).encode()
    assert parse_plain(text) is not None
    quick = parse_task("inbox/t-1.yaml", text)
    assert quick.fields == jsonable(load_yaml(text)) == fields
    assert (quick.title, quick.tags, quick.estimated_hours) == ("A title: with a colon", ("a", "yes", "7"), 2.5)


SCALAR_CHARS = " abXY09-_.:#'\"[]{},&*!|>%@`?~\\/\t\u00e9\U0001F600"
SPECIAL_SCALARS = ["yes", "No", "1", "-5", "0x1f", "0o7", "017", "2026-01-02", "2026-11-20T09:00:00Z",
                   "2026-11-20 09:00:00.5 +02:00", "1:30", "~", "null", ".inf", ".NaN", "3.5e3", "1_000", "a: b",
                   "x #y", "it's", "", " ", "'", "''", "- x", "-", "a:", ":a", "<<", "=", "---", "...", "#"]
mild = st.text(alphabet="abXY09 -_.:'\u00e9", max_size=10)
scalars = st.one_of(mild, mild, mild, st.sampled_from(SPECIAL_SCALARS), st.text(alphabet=SCALAR_CHARS, max_size=10))
keys = st.sampled_from(["id", "title", "yes", "null", "a-b", "_x", "on", "k k", "1", "Key", "tags"])


def _value(kind: str, text: str, lines: list[str], indent: int) -> str:
    pad = " " * indent
    if kind == "plain":
        return f" {text}"
    if kind == "single":
        return " '" + "\n".join(pad + line if i else line for i, line in enumerate([text, *lines])) + "'"
    if kind == "double":
        return f' "{text}"'
    if kind == "flow":
        return " [" + ", ".join([text, *lines]) + "]"
    if kind == "literal":
        body = "".join(f"\n{pad}{line}" if line else "\n" for line in [text, *lines])
        return " |" + ("-" if indent % 2 else "") + body
    return "".join(f"\n{pad}- {line}" for line in [text, *lines])


documents = st.lists(
    st.tuples(keys, st.sampled_from(["plain", "single", "double", "flow", "literal", "block"]), scalars,
              st.lists(scalars, max_size=3), st.sampled_from([2, 2, 1, 3, 0]),
              st.sampled_from(["", "", "\n", "\n# c", "\n  "])),
    min_size=1, max_size=4,
).map(lambda entries: "".join(f"{key}:{_value(kind, text, lines, indent)}\n{extra}"
                              for key, kind, text, lines, indent, extra in entries))


@settings(max_examples=3000, deadline=None)
@given(documents)
def test_generated_documents_are_read_exactly_or_left_to_the_full_loader(text: str) -> None:
    assert_exact(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(st.text(alphabet="abcdef_-yesnol", min_size=1, max_size=6),
                       st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                       | st.text(alphabet=SCALAR_CHARS + "\n ", max_size=120)
                       | st.lists(st.text(alphabet=SCALAR_CHARS, max_size=8), max_size=3), min_size=1, max_size=6))
def test_files_our_writer_makes_are_read_exactly(fields: dict[str, Any]) -> None:
    assert_exact(dump_task(fields).encode())
