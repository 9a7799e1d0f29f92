"""Workflow endpoints through the Flask test client: drafts with revisions, deploys, versions, import/export."""

from __future__ import annotations

import pytest
from apihelpers import deploy, example, wait_doc

from app.compiler import prepare
from app.store.models import Deployment, Workflow

pytestmark = pytest.mark.slow


def test_create_list_show_and_invalid_dsl_paths(client):
    doc = example("lead-routing")
    r = client.post("/api/workflows", json=doc)
    assert r.status_code == 201
    body = r.get_json()
    assert (body["name"], body["revision"], body["title"]) == ("lead-routing", 1, "Lead routing")
    assert client.get("/api/workflows").get_json()["workflows"][0]["name"] == "lead-routing"
    shown = client.get("/api/workflows/lead-routing").get_json()
    assert shown["draft"] == doc and shown["deployment"] is None and shown["versions"] == []

    again = client.post("/api/workflows", json=doc)
    assert again.status_code == 409 and again.get_json()["error"]["field"] == "/name"

    bad = dict(doc, nodes=[*doc["nodes"], {"id": "oops", "type": "transform", "config": {"expression": "1 +"}}])
    r = client.post("/api/workflows", json=dict(bad, name="lead-routing-2"))
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "invalid_workflow"
    assert any(e["path"].startswith(f"/nodes/{len(doc['nodes'])}") for e in err["errors"]), err


def test_stale_revision_is_409_and_overwrites_nothing(client, app):
    doc = wait_doc("v1")
    client.post("/api/workflows", json=doc)
    first = client.put("/api/workflows/api-wait", json={"revision": 1, "draft": wait_doc("v2")})
    assert first.status_code == 200 and first.get_json()["revision"] == 2
    stale = client.put("/api/workflows/api-wait", json={"revision": 1, "draft": wait_doc("v3")})
    assert stale.status_code == 409
    err = stale.get_json()["error"]
    assert err["code"] == "stale_revision" and err["field"] == "/revision"
    assert err["details"]["current_revision"] == 2
    with app.extensions["wasmflow.engine"].db.session() as s:
        row = s.get(Workflow, "api-wait")
        assert row.revision == 2 and row.draft == wait_doc("v2")


def test_update_errors_name_their_path(client):
    client.post("/api/workflows", json=wait_doc("v1"))
    r = client.put("/api/workflows/api-wait", json={"revision": 1, "draft": dict(wait_doc("v1"), name="other")})
    assert r.status_code == 422 and r.get_json()["error"]["errors"][0]["path"] == "/draft/name"
    r = client.put("/api/workflows/api-wait", json={"revision": "1", "draft": wait_doc("v1")})
    assert r.status_code == 422 and r.get_json()["error"]["errors"][0]["path"] == "/revision"
    r = client.put("/api/workflows/api-wait", json={"revision": 1, "draft": ["not", "a", "document"]})
    assert r.status_code == 422 and r.get_json()["error"]["errors"][0]["path"] == "/draft"
    r = client.put("/api/workflows/missing", json={"revision": 1, "draft": wait_doc("v1")})
    assert r.status_code in (404, 422)
    assert client.get("/api/workflows/api-wait").get_json()["revision"] == 1  # nothing was written


def test_an_invalid_draft_is_saved_with_its_errors_and_cannot_be_compiled_or_deployed(client):
    client.post("/api/workflows", json=wait_doc("v1"))
    half_typed = dict(wait_doc("v1"), nodes=[*wait_doc("v1")["nodes"], {"id": "t", "type": "transform", "config": {}}])
    r = client.put("/api/workflows/api-wait", json={"revision": 1, "draft": half_typed})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["revision"] == 2 and body["valid"] is False and body["digest"] is None
    assert body["draft"] == half_typed  # stored exactly as sent
    assert body["errors"] and all(e["path"].startswith("/draft/nodes/") for e in body["errors"])
    assert {e["node"] for e in body["errors"]} == {"t"}
    shown = client.get("/api/workflows/api-wait").get_json()
    assert shown["draft"] == half_typed and shown["valid"] is False and shown["errors"] == body["errors"]
    assert client.get("/api/workflows/api-wait/export").get_json() == half_typed

    r = client.post("/api/workflows/api-wait/compile")
    assert r.status_code == 422 and any(e["node"] == "t" for e in r.get_json()["error"]["errors"])
    r = client.post("/api/workflows/api-wait/deploy", json={"digest": "0" * 64})
    assert r.status_code == 422

    fixed = client.put("/api/workflows/api-wait", json={"revision": 2, "draft": wait_doc("v1")}).get_json()
    assert fixed["valid"] is True and fixed["errors"] == [] and fixed["revision"] == 3
    assert fixed["digest"] == prepare(wait_doc("v1")).digest
    assert client.get("/api/workflows/api-wait").get_json()["digest"] == fixed["digest"]


def test_saving_a_valid_draft_compiles_it_in_the_background(make_app, compiler, wait_digests):
    client = make_app(DRAFT_PRECOMPILE=True).test_client()
    client.post("/api/workflows", json=wait_doc("v1"))
    saved = client.put("/api/workflows/api-wait", json={"revision": 1, "draft": wait_doc("v2")}).get_json()
    assert saved["digest"] == wait_digests["v2"]
    # v2 is in the session's store already: the background compile is a cache hit, and the explicit
    # compile that follows (the editor's "Test run") returns the same digest without building.
    r = client.post("/api/workflows/api-wait/compile").get_json()
    assert r["digest"] == saved["digest"] and r["cache_hit"] is True


