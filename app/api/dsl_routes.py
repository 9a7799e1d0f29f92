"""DSL and compiler endpoints: schema, capability table, validate, compile, artifact metadata."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request

from app import capabilities, dsl
from app.api import schemas as S
from app.api.common import operation, pool
from app.errors import UnsupportedMediaType, ValidationFailed

bp = Blueprint("dsl", __name__, url_prefix="/api")


def _body() -> bytes:
    if not request.is_json:
        raise UnsupportedMediaType(
            "send the workflow as JSON with Content-Type: application/json", details={"field": "Content-Type"}
        )
    return request.get_data()


@bp.get("/health")
@operation("Liveness", ok=(200, S.Health))
def health():
    return jsonify({"status": "ok"})


probes = Blueprint("probes", __name__)


@probes.get("/healthz")
def healthz():
    """Liveness for an orchestrator: the process answers."""
    return jsonify({"status": "ok"})


@probes.get("/readyz")
def readyz():
    """Readiness: the database answers and the engine is not stopping (a stopping process drains)."""
    engine = current_app.extensions.get("wasmflow.engine")
    if engine is not None and engine.world.stopping.is_set():
        return jsonify(
            {"status": "stopping", "error": {"code": "stopping", "message": "this process is stopping"}}
        ), 503
    try:
        with current_app.extensions["wasmflow.engine"].db.session() as s:
            s.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready, said as such
        message = f"the database does not answer: {type(exc).__name__}"
        return jsonify({"status": "unavailable", "error": {"code": "database_unavailable", "message": message}}), 503
    return jsonify({"status": "ready"})


@bp.get("/capabilities")
@operation("The host function table (capabilities)")
def capability_table():
    return jsonify({"capabilities": capabilities.describe()})


@bp.get("/dsl/schema")
@operation("JSON Schema of the DSL with per-node-type config schemas")
def dsl_schema():
    return jsonify(dsl.json_schema())


@bp.post("/validate")
@operation("Validate a DSL document", body="WorkflowDocument", ok=(200, S.ValidationResult))
def validate():
    problems = dsl.validate(_body())
    return jsonify({"valid": not problems, "errors": [p.to_dict() for p in problems]})


@bp.post("/compile")
@operation("Compile a DSL document", body="WorkflowDocument", ok=(200, S.CompileResult), errors=(422, 503))
def compile_():
    try:
        result = pool().compile(_body())
    except ValidationFailed as err:
        return jsonify({"error": err.to_dict()}), err.http_status
    return jsonify(result.to_dict())


@bp.get("/artifacts/<digest>")
@operation("Metadata of a compiled artifact", ok=(200, S.Artifact), errors=(404,))
def artifact(digest: str):
    return jsonify(pool().store.require(digest).to_dict())
