"""Run endpoints: list with filters and paging, details (per-node view, logs, journal, lineage), cancel, resume,
resolve a call of unknown outcome, replay from a node."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from app.api import schemas as S
from app.api.common import engine, json_body, load, operation, query
from app.engine import run_service

bp = Blueprint("runs", __name__, url_prefix="/api/runs")


@bp.get("")
@operation("List runs, newest first", query_schema=S.RunListQuery, ok=(200, S.RunList), errors=(422,))
def list_():
    return jsonify(
        run_service.list_runs(engine().db, **query(S.RunListQuery), workspace=g.get("workspace") or "default")
    )


@bp.get("/<run_id>")
@operation(
    "A run: status, version, per-node view, logs", query_schema=S.RunShowQuery, ok=(200, S.RunDetail), errors=(404,)
)
def show(run_id: str):
    args = query(S.RunShowQuery)
    return jsonify(run_service.run_details(engine().db, run_id, with_journal=args["journal"]))


@bp.post("/<run_id>/cancel")
@operation("Cancel a run (a running one stops at its next host call)", ok=(200, S.RunAction), errors=(404, 409))
def cancel(run_id: str):
    return jsonify(run_service.cancel_run(engine(), run_id))


@bp.post("/<run_id>/resume")
@operation("Resume a needs_attention run by replay (same digest)", ok=(200, S.RunAction), errors=(404, 409))
def resume(run_id: str):
    return jsonify(run_service.resume_run(engine(), run_id))


@bp.post("/<run_id>/resolve")
@operation(
    "Settle a call of unknown outcome that stopped a run (applied or not) and resume it by replay",
    body=S.ResolveRequest,
    ok=(200, S.RunAction),
    errors=(404, 409, 415, 422),
)
def resolve(run_id: str):
    body = load(S.ResolveRequest, json_body())
    response = body["response"]
    out = run_service.resolve_call(
        engine(), run_id, seq=body["seq"], applied=body["outcome"] == "applied", response=response, by=body["by"]
    )
    return jsonify(out)


@bp.post("/<run_id>/replay")
@operation(
    "Replay/fork a run from a node: a new run reuses the calls before it and runs live from it",
    body=S.ReplayRequest,
    ok=(202, S.ReplayStarted),
    errors=(404, 409, 415, 422),
)
def replay(run_id: str):
    body = load(S.ReplayRequest, json_body())
    out = run_service.replay_run(engine(), run_id, from_node=body["from_node"], version=body["version"])
    return jsonify(out), 202