def test_compile_deploy_versions_and_rollback(client, app, wait_digests):
    first = deploy(client, wait_doc("v1"))
    assert first["version"] == 1 and first["digest"] == wait_digests["v1"]
    assert first["trigger"] == "trigger.manual" and first["webhook_url"] is None
    token = first["webhook_token"]
    assert len(token) >= 40

    second = deploy(client, wait_doc("v2"))
    assert second["version"] == 2 and second["digest"] == wait_digests["v2"]
    assert second["webhook_token"] == token  # callers keep their URL across deploys

    again = client.post("/api/workflows/api-wait/deploy", json={"digest": wait_digests["v2"]}).get_json()
    assert again["version"] == 2 and again["unchanged"] is True

    versions = client.get("/api/workflows/api-wait/versions").get_json()["versions"]
    assert [(v["version"], v["digest"]) for v in versions] == [(1, wait_digests["v1"]), (2, wait_digests["v2"])]
    v1 = client.get("/api/workflows/api-wait/versions/1").get_json()
    assert v1["dsl"] == wait_doc("v1")

    back = client.post("/api/workflows/api-wait/versions/1/rollback")
    assert back.status_code == 200 and back.get_json()["version"] == 1
    shown = client.get("/api/workflows/api-wait").get_json()
    assert shown["deployment"]["version"] == 1 and shown["deployment"]["digest"] == wait_digests["v1"]
    assert shown["deployed_version"] == 1 and len(shown["versions"]) == 2
    # A subflow calling api-wait starts the deployed version, not the newest compile.
    assert app.extensions["wasmflow.engine"].world.resolve_workflow("api-wait") == wait_digests["v1"]
    assert client.post("/api/workflows/api-wait/versions/9/rollback").status_code == 404


def test_deploy_of_a_digest_not_from_the_current_draft_is_409(client, wait_digests):
    client.post("/api/workflows", json=wait_doc("v1"))
    r = client.post("/api/workflows/api-wait/deploy", json={"digest": wait_digests["v2"]})
    assert r.status_code == 409
    err = r.get_json()["error"]
    assert err["code"] == "digest_mismatch" and err["field"] == "/digest"
    assert wait_digests["v2"] in err["message"] and wait_digests["v1"] in err["message"]

    r = client.post("/api/workflows/api-wait/deploy", json={"digest": "ab" * 32})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "digest_mismatch"
    r = client.post("/api/workflows/api-wait/deploy", json={"digest": "nope"})
    assert r.status_code == 422 and r.get_json()["error"]["errors"][0]["path"] == "/digest"
    r = client.post("/api/workflows/api-wait/deploy", json={"digest": wait_digests["v1"], "revision": 7})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "stale_revision"


def test_deploy_needs_a_compiled_digest(client):
    doc = dict(wait_doc("never compiled"), name="api-uncompiled")
    client.post("/api/workflows", json=doc)
    r = client.post("/api/workflows/api-uncompiled/deploy", json={"digest": prepare(doc).digest})
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "not_compiled" and "compile first" in r.get_json()["error"]["message"]


def test_delete_is_refused_while_deployed(client, app):
    deploy(client, wait_doc("v1"))
    r = client.delete("/api/workflows/api-wait")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "deployed"
    assert client.post("/api/workflows/api-wait/undeploy").status_code == 204
    assert client.delete("/api/workflows/api-wait").status_code == 204
    assert client.get("/api/workflows/api-wait").status_code == 404
    with app.extensions["wasmflow.engine"].db.session() as s:
        assert s.get(Deployment, "api-wait") is None


def test_validate_export_and_import(client):
    doc = wait_doc("v1")
    client.post("/api/workflows", json=doc)
    assert client.post("/api/workflows/api-wait/validate").get_json() == {"valid": True, "errors": []}
    exported = client.get("/api/workflows/api-wait/export")
    assert exported.get_json() == doc and "attachment" in exported.headers["Content-Disposition"]

    r = client.post("/api/workflows/import", json=wait_doc("v2"))
    assert r.status_code == 409 and r.get_json()["error"]["field"] == "/name"
    r = client.post("/api/workflows/import?overwrite=true", json=wait_doc("v2"))
    assert r.status_code == 201 and r.get_json()["revision"] == 2
    assert client.get("/api/workflows/api-wait/export").get_json() == wait_doc("v2")
    r = client.post("/api/workflows/import", json=dict(wait_doc("v2"), name="api-copy"))
    assert r.status_code == 201 and r.get_json()["revision"] == 1


def test_edge_errors_are_json(app, client):
    r = client.post("/api/workflows", data="{}", content_type="text/plain")
    assert r.status_code == 415 and r.get_json()["error"]["field"] == "Content-Type"
    r = client.post("/api/workflows", data="{nope", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_json"
    r = client.get("/api/nothing-here")
    assert r.status_code == 404 and r.get_json()["error"]["field"] == "path"
    r = client.delete("/api/runs")
    assert r.status_code == 405 and r.get_json()["error"]["field"] == "method" and "GET" in r.headers["Allow"]
    limit = app.config["MAX_CONTENT_LENGTH"]
    r = client.post("/api/workflows", data=b"x" * (limit + 1), content_type="application/json")
    assert r.status_code == 413
    err = r.get_json()["error"]
    assert err["field"] == "body" and f"{limit:,}" in err["message"]
