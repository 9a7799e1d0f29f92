"""What an agent's output schema may use: the keywords the guest's checker knows
(wasm_targets/guest/wasmflow_guest/jsonshape.py has the same set; a test checks they agree)."""

from __future__ import annotations

from typing import Any

from app.dsl.loader import escape

KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "description",
        "title",
    }
)
TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})


def schema_problems(schema: Any, pointer: str = "") -> list[tuple[str, str]]:
    """(JSON pointer below the schema, message) for each keyword or value the guest cannot check."""
    out: list[tuple[str, str]] = []
    if not isinstance(schema, dict):
        return [(pointer, "must be a JSON Schema object")]
    for key, value in schema.items():
        here = f"{pointer}/{escape(key)}"
        if key not in KEYWORDS:
            out.append(
                (here, f"'{key}' is not supported in an output schema (supported: {', '.join(sorted(KEYWORDS))})")
            )
        elif key == "type":
            names = value if isinstance(value, list) else [value]
            bad = [n for n in names if n not in TYPES]
            if bad:
                out.append((here, f"unknown type {bad[0]!r}; use {', '.join(sorted(TYPES))}"))
        elif key == "properties":
            if not isinstance(value, dict):
                out.append((here, "must be an object of schemas"))
            else:
                for name, sub in value.items():
                    out += schema_problems(sub, f"{here}/{escape(name)}")
        elif key in ("items",) or (key == "additionalProperties" and not isinstance(value, bool)):
            out += schema_problems(value, here)
        elif key == "required" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            out.append((here, "must be a list of property names"))
        elif key == "enum" and not isinstance(value, list):
            out.append((here, "must be a list"))
        elif key in ("minimum", "maximum") and (isinstance(value, bool) or not isinstance(value, int | float)):
            out.append((here, "must be a number"))
        elif key in ("minLength", "maxLength", "minItems", "maxItems") and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            out.append((here, "must be a non-negative integer"))
    return out
