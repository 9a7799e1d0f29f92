"""Run endpoints through the Flask test client, with the app's real engine executing real components."""

from __future__ import annotations

import pytest
from apihelpers import deploy, example, wait_doc, wait_for

from app.engine import runs
from app.store.models import Run

pytestmark = pytest.mark.slow


def _start(client, name="api-wait", **body):
    r = client.post(f"/api/workflows/{name}/runs", json=body)
    assert r.status_code == 202, r.get_json()
    return r.get_json()


def _engine(app):
    return app.extensions["wasmflow.engine"]


def test_input_is_validated_against_the_inputs_schema_with_paths(client, app):
    deploy(client, example("lead-routing"))
    r = client.post(
        "/api/workflows/lead-routing/runs",
        json={"input": {"email": 5, "employees": 0, "funding_stage": "x", "extra": True}},
    )
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "invalid_input" and "inputs schema" in err["message"]
    by_path = {(e["path"], e["code"]) for e in err["errors"]}
    assert {
        ("/input/email", "type"),
        ("/input/employees", "minimum"),
        ("/input/funding_stage", "enum"),
        ("/input", "required"),
        ("/input", "additionalProperties"),
    } <= by_path, by_path
    r = client.post("/api/workflows/lead-routing/runs", json={"input": [1]})
    assert r.status_code == 422 and r.get_json()["error"]["errors"][0]["path"] == "/input"
    with _engine(app).db.session() as s:
        assert s.query(Run).count() == 0  # nothing was queued


def test_run_details_give_version_nodes_durations_and_journal(make_app):
    app = make_app(ENGINE_POLL=True)
    client = app.test_client()
    deployed = deploy(client, wait_doc("v1"))
    started = _start(client, input={"n": 1})
    assert started["version"] == 1 and started["digest"] == deployed["digest"]
    run = wait_for(client, started["run_id"], "succeeded", timeout=30)
    assert run["version"] == 1 and run["digest"] == deployed["digest"]
    nodes = {n["node"]: n for n in run["nodes"]}
    assert list(nodes) == ["start", "pause", "done"]
    assert all(n["status"] == "finished" for n in nodes.values()), nodes
    assert nodes["pause"]["duration_ms"] >= 1500  # node.started -> node.finished spans the durable wait
    assert nodes["done"]["output"] == "v1"
    assert "journal" not in run
    with_journal = client.get(f"/api/runs/{started['run_id']}?journal=1").get_json()
    assert [j["seq"] for j in with_journal["journal"]] == sorted(j["seq"] for j in with_journal["journal"])
    assert any(j["capability"] == "clock.sleep" or "wait" in j["capability"] for j in with_journal["journal"])


def test_deploy_while_a_run_is_in_flight(make_app, wait_digests):
    """The in-flight run finishes on the version it started with; runs started after the deploy use the new one."""
    app = make_app(ENGINE_POLL=True)
    client = app.test_client()
    deploy(client, wait_doc("v1"))
    old = _start(client)
    wait_for(client, old["run_id"], "waiting", timeout=20)
    second = deploy(client, wait_doc("v2"))
    assert second["version"] == 2
    new = _start(client)
    assert new["digest"] == wait_digests["v2"] and new["version"] == 2
    old_run = wait_for(client, old["run_id"], "succeeded", timeout=30)
    new_run = wait_for(client, new["run_id"], "succeeded", timeout=30)
    assert (old_run["digest"], old_run["version"]) == (wait_digests["v1"], 1)
    assert (new_run["digest"], new_run["version"]) == (wait_digests["v2"], 2)
    assert {n["node"]: n for n in old_run["nodes"]}["done"]["output"] == "v1"
    assert {n["node"]: n for n in new_run["nodes"]}["done"]["output"] == "v2"


