"""POST /api/runs/<id>/replay against the app with its engine, a real local HTTP server for the workflow's
three steps, and a fresh SQLite/PostgreSQL database: the contract the remote CLI codes against."""

from __future__ import annotations

import json

import pytest
from apihelpers import deploy, wait_for
from httpserver import TestServer
from replayflow import NAME, V1, serve, v2

from app.engine import runs


@pytest.fixture(scope="module")
def replay_digests(compiler) -> dict[str, str]:
    futures = {"v1": compiler.submit(V1, with_bundle=False), "v2": compiler.submit(v2(), with_bundle=False)}
    return {v: f.result().digest for v, f in futures.items()}


@pytest.fixture
def artifact_digests(compiled_examples, wait_digests, replay_digests) -> list[str]:
    return [r.digest for r in compiled_examples.values()] + list(wait_digests.values()) + list(replay_digests.values())


@pytest.fixture(scope="module")
def server():
    with TestServer() as srv:
        serve(srv)
        yield srv


@pytest.fixture
def app(make_app, server, monkeypatch):
    monkeypatch.setenv("WASMFLOW_HTTP_ALLOW_NETWORKS", "127.0.0.1/32")  # read when the app's engine starts
    server.requests.clear()
    return make_app()


def _original(client, server) -> str:
    deploy(client, V1)
    r = client.post(f"/api/workflows/{NAME}/runs", json={"input": {"base": server.url("").rstrip("/")}})
    assert r.status_code == 202, r.get_json()
    run_id = r.get_json()["run_id"]
    assert wait_for(client, run_id, {"succeeded", "failed"})["status"] == "succeeded"
    assert server.paths() == ["/fetch", "/enrich", "/store"]
    server.requests.clear()
    return run_id


def test_replay_creates_a_linked_run_that_runs_live_from_the_node(client, server, replay_digests):
    original = _original(client, server)
    r = client.post(f"/api/runs/{original}/replay", json={"from_node": "enrich"})
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert set(body) == {"run_id", "status", "digest", "version", "replay_of"}
    assert body["replay_of"] == {"run_id": original, "from_node": "enrich"}
    assert (body["digest"], body["version"]) == (replay_digests["v1"], 1)
    assert body["status"] in (runs.QUEUED, runs.RUNNING, runs.SUCCEEDED)

    new = wait_for(client, body["run_id"], {"succeeded", "failed", "needs_attention"})
    assert new["status"] == "succeeded", new["error"]
    assert server.paths() == ["/enrich", "/store"]
    assert new["lineage"] == {"replay_of": {"run_id": original, "from_node": "enrich"}, "replays": []}
    assert new["version"] == 1 and {n["node"] for n in new["nodes"]} == {"start", "fetch", "enrich", "store"}
    old = client.get(f"/api/runs/{original}").get_json()
    assert old["lineage"]["replay_of"] is None
    assert [(x["run_id"], x["from_node"]) for x in old["lineage"]["replays"]] == [(body["run_id"], "enrich")]
    assert old["lineage"]["replays"][0]["created_at"]
    listed = {x["id"]: x for x in client.get(f"/api/runs?workflow={NAME}").get_json()["runs"]}
    assert listed[body["run_id"]]["replay_of"] == {"run_id": original, "from_node": "enrich"}
    assert listed[original]["replay_of"] is None


def test_replay_with_the_current_version(client, server, replay_digests):
    original = _original(client, server)
    assert deploy(client, v2())["version"] == 2
    r = client.post(f"/api/runs/{original}/replay", json={"from_node": "enrich", "version": "current"})
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert (body["digest"], body["version"]) == (replay_digests["v2"], 2)
    assert wait_for(client, body["run_id"], {"succeeded", "failed", "needs_attention"})["status"] == "succeeded"
    assert json.loads(server.requests[0].body) == {"got": {"x": 1}, "v": 2}

    assert client.post(f"/api/workflows/{NAME}/undeploy").status_code in (200, 204)
    r = client.post(f"/api/runs/{original}/replay", json={"from_node": "enrich", "version": "current"})
    assert r.status_code == 409, r.get_json()
    err = r.get_json()["error"]
    assert err["code"] == "not_deployed" and err["field"] == "/version" and NAME in err["message"]


def test_replay_errors_name_the_place(client, server, app):
    original = _original(client, server)
    r = client.post("/api/runs/0123abcd/replay", json={"from_node": "fetch"})
    assert r.status_code == 404 and r.get_json()["error"]["field"] == "run_id"
    r = client.post(f"/api/runs/{original}/replay", json={"from_node": "nope"})
    err = r.get_json()["error"]
    assert r.status_code == 422 and err["field"] == "/from_node" and err["code"] == "unknown_node"
    assert "'nope'" in err["message"]
    r = client.post(f"/api/runs/{original}/replay", json={"version": "latest"})
    assert r.status_code == 422
    assert {p["path"] for p in r.get_json()["error"]["errors"]} == {"/from_node", "/version"}
    assert client.post(f"/api/runs/{original}/replay", data="x").status_code == 415

    engine = app.extensions["wasmflow.engine"]
    queued = engine.create_run(replay_digest_of(client), {"base": server.url("").rstrip("/")}, workflow_name=NAME)
    r = client.post(f"/api/runs/{queued}/replay", json={"from_node": "fetch"})
    err = r.get_json()["error"]
    assert r.status_code == 409 and err["code"] == "run_active" and err["field"] == "run_id"


def replay_digest_of(client) -> str:
    return client.get(f"/api/workflows/{NAME}").get_json()["deployment"]["digest"]


def test_openapi_describes_the_replay_route(client):
    doc = client.get("/api/openapi.json").get_json()
    op = doc["paths"]["/api/runs/{run_id}/replay"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ReplayRequest"}
    assert set(op["responses"]) >= {"202", "404", "409", "422"}
