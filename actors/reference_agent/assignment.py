"""Reading a ``task_assign``: a field may sit at the top level or in ``metadata`` (the task file's
fields), and any of them may be missing or of the wrong type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def metadata_of(assignment: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = assignment.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def field_of(assignment: Mapping[str, Any], key: str) -> Any:
    """The top-level value, else the one in metadata (None when neither is set)."""
    value = assignment.get(key)
    return value if value is not None else metadata_of(assignment).get(key)


def mapping_of(assignment: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = assignment.get(key)
    return value if isinstance(value, Mapping) else {}
