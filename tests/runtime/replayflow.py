"""The workflow of the replay tests (runtime and API; the same documents compile once): three HTTP steps
whose base URL comes from the input, so one compiled digest serves any local server port."""

from __future__ import annotations

import copy
import json

NAME = "replay-three"
STEPS = ("fetch", "enrich", "store")


def _http(node: str, path: str, body: str | None = None, *, method: str = "POST") -> dict:
    config = {"method": method, "url": "{{ input['base'] }}" + path, "allowed_hosts": ["127.0.0.1"]}
    if body is not None:
        config["body"] = body
    return {"id": node, "type": "http.request", "config": config}


V1 = {
    "dsl": "wasmflow/1",
    "name": NAME,
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        _http("fetch", "/fetch", method="GET"),
        _http("enrich", "/enrich", "{'got': fetch['body'], 'v': 1}"),
        _http("store", "/store", "{'enriched': enrich['body']}"),
    ],
    "edges": [{"from": "start", "to": "fetch"}, {"from": "fetch", "to": "enrich"}, {"from": "enrich", "to": "store"}],
}


def v2() -> dict:
    """The same workflow with a changed ``enrich`` node (after ``fetch``, before ``store``)."""
    doc = copy.deepcopy(V1)
    doc["nodes"][2]["config"]["body"] = "{'got': fetch['body'], 'v': 2}"
    return doc


def serve(srv) -> None:
    """Routes of the three steps on a TestServer: fetch answers a constant, the others echo their body."""
    from httpserver import _reply

    srv.route("/fetch", json={"x": 1})
    srv.route("/enrich", lambda req: _reply(json={"enriched": json.loads(req.body)}))
    srv.route("/store", lambda req: _reply(json={"stored": json.loads(req.body)}))
