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


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default)


def encode(message: dict[str, Any]) -> str:
    return _ENCODER.encode(message)  # one encoder: json.dumps with options builds one per call
