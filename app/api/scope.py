"""What a request may name, by workspace (issue 13): a workflow, run, approval or artifact named in the path of
another workspace's is answered exactly as one that does not exist (404 with the same message), so a request
learns nothing of other workspaces. Lists filter by workspace where they are built (app.engine ...
``workspace=``); this covers every path argument, before the view runs.

``check`` is called by app.api.access for every non-public request once ``g.workspace`` is set.
"""

from __future__ import annotations

from flask import current_app, request

from app import workspaces
from app.errors import NotFound


def _db():
    return current_app.extensions["wasmflow.engine"].db


def _workflow(space: str, name: str) -> None:
    from app.store.models import Workflow

    with _db().session() as s:
        row = s.get(Workflow, name)
        if row is not None and row.workspace != space:
            raise NotFound(f"no workflow named {name!r}", details={"field": "name", "name": name})


def _run(space: str, run_id: str, *, message: str | None = None, field: str = "run_id") -> None:
    found = workspaces.of_run(_db(), run_id)
    if found is not None and found != space:
        raise NotFound(message or f"no run {run_id}", details={"field": field, field: run_id})


def _digest(space: str, digest: str) -> None:
    from app.store.models import Artifact

    with _db().session() as s:
        name = s.get(Artifact, digest)
        name = name.workflow_name if name is not None else None
    if name is not None and workspaces.of_workflow(_db(), name) != space:
        raise NotFound(f"no artifact with digest {digest}", details={"digest": digest})


def check(space: str) -> None:
    args = request.view_args or {}
    if "name" in args and request.blueprint == "workflows":
        _workflow(space, args["name"])
    if "run_id" in args:
        _run(space, args["run_id"])
    if "key" in args and request.blueprint == "approvals":
        key = args["key"]
        _run(space, key.partition(":")[0], message=f"no approval {key}", field="key")
    if "digest" in args:
        _digest(space, args["digest"])
    # live.stream takes run= and workflow= in its query: the feed scopes them (app.engine.feed, ``workspace``),
    # answering another workspace's run as an absent one, after the upgrade, as it does for that
