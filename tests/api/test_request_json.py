"""Request bodies are parsed by the DSL's own JSON rules (duplicate keys, nesting), and every 4xx names its
place with a code of its own: ``invalid_json`` (400), ``invalid_request`` (query, body fields), ``invalid_input``."""

from __future__ import annotations

import json

import pytest
from apihelpers import deploy, wait_doc

pytestmark = pytest.mark.slow

DEEP = "[" * 2000 + "]" * 2000


def _post(client, url: str, text: str, method: str = "post"):
    return getattr(client, method)(url, data=text, content_type="application/json")


def _dup_id_text() -> str:
    """wait_doc with a second "id" in its second node: the last one would win under a plain json.loads."""
    text = json.dumps(wait_doc("v1"))
    return text.replace('{"id": "pause"', '{"id": "pause", "id": "other"', 1)


def test_a_duplicate_key_is_rejected_like_validate_rejects_it(client):
    text = _dup_id_text()
    validated = _post(client, "/api/validate", text).get_json()
    assert validated["valid"] is False
    expected = {
        "path": "/nodes/1/id",
        "node": None,
        "code": "duplicate_key",
        "message": validated["errors"][0]["message"],
    }
    assert validated["errors"] == [expected] and '"id"' in expected["message"]

    r = _post(client, "/api/workflows", text)
    assert r.status_code == 400
    err = r.get_json()["error"]
    assert (err["code"], err["field"], err["errors"]) == ("invalid_json", "/nodes/1/id", [expected])
    assert client.get("/api/workflows").get_json()["workflows"] == []  # nothing was created

    assert _post(client, "/api/workflows", json.dumps(wait_doc("v1"))).status_code == 201
    r = _post(client, "/api/workflows/api-wait", '{"revision": 1, "draft": ' + text + "}", method="put")
    assert r.status_code == 400 and r.get_json()["error"]["errors"][0]["path"] == "/draft/nodes/1/id"
    r = _post(client, "/api/workflows/api-wait/runs", '{"input": {"n": 1, "n": 2}, "draft": true}')
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "/input/n"
    assert client.get("/api/workflows/api-wait").get_json()["revision"] == 1


@pytest.mark.parametrize("url", ["/api/workflows", "/api/workflows/api-wait/runs", "/api/validate"])
def test_deep_nesting_is_too_deep_not_a_parse_failure(client, url):
    r = _post(client, url, DEEP)
    body = r.get_json()
    problems = body["errors"] if url == "/api/validate" else body["error"]["errors"]
    assert r.status_code == (200 if url == "/api/validate" else 400), body
    assert [(p["path"], p["code"]) for p in problems] == [("", "too_deep")]
    assert "nested more than" in problems[0]["message"]


def test_a_parse_error_names_line_and_column(client):
    r = _post(client, "/api/workflows", '{"dsl": "wasmflow/1",\n "name": }')
    err = r.get_json()["error"]
    assert r.status_code == 400 and err["field"] == "body"
    assert err["errors"][0]["code"] == "not_json" and "line 2 column 10" in err["errors"][0]["message"]


def test_query_and_body_field_errors_are_invalid_request_naming_the_parameter(client):
    r = client.get("/api/runs?limit=abc&status=nope")
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "invalid_request"
    assert {e["path"] for e in err["errors"]} == {"?limit", "?status"}
    client.post("/api/workflows", json=wait_doc("v1"))
    r = client.put("/api/workflows/api-wait", json={"revision": "1", "draft": wait_doc("v1")})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid_request"
    r = client.post("/api/workflows/api-wait/runs", json=[1])
    assert r.status_code == 422
    assert (r.get_json()["error"]["code"], r.get_json()["error"]["errors"][0]["path"]) == ("invalid_request", "")


def test_a_run_input_that_breaks_the_inputs_schema_is_invalid_input(client):
    deploy(client, wait_doc("v1"))
    r = client.post("/api/workflows/api-wait/runs", json={"input": {"n": "one"}})
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "invalid_input" and [e["path"] for e in err["errors"]] == ["/input/n"]
