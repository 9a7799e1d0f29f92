"""Field builders shared by the DSL schemas: expressions, templates, secret names, durations, and the
strict base schema (unknown fields are errors).
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema

from app.dsl import rules
from app.dsl.fields import DESCRIPTION, KIND, Func, JDict, JStr, Length, Pattern

MAX_TEXT = 100_000  # one expression, template or code block


def describe(text: str, **extra: Any) -> dict[str, Any]:
    """Field metadata: a description for the editor plus extra keys (x-wasmflow kind, items)."""
    return {DESCRIPTION: text, **extra}


def expr(text: str, *, scope: str | None = None, **kw: Any) -> JStr:
    """A Python expression field (parsed and scope-checked by checks.py, never evaluated here)."""
    meta = describe(text, **{KIND: "expression"})
    if scope:
        meta["x-wasmflow-scope"] = scope  # "body": evaluated in the map body's scope
    return JStr(validate=[Length(1, MAX_TEXT)], metadata=meta, **kw)


def template(text: str, *, scope: str | None = None, **kw: Any) -> JStr:
    """A text field with ``{{ expression }}`` parts."""
    meta = describe(text, **{KIND: "template"})
    if scope:
        meta["x-wasmflow-scope"] = scope
    return JStr(validate=[Length(None, MAX_TEXT)], metadata=meta, **kw)


def template_map(text: str, *, scope: str | None = None) -> JDict:
    meta = describe(text, **{KIND: "template"})
    if scope:
        meta["x-wasmflow-scope"] = scope  # "tool": an agent tool's field, which also sees `args`
    return JDict(
        keys=JStr(validate=[Pattern(rules.HEADER_RE, "a header or parameter name")]),
        values=JStr(validate=[Length(None, MAX_TEXT)]),
        load_default=dict,
        metadata=meta,
    )


def secret_name(text: str = "name of a secret stored on the server; the value never enters the workflow") -> JStr:
    return JStr(
        required=True, validate=[Pattern(rules.SECRET_RE, "a secret name like ERP_TOKEN")], metadata=describe(text)
    )


def duration(text: str, **kw: Any) -> JStr:
    return JStr(
        validate=[Func(rules.duration_problem, "bad_duration", pattern=rules.DURATION_RE)],
        metadata=describe(text),
        **kw,
    )


class Strict(Schema):
    """Unknown fields are errors; messages are predicates the loader prefixes with the field name."""

    error_messages = {"type": "must be an object", "unknown": "is not a known field"}

    class Meta:
        unknown = RAISE


def nested_default(schema: type[Schema]) -> Any:
    """load_default for a nested object: the schema's own defaults, so omitted and {} load alike."""
    return lambda: schema().load({})
