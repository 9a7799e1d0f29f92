"""Size and nesting pre-checks, then JSON parsing: bad input becomes one clear Problem, never a traceback.

Nesting is measured without recursion (brackets outside strings for text; an explicit stack for dicts)
before anything recursive (json.loads, marshmallow) sees the document.
"""

from __future__ import annotations

import json
import math
import re
import sys
from itertools import accumulate
from typing import Any

from app.errors import InvalidJson, Problem

MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_KEEP_BRACKETS = {c: None for c in range(128) if chr(c) not in "[]{}"}
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class _BadJson(ValueError):
    pass


def escape(token: str | int) -> str:
    """One RFC 6901 reference token."""
    return str(token).replace("~", "~0").replace("/", "~1")


def _problem(message: str, code: str) -> list[Problem]:
    return [Problem(path="", message=message, code=code)]


def text_depth(text: str) -> int:
    """Deepest bracket nesting of JSON text, ignoring brackets inside strings."""
    outside = _STRING.sub("", text)
    brackets = outside.encode("ascii", "ignore").decode().translate(_KEEP_BRACKETS)
    if not brackets:
        return 0
    return max(accumulate(_STEP[ord(c)] for c in brackets))


def value_problem(value: Any, *, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a Python value is not a JSON document we accept (too deep, non-JSON types), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > max_depth:
                return f"the document is nested more than {max_depth} levels deep"
            for key, sub in item.items():
                if not isinstance(key, str):
                    return f"object keys must be strings, not {type(key).__name__}"
                stack.append((sub, depth + 1))
        elif isinstance(item, list):
            if depth > max_depth:
                return f"the document is nested more than {max_depth} levels deep"
            stack.extend((sub, depth + 1) for sub in item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "numbers must be finite (NaN and Infinity are not JSON)"
        elif not (item is None or isinstance(item, str | int | bool)):
            return f"{type(item).__name__} is not a JSON value"
    return None


def _no_constants(name: str) -> Any:
    raise _BadJson(f"{name} is not valid JSON")


class _Pairs:
    """``object_pairs_hook`` that keeps parsing past a duplicate key and remembers the objects that had one,
    so the problem can name the key's JSON pointer (the hook itself does not know where it is)."""

    def __init__(self) -> None:
        self.repeated: dict[int, str] = {}  # id(object) -> its first repeated key

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    self.repeated.setdefault(id(result), key)
                seen.add(key)
        return result

    def problem(self, value: Any) -> Problem | None:
        """The first repeated key in document order, located by a walk without recursion."""
        if not self.repeated:
            return None
        stack: list[tuple[Any, str]] = [(value, "")]
        while stack:
            item, pointer = stack.pop()
            if isinstance(item, dict):
                if id(item) in self.repeated:
                    key = self.repeated[id(item)]
                    return Problem(
                        f"{pointer}/{escape(key)}",
                        f"the key {json.dumps(key, ensure_ascii=False)} appears twice in one object",
                        "duplicate_key",
                    )
                children = [(sub, f"{pointer}/{escape(k)}") for k, sub in item.items()]
            elif isinstance(item, list):
                children = [(sub, f"{pointer}/{i}") for i, sub in enumerate(item)]
            else:
                continue
            stack.extend(reversed(children))
        return None  # pragma: no cover - every remembered object is part of the value


def parse_source(source: Any, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> tuple[Any, list[Problem]]:
    """Turn text, bytes or an already-parsed value into a JSON value; on failure return (None, [problem])."""
    if isinstance(source, bytes | bytearray | memoryview):
        raw = bytes(source)
        if len(raw) > max_bytes:
            return None, _problem(f"document is {len(raw):,} bytes; the limit is {max_bytes:,}", "too_large")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            return None, _problem(f"document is not UTF-8: invalid byte at offset {err.start}", "not_utf8")
        text = text.removeprefix("\ufeff")
    elif isinstance(source, str):
        text = source
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            return None, _problem(f"document is {size:,} bytes; the limit is {max_bytes:,}", "too_large")
    else:
        problem = value_problem(source, max_depth=max_depth)
        if problem:
            return None, _problem(problem, "too_deep" if "nested" in problem else "not_json")
        return source, []
    if not text.strip():
        return None, _problem("empty document", "empty")
    if text_depth(text) > max_depth:
        return None, _problem(f"the document is nested more than {max_depth} levels deep", "too_deep")
    pairs = _Pairs()
    try:
        value = json.loads(text, parse_constant=_no_constants, object_pairs_hook=pairs)
    except json.JSONDecodeError as err:
        return None, _problem(f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}", "not_json")
    except (ValueError, RecursionError) as err:  # NaN, huge integers
        return None, _problem(f"not valid JSON: {err}", "not_json")
    repeated = pairs.problem(value)
    return (None, [repeated]) if repeated else (value, [])


def parse_json(raw: bytes | str, *, what: str = "the body", max_depth: int = MAX_DEPTH + 1) -> Any:
    """A JSON request body (API, webhook, ``--input``) parsed exactly like a DSL document (no duplicate keys,
    NaN or nesting past ``max_depth``: a body holds a document or an input one level down); raises
    ``InvalidJson`` naming the place. The caller limits the size (e.g. Flask's ``MAX_CONTENT_LENGTH``)."""
    value, problems = parse_source(raw, max_bytes=sys.maxsize, max_depth=max_depth)
    if problems:
        raise InvalidJson(problems, f"{what} is not valid JSON")
    return value
