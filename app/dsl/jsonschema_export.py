"""JSON Schema (draft 2020-12) of the DSL, derived from the marshmallow schemas in schema.py.

The editor builds its palette and forms from this: ``$defs`` holds one config schema per node type with
defaults and descriptions, string fields that hold user code carry ``"x-wasmflow": "expression" |
"template" | "code"``, and ``x-wasmflow-node-types`` lists each type's category, ports and output.
Graph rules (one trigger, edges, scope) are not expressible here; ``validate`` checks them.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, missing

from app.dsl.fields import (
    DESCRIPTION,
    KIND,
    Check,
    JBool,
    JDict,
    JInt,
    JList,
    JNested,
    JNum,
    JRaw,
    JStr,
    StatusItem,
    Tagged,
)
from app.dsl.schema import (
    DSL_VERSION,
    NODE_TYPES,
    DocumentSchema,
    EdgeSchema,
    NodeSchema,
)

SCHEMA_ID = "https://wasmflow.dev/schema/dsl/v1.json"


class _Exporter:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def ref(self, schema_cls: type[Schema], name: str | None = None) -> dict[str, Any]:
        name = name or _def_name(schema_cls)
        if name not in self.defs:
            self.defs[name] = {}  # placeholder first: schemas may refer to themselves
            self.defs[name] = self.obj(schema_cls())
        return {"$ref": f"#/$defs/{name}"}

    def obj(self, schema: Schema) -> dict[str, Any]:
        props = {name: self.field(f) for name, f in schema.fields.items()}
        out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        required = [name for name, f in schema.fields.items() if f.required]
        if required:
            out["required"] = required
        return out

    def field(self, f: fields.Field) -> dict[str, Any]:
        out: dict[str, Any] = {}
        meta = f.metadata
        if meta.get(DESCRIPTION):
            out["description"] = meta[DESCRIPTION]
        if isinstance(f, JDict):
            out["type"] = "object"
            if f.value_field is not None:
                value = self.field(f.value_field)
                if meta.get(KIND):
                    value[KIND] = meta[KIND]
                out["additionalProperties"] = value
            if f.key_field is not None:
                out["propertyNames"] = self.field(f.key_field)
        elif isinstance(f, JList):
            out["type"] = "array"
            items = meta.get("items")
            out["items"] = {"$ref": f"#/$defs/{items}"} if items else self.field(f.inner)
        elif isinstance(f, JNested):
            out.update(self.ref(f.nested))  # type: ignore[arg-type]
        elif isinstance(f, Tagged):
            out["oneOf"] = [self.ref(cls) for cls in f.variants.values()]
        elif isinstance(f, StatusItem):
            out["oneOf"] = [
                {"type": "integer", "minimum": 100, "maximum": 599},
                {"type": "string", "pattern": "^[2-5]xx$"},
            ]
        elif isinstance(f, JStr):
            out["type"] = "string"
            if meta.get(KIND):
                out[KIND] = meta[KIND]
            if meta.get("x-wasmflow-scope"):
                out["x-wasmflow-scope"] = meta["x-wasmflow-scope"]
        elif isinstance(f, JInt):
            out["type"] = "integer"
        elif isinstance(f, JNum):
            out["type"] = "number"
        elif isinstance(f, JBool):
            out["type"] = "boolean"
        elif isinstance(f, JRaw):
            pass  # any JSON value
        for v in f.validators:
            if isinstance(v, Check):
                out.update(v.schema)
        if f.allow_none and not isinstance(f, JRaw):
            out = _nullable(out)
        default = f.load_default
        if default is not missing:
            out["default"] = default() if callable(default) else default
        return out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema.get("type"), str) and "$ref" not in schema and "oneOf" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    keep = {k: schema.pop(k) for k in ("description",) if k in schema}
    return {**keep, "anyOf": [schema, {"type": "null"}]}


def _def_name(schema_cls: type[Schema]) -> str:
    name = schema_cls.__name__.removesuffix("Schema")
    return name[0].lower() + name[1:]


def build() -> dict[str, Any]:
    ex = _Exporter()
    ex.ref(EdgeSchema, "edge")
    node = ex.obj(NodeSchema())
    ex.defs["node"] = node
    node["properties"]["type"]["enum"] = list(NODE_TYPES)
    branches = []
    types: dict[str, Any] = {}
    for t in NODE_TYPES.values():
        config_name = f"config.{t.name}"
        ex.ref(t.config, config_name)
        branches.append(
            {
                "if": {"properties": {"type": {"const": t.name}}, "required": ["type"]},
                "then": {"properties": {"config": {"$ref": f"#/$defs/{config_name}"}}},
            }
        )
        types[t.name] = {
            "category": t.category,
            "summary": t.summary,
            "config": {"$ref": f"#/$defs/{config_name}"},
            "ports": list(t.ports) if t.name != "switch" else ["<each case's port>", *t.ports],
            "error_port": 'when on_error is "route"',
            "retry": t.calls_outside,
            "output": t.output,
        }
    node["allOf"] = branches
    doc = ex.obj(DocumentSchema())
    doc["properties"]["dsl"]["const"] = DSL_VERSION
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "wasmflow workflow (DSL v1)",
        **doc,
        "$defs": dict(sorted(ex.defs.items())),
        "x-wasmflow-node-types": types,
    }
