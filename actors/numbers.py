"""Numbers and times from outside (task files, agent results, done files) as the hub may use them.

A 400-digit ``tokens_in`` made SQLite refuse every row ("int too large for SQLite INTEGER") and
``.inf`` or ``.nan`` turned sums, formatting and ``int()`` into exceptions, on every start, since
done files are read again. Every number that reaches arithmetic, storage or a page passes here:
finite and at most ``MAX_MAGNITUDE`` in size, or it is treated as absent.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

MAX_MAGNITUDE = 10**15  # tokens, milliseconds, dollars: far below; exact as a float and in SQLite
MAX_NUMBER_TEXT = 40  # characters of a number written as text ("1.5e3") worth parsing


def bounded_number(value: Any, *, from_text: bool = False) -> int | float | None:
    """``value`` if it is a finite number within +-MAX_MAGNITUDE (text too, with ``from_text``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE else None
    if isinstance(value, float):
        return value if math.isfinite(value) and abs(value) <= MAX_MAGNITUDE else None
    if from_text and isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT:
        try:
            return bounded_number(float(value))
        except ValueError:
            return None
    return None


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """Text that can be encoded as UTF-8: lone surrogates (JSON and YAML escapes allow them, UTF-8
    does not, so one in an agent's name made every page that showed it a 500) become U+FFFD."""
    if text.isascii() or not LONE_SURROGATE.search(text):
        return text
    return LONE_SURROGATE.sub("\ufffd", text)


# epoch seconds a datetime can hold in any time zone (0001-01-02 .. 9999-12-30 UTC)
EARLIEST_INSTANT = -62135510400.0
LATEST_INSTANT = 253402041600.0


def instant_seconds(value: Any) -> float | None:
    """An ISO 8601 time (naive taken as UTC), a datetime or epoch seconds, as epoch seconds; None when
    unreadable or so far out ('9999-12-31T23:59:59-12:00') that converting it would raise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds: float | None = float(value) if math.isfinite(value) else None
    else:
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, str) and 0 < len(value) <= 64:
            try:
                moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                return None
        else:
            return None
        try:
            seconds = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
        except (OverflowError, ValueError, OSError):
            return None
    if seconds is None or not EARLIEST_INSTANT <= seconds <= LATEST_INSTANT:
        return None
    return seconds


def bounded_int(value: Any) -> int | None:
    """An int within bounds (a bounded float is truncated), else None."""
    number = bounded_number(value)
    return None if number is None else int(number)
