"""Helpers for the API tests: the small wait workflow, examples, polling and deploying through the API."""

from __future__ import annotations

import copy
import json
import time

from support import EXAMPLES

from app.store.db import Database
from app.store.models import Artifact

WAIT_V1 = {
    "dsl": "wasmflow/1",
    "name": "api-wait",
    "title": "API wait",
    "inputs": {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": False},
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {"id": "pause", "type": "wait", "config": {"duration": "2s"}},
        {"id": "done", "type": "transform", "config": {"expression": "'v1'"}},
    ],
    "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "done"}],
}


def wait_doc(version: str) -> dict:
    doc = copy.deepcopy(WAIT_V1)
    doc["nodes"][2]["config"]["expression"] = repr(version)
    return doc


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def wait_for(client, run_id: str, statuses, *, timeout: float = 60) -> dict:
    """Poll GET /api/runs/<id> until its status is one of ``statuses``."""
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)
    end = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/runs/{run_id}").get_json()
        if body["status"] in statuses or time.monotonic() > end:
            assert body["status"] in statuses, body
            return body
        time.sleep(0.1)


def deploy(client, doc: dict) -> dict:
    """Create (or update) ``doc``, compile it (a cache hit in tests) and deploy it; returns the deploy body."""
    name = doc["name"]
    got = client.get(f"/api/workflows/{name}")
    if got.status_code == 404:
        assert client.post("/api/workflows", json=doc).status_code == 201
    else:
        r = client.put(f"/api/workflows/{name}", json={"revision": got.get_json()["revision"], "draft": doc})
        assert r.status_code == 200, r.get_json()
    compiled = client.post(f"/api/workflows/{name}/compile")
    assert compiled.status_code == 200, compiled.get_json()
    r = client.post(f"/api/workflows/{name}/deploy", json={"digest": compiled.get_json()["digest"]})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def copy_artifacts(compiler, database_url: str, digests) -> None:
    """Give a fresh database the rows of already compiled artifacts (their files are shared)."""
    db = Database(database_url)
    db.upgrade()
    with compiler.store.db.session() as src, db.session() as dst:
        for d in digests:
            row = src.get(Artifact, d)
            if dst.get(Artifact, d) is None:
                dst.add(Artifact(**{c.name: getattr(row, c.name) for c in Artifact.__table__.columns}))
    db.dispose()
