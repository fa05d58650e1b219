"""A quick reader for the plain YAML most task files are written in, with PyYAML for everything else.

Parsing is most of a cold start, and PyYAML builds a token stream and a node tree even for eight
``key: value`` lines. This reads the common shapes straight from the lines: top-level ``key: value``
pairs whose values are plain scalars, quoted scalars (single-quoted ones may run over several
lines, as our own writer folds them), ``|`` literal blocks, one-line ``[a, b]`` lists and block
lists of scalars. Plain scalars are typed by PyYAML's own implicit resolvers and built by its own
constructors, so ``yes``, ``1_000`` or ``2026-11-20T09:00:00Z`` come out exactly as the full loader
makes them. Anything else (anchors, tags, nested mappings, folded blocks, tabs, comments after a
value, odd indentation) returns ``None`` and the caller uses the full loader: a file is never read
differently, only faster.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

# YAML's printable characters less tab, CR, NEL, BOM and the Unicode line separators: anything
# outside this set sends the file to the full loader (which may well refuse it)
_UNUSUAL_CHARACTER = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
                                "\U00010000-\U0010ffff]")
_KEY_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?: +(.*))?")
_SINGLE_QUOTED = re.compile(r"'((?:[^']|'')*)' *")  # at the value's start, may span lines
_DOUBLE_QUOTED = re.compile(r'"([^"\\]*)" *')  # one line, no escapes
_FLOW_ITEM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ ./+-]*")  # no flow indicators, ':', '#' or quotes
_SEQUENCE_ITEM = re.compile(r"( *)- +(.*)")
_LITERAL_HEADER = re.compile(r"\|(-?) *")
_PLAIN_START = frozenset("-?:,[]{}#&*!|>'\"%@` ")  # cannot begin a plain scalar (or mean more)
_CONSTRUCTED = frozenset(f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp"))
_RESOLVERS = Resolver.yaml_implicit_resolvers
SHARED_TEXT = 16  # plain values this short (statuses, tags, agents) are kept once for the whole board
_CONSTRUCTOR = SafeConstructor()


class _Unsupported(Exception):
    """Outside the shapes read here: the full loader decides."""


def parse_plain(data: bytes) -> dict[str, Any] | None:
    """The file's top-level mapping as PyYAML's safe loader builds it, or None when the text is
    not in the plain shapes this reader knows (then, and only then, use the full loader)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _UNUSUAL_CHARACTER.search(text):
        return None
    try:
        return _Reader(text).mapping()
    except _Unsupported:
        return None


