"""Secrets of the request's workspace (issue 13, and the editor's secrets screen of issue 17): names, grants
and times, never a value. A value goes in (PUT) and only a run of a granted workflow ever reads it, in the host.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from app.api.common import engine, json_body, operation
from app.errors import FatalError, UserError
from app.runtime.secrets import check_name

bp = Blueprint("secrets", __name__, url_prefix="/api/secrets")


def _store():
    store = engine().world.secrets
    if store is None:
        raise FatalError("this server has no secret store configured", code="secrets_unavailable")
    return store


def _space() -> str:
    return g.get("workspace") or "default"


@bp.get("")
@operation("The workspace's secrets: names, the workflows each is granted to (null: all), times", ok=(200, None))
def list_():
    return jsonify({"workspace": _space(), "secrets": _store().describe(workspace=_space())})


@bp.put("/<name>")
@operation(
    "Set a secret (value; workflows: the ones that may use it, null for all) or change only its grant",
    ok=(200, None),
    errors=(404, 415, 422),
)
def put(name: str):
    check_name(name)
    body = json_body()
    if not isinstance(body, dict):
        raise UserError(
            'the body must be a JSON object: {"value": ..., "workflows": [...] | null}', details={"field": "body"}
        )
    unknown = sorted(set(body) - {"value", "workflows"})
    if unknown:
        raise UserError(f"unknown field {unknown[0]}: send value and/or workflows", details={"field": unknown[0]})
    store, space = _store(), _space()
    if "value" not in body:
        if "workflows" not in body:
            raise UserError(
                "send a value, a workflows grant, or both", code="nothing_to_change", details={"field": "value"}
            )
        store.grant(name, body["workflows"], workspace=space)
        return jsonify({"name": name, "created": False})
    if "workflows" in body:
        created = store.set(name, body["value"], workspace=space, workflows=body["workflows"])
    else:
        created = store.set(name, body["value"], workspace=space)
    return jsonify({"name": name, "created": created}), 201 if created else 200


@bp.delete("/<name>")
@operation("Delete a secret of the workspace", ok=(204, None), errors=(404,))
def delete(name: str):
    _store().delete(name, workspace=_space())
    return "", 204
