"""A small JSON Schema checker for an agent's structured answer, inside the guest (stdlib only).

It knows the keywords in KEYWORDS; the compiler refuses an output schema using any other
(app/dsl/outschema.py keeps the same set, a test checks it), so what the editor accepts is what is checked.
"""

from __future__ import annotations

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
MAX_PROBLEMS = 10

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def problems(value, schema: dict, path: str = "") -> list[str]:
    """What is wrong with ``value`` against ``schema``: one message per problem, each naming its JSON path."""
    out: list[str] = []
    _check(value, schema, path or "$", out)
    return out[:MAX_PROBLEMS]


def _check(value, schema, path: str, out: list) -> None:
    if not isinstance(schema, dict) or len(out) >= MAX_PROBLEMS:
        return
    want = schema.get("type")
    if want is not None:
        names = want if isinstance(want, list) else [want]
        if not any(_TYPES.get(n, lambda v: False)(value) for n in names):
            out.append(f"{path} must be {' or '.join(names)}, not {_kind(value)}")
            return
    if "const" in schema and value != schema["const"]:
        out.append(f"{path} must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path} must be one of {', '.join(repr(e) for e in schema['enum'])}, not {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path} must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path} must be at most {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(f"{path} must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path} must have at most {schema['maxLength']} characters")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(f"{path} must have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{path} must have at most {schema['maxItems']} items")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                _check(item, schema["items"], f"{path}[{i}]", out)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in value:
                out.append(f"{path}.{name} is required")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                _check(item, props[name], f"{path}.{name}", out)
            elif extra is False:
                out.append(f"{path}.{name} is not allowed (allowed: {', '.join(props) or 'none'})")
            elif isinstance(extra, dict):
                _check(item, extra, f"{path}.{name}", out)


def _kind(value) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__