class _Reader:
    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.ends_with_break = text.endswith("\n")
        if self.ends_with_break:
            self.lines.pop()  # the empty rest after the last line break
        self.at = 0

    def mapping(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        lines = self.lines
        while self.at < len(lines):
            line = lines[self.at]
            stripped = line.lstrip(" ")
            if not stripped or stripped[0] == "#":
                self.at += 1
                continue
            match = _KEY_LINE.fullmatch(line)
            if match is None:
                raise _Unsupported
            key = sys.intern(match.group(1))  # one copy of "title" for the whole board
            if _resolved_tag(key) is not None:  # e.g. "yes" or "null" as a key: not a string
                raise _Unsupported
            self.at += 1
            fields[key] = self.value((match.group(2) or "").rstrip(" "))
        if not fields:
            raise _Unsupported
        return fields

    def value(self, text: str) -> Any:
        if not text:
            return self.block_sequence()
        first = text[0]
        if first in "'\"":
            return self.quoted(text, 0)
        if first == "[":
            return self.flow_sequence(text)
        if first == "|":
            header = _LITERAL_HEADER.fullmatch(text)
            if header is None:
                raise _Unsupported
            return self.literal(strip=header.group(1) == "-")
        value = _plain(text)
        self.no_continuation(0)
        return value

    def no_continuation(self, indent: int) -> None:
        """A plain scalar may go on over more-indented lines (folded): not read here."""
        lines = self.lines
        at = self.at
        while at < len(lines):
            stripped = lines[at].lstrip(" ")
            if stripped and stripped[0] != "#":
                if len(lines[at]) - len(stripped) > indent:
                    raise _Unsupported
                return
            at += 1

    def block_sequence(self) -> list[Any] | None:
        """``key:`` then ``- item`` lines (at the key's column or indented), else null."""
        lines = self.lines
        at = self.at
        while at < len(lines) and (not lines[at].strip(" ") or lines[at].lstrip(" ")[0] == "#"):
            at += 1
        if at == len(lines) or _KEY_LINE.fullmatch(lines[at]):
            return None
        first = _SEQUENCE_ITEM.fullmatch(lines[at])
        if first is None:
            raise _Unsupported
        indent = first.group(1)
        items: list[Any] = []
        self.at = at
        while self.at < len(lines):
            line = lines[self.at]
            stripped = line.lstrip(" ")
            if not stripped or stripped[0] == "#":
                self.at += 1
                continue
            item = _SEQUENCE_ITEM.fullmatch(line)
            if item is None or item.group(1) != indent:
                if line[0] == " ":
                    raise _Unsupported
                break
            self.at += 1
            text = item.group(2).rstrip(" ")
            if not text:
                raise _Unsupported
            if text[0] in "'\"":
                items.append(self.quoted(text, len(indent) + 1))
            else:
                items.append(_plain(text))
                self.no_continuation(len(indent))
        return items

    def quoted(self, text: str, indent: int) -> str:
        """A scalar in quotes: single-quoted ones may run over lines, double-quoted ones may not."""
        if text[0] == "'":
            return self.single_quoted(text, indent)
        match = _DOUBLE_QUOTED.fullmatch(text)
        if match is None:
            raise _Unsupported
        return match.group(1)

    def flow_sequence(self, text: str) -> list[Any]:
        if not text.endswith("]"):
            raise _Unsupported
        inside = text[1:-1].strip(" ")
        if not inside:
            return []
        items = []
        for part in inside.split(","):
            item = part.strip(" ")
            if not _FLOW_ITEM.fullmatch(item):
                raise _Unsupported
            items.append(_scalar(item))
        return items

    def single_quoted(self, text: str, indent: int = 0) -> str:
        """A single-quoted scalar; over several lines it is folded as YAML folds flow scalars."""
        match = _SINGLE_QUOTED.fullmatch(text)
        if match is not None:
            return match.group(1).replace("''", "'")
        if text.count("'") % 2 == 0:  # closed on this line, something after it
            raise _Unsupported
        pieces = [text[1:]]
        lines = self.lines
        while True:
            if self.at == len(lines):
                raise _Unsupported
            line = lines[self.at]
            self.at += 1
            if line.strip(" ") and len(line) - len(line.lstrip(" ")) <= indent:
                raise _Unsupported  # a continuation must be indented (and never '---' or '...')
            pieces.append(line)
            if line.count("'") % 2:
                break
        last = pieces[-1]
        close = last.rfind("'")
        if last[close + 1:].strip(" "):
            raise _Unsupported
        pieces[-1] = last[:close]
        body = _fold(pieces)
        if "'" in body.replace("''", ""):
            raise _Unsupported
        return body.replace("''", "'")

    def literal(self, *, strip: bool) -> str:
        """A ``|`` block: lines kept as written, less the block's indentation."""
        lines = self.lines
        content: list[str] = []
        indent = 0
        pending_blank = 0
        while self.at < len(lines):
            line = lines[self.at]
            stripped = line.lstrip(" ")
            spaces = len(line) - len(stripped)
            if not stripped:
                if (indent and spaces > indent) or (not indent and content):
                    raise _Unsupported
                if indent == 0 and spaces:
                    raise _Unsupported  # leading all-space lines: the indentation rules get subtle
                pending_blank += 1
                self.at += 1
                continue
            if indent == 0:
                if spaces == 0 or pending_blank:
                    raise _Unsupported
                indent = spaces
            elif spaces < indent:
                if spaces:
                    raise _Unsupported
                break
            content.extend([""] * pending_blank)
            pending_blank = 0
            content.append(line[indent:])
            self.at += 1
        if not content:
            raise _Unsupported
        if strip:
            return "\n".join(content)
        ended = self.at < len(lines) or pending_blank or self.ends_with_break
        return "\n".join(content) + ("\n" if ended else "")


def _fold(pieces: list[str]) -> str:
    """Flow-scalar line folding: a line break becomes a space, each blank line a newline, and
    the spaces around a break go."""
    out = [pieces[0].rstrip(" ")]
    blanks = 0
    for piece in pieces[1:-1]:
        if not piece.strip(" "):
            blanks += 1
            continue
        out.append("\n" * blanks if blanks else " ")
        out.append(piece.strip(" "))
        blanks = 0
    last = pieces[-1].lstrip(" ")
    out.append("\n" * blanks if blanks else " ")
    out.append(last)
    return "".join(out)


def _resolved_tag(text: str) -> str | None:
    """The implicit tag PyYAML gives a plain scalar, None for a string."""
    for tag, pattern in _RESOLVERS.get(text[:1], ()):
        if pattern.match(text):
            return str(tag)
    return None


def _scalar(text: str) -> Any:
    tag = _resolved_tag(text)
    if tag is None:
        return sys.intern(text) if len(text) <= SHARED_TEXT else text
    if tag not in _CONSTRUCTED:  # merge keys, '=' values
        raise _Unsupported
    try:
        return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, text))
    except Exception:  # e.g. "0b_": the full loader raises too, and says what it says
        raise _Unsupported from None


def _plain(text: str) -> Any:
    """A one-line plain scalar in block context, typed as PyYAML types it."""
    if text[0] in _PLAIN_START and not (text[0] == "-" and text[1:2].isdigit()):
        raise _Unsupported
    if ": " in text or " #" in text or text.endswith(":"):
        raise _Unsupported
    return _scalar(text)
