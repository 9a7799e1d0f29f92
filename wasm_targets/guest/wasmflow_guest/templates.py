"""Template rendering: generated code turns ``"a {{ x }} b"`` into ``"a " + text(x) + " b"``."""

from __future__ import annotations

import json


def text(value) -> str:
    """A template part as text: None -> "", str unchanged, dict/list -> JSON, anything else str()."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def concat(*parts) -> str:
    """Join template parts (literal strings and expression values) into one string."""
    return "".join(text(p) for p in parts)
