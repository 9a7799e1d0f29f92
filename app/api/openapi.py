"""The OpenAPI 3.1 document of the app, generated (apispec + MarshmallowPlugin) from what is registered.

Every ``/api`` rule of the app's url_map becomes an operation; views marked with ``common.operation`` add
their request/response schemas from ``app.api.schemas``; the DSL document is the DSL's own JSON Schema.
Nothing is written twice, so a new route can never be missing from the document.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify

from app import __version__ as _version
from app import dsl
from app.api import schemas as S

bp = Blueprint("openapi", __name__, url_prefix="/api")

DOC = "WorkflowDocument"
_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_METHODS = ("get", "post", "put", "patch", "delete")
_REASONS = {
    400: "Bad request",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    503: "Busy: try again shortly",
}


def _dsl_components(spec: APISpec) -> None:
    """Register the DSL JSON Schema as WorkflowDocument, its $defs as Dsl<name> components."""
    schema = copy.deepcopy(dsl.json_schema())
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id", "x-wasmflow-node-types"):
        schema.pop(key, None)

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (
                    ("#/components/schemas/Dsl" + v.removeprefix("#/$defs/"))
                    if k == "$ref" and isinstance(v, str)
                    else rewrite(v)
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    for name, sub in defs.items():
        spec.components.schema("Dsl" + name, rewrite(sub))
    spec.components.schema(DOC, rewrite(schema))


def _content(schema: Any, media: str = "application/json") -> dict[str, Any]:
    if schema is None:
        return {media: {"schema": {}}}
    if isinstance(schema, str):
        return {media: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {media: {"schema": schema}}


def _operation(rule, view, method: str) -> dict[str, Any]:
    meta = getattr(view, "_openapi", None) or {}
    doc = (view.__doc__ or "").strip().splitlines()
    op: dict[str, Any] = {
        "operationId": f"{rule.endpoint}.{method}",
        "summary": meta.get("summary") or (doc[0] if doc else rule.endpoint),
        "tags": [rule.endpoint.split(".")[0]],
        "responses": {},
    }
    params = []
    for conv, name in _PARAM.findall(rule.rule):
        kind = {"int": {"type": "integer", "minimum": 0}}.get(conv, {"type": "string"})
        params.append({"in": "path", "name": name, "required": True, "schema": kind})
    if meta.get("query") is not None:
        params.append({"in": "query", "schema": meta["query"]})
    if params:
        op["parameters"] = params
    code, out = meta.get("ok", (200, None))
    ok: dict[str, Any] = {"description": "OK" if code < 300 else "Done"}
    if code != 204:
        ok["content"] = _content(out, meta.get("content", "application/json"))
    op["responses"][str(code)] = ok
    errors = set(meta.get("errors", ()))
    if meta.get("body") is not None:
        op["requestBody"] = {"required": True, "content": _content(meta["body"])}
        errors |= {400, 413, 415, 422}
    if meta.get("query") is not None:
        errors.add(422)  # a bad query parameter: invalid_request naming ?param
    if not meta:
        errors |= {400, 404}
    for err in sorted(errors):
        op["responses"][str(err)] = {"description": _REASONS.get(err, "Error"), "content": _content(S.Error)}
    return op


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app``: every rule under /api, every method it accepts."""
    spec = APISpec(
        title="wasmflow",
        version=_version,
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": "Workflows compiled to WebAssembly, run durably. Every 4xx body is an Error."},
    )
    _dsl_components(spec)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api"):
            continue
        view = app.view_functions[rule.endpoint]
        path = _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule.rule)
        for method in _METHODS:
            if method.upper() in (rule.methods or ()):
                paths.setdefault(path, {})[method] = _operation(rule, view, method)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this API."""
    doc = current_app.extensions.get("wasmflow.openapi")
    if doc is None:
        doc = current_app.extensions["wasmflow.openapi"] = build_spec(current_app)
    return jsonify(doc)