def test_list_filters_and_paging(client, app):
    deploy(client, wait_doc("v1"))
    ids = [_start(client)["run_id"] for _ in range(5)]
    for rid in ids:
        wait_for(client, rid, "waiting", timeout=20)
    client.post(f"/api/runs/{ids[1]}/cancel")

    seen, cursor = [], None
    for _ in range(5):
        page = client.get("/api/runs", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}).get_json()
        seen += [r["id"] for r in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)  # newest first, each exactly once

    cancelled = client.get("/api/runs?status=cancelled").get_json()["runs"]
    assert [r["id"] for r in cancelled] == [ids[1]]
    assert cancelled[0]["version"] == 1  # the deployed version its digest was pinned as
    assert len(client.get("/api/runs?workflow=api-wait&status=waiting").get_json()["runs"]) == 4
    assert client.get("/api/runs?workflow=lead-routing").get_json()["runs"] == []
    assert client.get("/api/runs", query_string={"since": "2999-01-01T00:00:00+00:00"}).get_json()["runs"] == []
    assert len(client.get("/api/runs", query_string={"since": "2000-01-01T00:00:00Z"}).get_json()["runs"]) == 5

    r = client.get("/api/runs?status=sleeping&limit=0")
    assert r.status_code == 422
    assert {e["path"] for e in r.get_json()["error"]["errors"]} == {"?status", "?limit"}


def test_cancel_a_waiting_run(client, app):
    deploy(client, wait_doc("v1"))
    rid = _start(client)["run_id"]
    wait_for(client, rid, "waiting", timeout=20)
    r = client.post(f"/api/runs/{rid}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    run = client.get(f"/api/runs/{rid}").get_json()
    assert run["status"] == "cancelled" and run["finished_at"]
    assert run["events"][-1]["type"] == "run.cancelled"
    again = client.post(f"/api/runs/{rid}/cancel")
    assert again.status_code == 409 and again.get_json()["error"]["field"] == "run_id"
    # A cancelled run is never picked up again, even when its wake-up time passes.
    with _engine(app).db.session() as s:
        assert rid not in runs.due_runs(s)


def test_cancel_a_running_run_asks_its_executor(client, app, wait_digests):
    engine = _engine(app)
    client.post("/api/workflows", json=wait_doc("v1"))
    with engine.db.session() as s:
        rid = runs.create_run(s, workflow_name="api-wait", digest=wait_digests["v1"], input=None)
        assert runs.claim(s, rid, owner="elsewhere", lease_seconds=60)
    r = client.post(f"/api/runs/{rid}/cancel")
    assert r.status_code == 200 and r.get_json() == {"run_id": rid, "status": "running", "cancel_requested": True}
    with engine.db.session() as s:
        assert runs.is_cancel_requested(s, rid)  # RunHost._check_limits raises Cancelled at the next host call
    assert client.get(f"/api/runs/{rid}").get_json()["events"][-1]["type"] == "run.cancel_requested"


def test_resume_a_needs_attention_run(client, app, wait_digests):
    engine = _engine(app)
    client.post("/api/workflows", json=wait_doc("v1"))
    with engine.db.session() as s:
        rid = runs.create_run(s, workflow_name="api-wait", digest=wait_digests["v1"], input=None)
        runs.claim(s, rid, owner="me", lease_seconds=60)
        runs.finish(s, rid, owner="me", status=runs.NEEDS_ATTENTION, error={"code": "determinism_error"})
    r = client.post(f"/api/runs/{rid}/resume")
    assert r.status_code == 200
    run = wait_for(client, rid, "waiting", timeout=20)  # replayed from the start on the same digest
    assert run["digest"] == wait_digests["v1"] and run["error"] is None
    assert "run.requeued" in [e["type"] for e in run["events"]]
    assert client.post(f"/api/runs/{rid}/resume").status_code == 409
    assert client.post("/api/runs/0000/resume").status_code == 404


def test_test_runs_of_the_draft_or_a_digest(client, wait_digests):
    client.post("/api/workflows", json=wait_doc("v1"))
    r = client.post("/api/workflows/api-wait/runs", json={"input": {}})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_deployed"
    draft_run = _start(client, draft=True, input={"n": 2})
    assert draft_run["digest"] == wait_digests["v1"] and draft_run["version"] is None
    by_digest = _start(client, digest=wait_digests["v1"])
    assert by_digest["digest"] == wait_digests["v1"]
    r = client.post("/api/workflows/api-wait/runs", json={"digest": wait_digests["v2"]})
    assert r.status_code == 409 and r.get_json()["error"]["field"] == "/digest"
    r = client.post("/api/workflows/api-wait/runs", json={"draft": True, "input": {"n": "two"}})
    assert r.status_code == 422 and r.get_json()["error"]["errors"][0]["path"] == "/input/n"
    r = client.post("/api/workflows/nope/runs", json={})
    assert r.status_code == 404
    assert client.get("/api/runs/does-not-exist").status_code == 404
