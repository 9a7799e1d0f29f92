"""DSL and compiler endpoints: schema, capability table, validate, compile, artifact metadata."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app import capabilities, dsl
from app.api.common import pool
from app.errors import UnsupportedMediaType, ValidationFailed

bp = Blueprint("dsl", __name__, url_prefix="/api")


def _body() -> bytes:
    if not request.is_json:
        raise UnsupportedMediaType(
            "send the workflow as JSON with Content-Type: application/json", details={"field": "Content-Type"}
        )
    return request.get_data()


@bp.get("/health")
def health():
    return jsonify({"status": "ok"})


@bp.get("/capabilities")
def capability_table():
    return jsonify({"capabilities": capabilities.describe()})


@bp.get("/dsl/schema")
def dsl_schema():
    return jsonify(dsl.json_schema())


@bp.post("/validate")
def validate():
    problems = dsl.validate(_body())
    return jsonify({"valid": not problems, "errors": [p.to_dict() for p in problems]})


@bp.post("/compile")
def compile_():
    try:
        result = pool().compile(_body())
    except ValidationFailed as err:
        return jsonify({"error": err.to_dict()}), err.http_status
    return jsonify(result.to_dict())


@bp.get("/artifacts/<digest>")
def artifact(digest: str):
    return jsonify(pool().store.require(digest).to_dict())
