"""Workflow endpoints: drafts, validation, compile, import/export, deploy, versions and rollback, test runs.

Thin: parse the request, call one function of ``app.engine.workflows`` / ``run_service``, serialize.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request, url_for
from werkzeug.routing import BuildError

from app.api import schemas as S
from app.api.common import draft_compiler, engine, json_body, load, operation, pool, query
from app.engine import run_service
from app.engine import workflows as wf

bp = Blueprint("workflows", __name__, url_prefix="/api/workflows")

DOC = "WorkflowDocument"  # the DSL's own JSON Schema, registered by app.api.openapi


def _db():
    return engine().db


def _who() -> str | None:
    """Who makes the request (with access control on): their email, for versions and deployments."""
    who = g.get("principal")
    return who.email if who is not None else None


def _space() -> str:
    """The request's workspace (app.api.access sets it for every API request)."""
    return g.get("workspace") or "default"


def _webhook_url(result: dict) -> str | None:
    """Where callers send webhooks: built from whichever registered route takes a ``token`` (webhooks own it)."""
    if result.get("trigger") != "trigger.webhook":
        return None

    for rule in current_app.url_map.iter_rules():
        if "token" in rule.arguments:
            try:
                return url_for(rule.endpoint, token=result["webhook_token"], _external=True)
            except BuildError:
                continue
    return request.host_url.rstrip("/") + f"/hooks/{result['webhook_token']}"


@bp.get("")
@operation("List workflows", ok=(200, S.WorkflowList))
def list_():
    return jsonify({"workflows": wf.list_workflows(_db(), workspace=_space())})


@bp.post("")
@operation("Create a workflow from a DSL document", body=DOC, ok=(201, S.WorkflowDetail), errors=(409, 415, 422))
def create():
    return jsonify(wf.create_workflow(_db(), json_body(), workspace=_space())), 201


@bp.post("/import")
@operation(
    "Import a DSL document (an existing name needs ?overwrite=true)",
    body=DOC,
    query_schema=S.ImportQuery,
    ok=(201, S.WorkflowDetail),
    errors=(409, 415, 422),
)
def import_():
    args = query(S.ImportQuery)
    return jsonify(wf.import_workflow(_db(), json_body(), overwrite=args["overwrite"], workspace=_space())), 201


@bp.get("/<name>")
@operation("Draft, revision, deployment and versions of a workflow", ok=(200, S.WorkflowDetail), errors=(404,))
def show(name: str):
    return jsonify(wf.get_workflow(_db(), name))


@bp.put("/<name>")
@operation(
    "Replace the draft (optimistic lock on revision); an invalid draft is saved too, with its errors",
    body=S.DraftUpdate,
    ok=(200, S.WorkflowDetail),
    errors=(404, 409, 415, 422),
)
def update(name: str):
    args = load(S.DraftUpdate, json_body())
    result = wf.update_draft(_db(), name, args["draft"], revision=args["revision"], allow_invalid=True)
    if result["valid"] and current_app.config.get("DRAFT_PRECOMPILE", True):
        draft_compiler().offer(name, result["draft"])  # so a test run usually finds it compiled
    return jsonify(result)


@bp.delete("/<name>")
@operation("Delete a workflow (refused while deployed)", ok=(204, None), errors=(404, 409))
def delete(name: str):
    wf.delete_workflow(_db(), name)
    return "", 204


@bp.post("/<name>/validate")
@operation("Validate the stored draft", ok=(200, S.ValidationResult), errors=(404,))
def validate(name: str):
    problems = wf.validate_workflow(_db(), name)
    return jsonify({"valid": not problems, "errors": [p.to_dict() for p in problems]})


@bp.post("/<name>/compile")
@operation("Compile the stored draft", ok=(200, S.CompileResult), errors=(404, 422))
def compile_(name: str):
    return jsonify(pool().compile(wf.draft_of(_db(), name)).to_dict())


@bp.get("/<name>/export")
@operation("The draft as a DSL document", ok=(200, DOC), errors=(404,))
def export(name: str):
    resp = jsonify(wf.export_workflow(_db(), name))
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return resp


@bp.post("/<name>/deploy")
@operation(
    "Deploy a compiled digest of the current draft as a new version",
    body=S.DeployRequest,
    ok=(200, S.DeployResult),
    errors=(404, 409, 415, 422),
)
def deploy(name: str):
    args = load(S.DeployRequest, json_body())
    eng = engine()
    result = wf.deploy(eng.db, eng.store, name, args["digest"], expected_revision=args.get("revision"), by=_who())
    return jsonify({**result, "webhook_url": _webhook_url(result)})


@bp.post("/<name>/undeploy")
@operation("Turn the workflow's triggers off", ok=(204, None), errors=(404,))
def undeploy(name: str):
    wf.undeploy(_db(), name)
    return "", 204


@bp.get("/<name>/versions")
@operation("Deployed versions", ok=(200, S.VersionList), errors=(404,))
def versions(name: str):
    return jsonify({"versions": wf.list_versions(_db(), name)})


@bp.get("/<name>/versions/<int:number>")
@operation("One version with its document", ok=(200, S.Version), errors=(404,))
def version(name: str, number: int):
    return jsonify(wf.get_version(_db(), name, number))


@bp.post("/<name>/versions/<int:number>/rollback")
@operation("Deploy an earlier version again", ok=(200, S.DeployResult), errors=(404, 409))
def rollback(name: str, number: int):
    eng = engine()
    result = wf.rollback(eng.db, eng.store, name, number, by=_who())
    return jsonify({**result, "webhook_url": _webhook_url(result)})


@bp.post("/<name>/runs")
@operation(
    "Start a run (deployed version; digest or draft=true for a test run)",
    body=S.RunStart,
    ok=(202, S.RunStarted),
    errors=(404, 409, 415, 422),
)
def start_run(name: str):
    args = load(S.RunStart, json_body())
    result = run_service.start_run(engine(), name, args["input"], digest=args.get("digest"), draft=args["draft"])
    return jsonify(result), 202
