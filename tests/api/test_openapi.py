"""The OpenAPI document: valid OpenAPI 3.1, complete (every /api route of the app), the DSL schema inside it
accepts the examples, and a schemathesis fuzz over its operations finds no 500."""

from __future__ import annotations

import jsonschema
import pytest
import schemathesis
from apihelpers import example
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate as validate_openapi
from schemathesis.core.errors import UnsupportedSchema
from support import EXAMPLE_NAMES

pytestmark = pytest.mark.slow

_IGNORED = {"HEAD", "OPTIONS"}


def test_document_is_valid_openapi_3(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    validate_openapi(doc)


def test_document_lists_every_api_route_of_the_app(app, client):
    doc = client.get("/api/openapi.json").get_json()
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api"):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", "{" + arg + "}").replace(f"<{arg}>", "{" + arg + "}")
        for method in rule.methods - _IGNORED:
            if method.lower() not in doc["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert not missing, missing
    ops = [op for item in doc["paths"].values() for op in item.values()]
    assert len({op["operationId"] for op in ops}) == len(ops)


def test_request_and_response_schemas_come_from_the_schema_modules(client):
    doc = client.get("/api/openapi.json").get_json()
    put = doc["paths"]["/api/workflows/{name}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/DraftUpdate"}
    assert set(put["responses"]) >= {"200", "409", "415", "422"}
    create = doc["paths"]["/api/workflows"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/WorkflowDocument")
    params = {p["name"] for p in doc["paths"]["/api/runs"]["get"]["parameters"]}
    assert params == {"workflow", "status", "since", "limit", "cursor"}


def test_dsl_schema_in_the_document_accepts_the_examples(client):
    doc = client.get("/api/openapi.json").get_json()
    root = {"$ref": "#/components/schemas/WorkflowDocument", "components": doc["components"]}
    validator = jsonschema.Draft202012Validator(root)
    for name in EXAMPLE_NAMES:
        assert not list(validator.iter_errors(example(name))), name
    assert list(validator.iter_errors({"dsl": "wasmflow/1", "name": "x", "nodes": [], "tiemout": 1}))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _documents():
    """DSL-ish bodies: any JSON, an example, or an example with one top-level field replaced by any JSON."""
    examples = [example(n) for n in EXAMPLE_NAMES]
    mutated = st.tuples(st.sampled_from(examples), st.sampled_from(["dsl", "name", "nodes", "edges", "inputs"]), _JSON)
    return _JSON | st.sampled_from(examples) | mutated.map(lambda t: {**t[0], t[1]: t[2]})


def _fallback(operation):
    """Cases for an operation whose schema schemathesis cannot generate from (the DSL schema is recursive)."""
    names = st.sampled_from(["lead-routing", "order-sync", "x"]) | st.text(min_size=1, max_size=12)
    params = {p.name: names for p in operation.path_parameters}
    return st.fixed_dictionaries({"path": st.fixed_dictionaries(params), "body": _documents()}).map(
        lambda d: operation.Case(path_parameters=d["path"], body=d["body"], media_type="application/json")
    )


def _check(case, calls: list, headers: dict | None = None) -> None:
    response = case.call(headers=headers) if headers else case.call()
    calls.append(response.status_code)
    if headers and not case.path.startswith("/api/auth/log"):  # the token is accepted: no 401 but a sign-in's
        assert response.status_code != 401, (case.method, case.formatted_path, response.text[:300])
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert {"kind", "code", "message"} <= set(error), error


def _fuzz(strategy, calls: list, headers: dict | None = None) -> None:
    @given(case=strategy)
    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        _check(case, calls, headers)

    check()


def _fuzz_all(app, headers: dict | None = None) -> tuple[int, list[int]]:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app).exclude(path_regex=r"(/compile$|^/api/ws$)")
    calls: list[int] = []
    fuzzed = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            _fuzz(operation.as_strategy(), calls, headers)
        except UnsupportedSchema:
            _fuzz(_fallback(operation), calls, headers)
        fuzzed += 1
    return fuzzed, calls


def test_fuzz_no_server_errors(app):
    """Generated requests for every operation: never a 500, and every error body is the JSON error shape.

    Operations are driven one by one with hypothesis (schemathesis' pytest plugin does not load under pytest 9);
    compiles take seconds each and are covered elsewhere, and the live socket belongs to app.api.live.
    """
    fuzzed, calls = _fuzz_all(app)
    assert fuzzed >= 25 and 100 <= len(calls) <= 400, (fuzzed, len(calls))


def test_fuzz_with_access_control_on_and_a_token(make_app):
    """The same with WASMFLOW_AUTH on, through an admin's API token of a second workspace (issue 13): never a
    500, never a 401, every error the JSON error shape."""
    from app import auth, workspaces

    app = make_app(AUTH=True)
    db = app.extensions["wasmflow.engine"].db
    auth.create_user(db, "fuzz@example.com", "correct horse battery staple", role="admin")
    workspaces.create(db, "fuzzing")
    token = auth.create_token(db, "fuzz@example.com", "fuzz", workspace="fuzzing")["token"]
    fuzzed, calls = _fuzz_all(app, {"Authorization": f"Bearer {token}"})
    assert fuzzed >= 25 and 100 <= len(calls) <= 400, (fuzzed, len(calls))
    assert any(200 <= c < 300 for c in calls)
