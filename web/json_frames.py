"""JSON text frames for the dashboard's socket: compact, UTF-8 as is, attrs values as plain JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return str(value)


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=_json_default)
