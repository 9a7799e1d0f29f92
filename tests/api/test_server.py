"""Against a real ``wasmflow serve`` process over real HTTP: create -> compile (cache hit) -> deploy -> run."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from apihelpers import copy_artifacts, wait_doc
from support import wasmflow_serve

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path, database_url: str, compiler, wait_digests):
    copy_artifacts(compiler, database_url, wait_digests.values())
    env = {"WASMFLOW_DATABASE_URL": database_url, "WASMFLOW_ARTIFACTS_DIR": str(compiler.store.root)}
    with wasmflow_serve(tmp_path / "instance", env, tmp_path / "server.log") as base:
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client


def test_create_compile_deploy_and_run_on_a_real_server(server, wait_digests):
    doc = wait_doc("v1")
    created = server.post("/api/workflows", json=doc)
    assert created.status_code == 201, created.text
    compiled = server.post("/api/workflows/api-wait/compile")
    assert compiled.status_code == 200, compiled.text
    assert compiled.json()["cache_hit"] is True and compiled.json()["digest"] == wait_digests["v1"]
    deployed = server.post("/api/workflows/api-wait/deploy", json={"digest": wait_digests["v1"]})
    assert deployed.status_code == 200 and deployed.json()["version"] == 1

    started = server.post("/api/workflows/api-wait/runs", json={"input": {"n": 1}})
    assert started.status_code == 202 and started.json()["version"] == 1
    run_id = started.json()["run_id"]
    end = time.monotonic() + 60
    while True:
        run = server.get(f"/api/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "cancelled", "needs_attention") or time.monotonic() > end:
            break
        time.sleep(0.2)
    assert run["status"] == "succeeded", run
    assert run["digest"] == wait_digests["v1"] and run["version"] == 1
    assert {n["node"]: n for n in run["nodes"]}["done"]["output"] == "v1"
    listed = server.get("/api/runs", params={"workflow": "api-wait"}).json()["runs"]
    assert [r["id"] for r in listed] == [run_id]


def test_real_server_errors_are_json(server):
    r = server.get("/api/nope")
    assert r.status_code == 404 and r.json()["error"]["field"] == "path"
    r = server.put("/api/runs")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = server.post("/api/workflows", content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["field"] == "Content-Type"
    r = server.get("/api/openapi.json")
    assert r.status_code == 200 and "/api/workflows/{name}/deploy" in r.json()["paths"]
