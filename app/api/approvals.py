"""Approval endpoints: list, show, approve, reject. The key is ``run_id:seq`` (a colon is fine in a path
segment; ``%3A`` works too). A decision kicks the run so it resumes at once in this process; other processes
pick it up through their poll."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from app.api import schemas as S
from app.api.common import engine, json_body, load, operation, query
from app.engine import approvals

bp = Blueprint("approvals", __name__, url_prefix="/api/approvals")


@bp.get("")
@operation(
    "List approvals (pending by default)", query_schema=S.ApprovalListQuery, ok=(200, S.ApprovalList), errors=(422,)
)
def list_():
    return jsonify(
        {
            "approvals": approvals.list_approvals(
                engine().db, **query(S.ApprovalListQuery), workspace=g.get("workspace") or "default"
            )
        }
    )


@bp.get("/<key>")
@operation("An approval: what is asked, its timeout, approvers and decision", ok=(200, S.Approval), errors=(404,))
def show(key: str):
    return jsonify(approvals.get_approval(engine().db, key))


def _decide(key: str, approve: bool):
    body = load(S.ApprovalDecide, json_body())
    eng = engine()
    who = g.get("principal")  # with access control on, the signed-in person decides, whatever the body says
    by = who.email if who is not None else body["by"]
    out = approvals.decide(eng.db, key, approve=approve, by=by, reason=body["reason"])
    eng.kick(out["run_id"])
    return jsonify(out)


@bp.post("/<key>/approve")
@operation(
    "Approve; 409 if already decided", body=S.ApprovalDecide, ok=(200, S.ApprovalDecided), errors=(404, 409, 422)
)
def approve(key: str):
    return _decide(key, True)


@bp.post("/<key>/reject")
@operation("Reject; 409 if already decided", body=S.ApprovalDecide, ok=(200, S.ApprovalDecided), errors=(404, 409, 422))
def reject(key: str):
    return _decide(key, False)
