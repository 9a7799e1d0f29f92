"""Dry run in Chromium vs server run: the same compiled digest, the same fixtures, the same outputs.

Each example runs on a real ``wasmflow serve`` against the world server (tests/runtime/worldserver.py); the
journal of that run becomes the mocks (``mocksFromRun``) of a dry run of the same digest in the page
(editor/dryrun.html). Node by node the outputs must be equal, the page must make no request but the
same-origin bundle fetches, and the dry run must create no server run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from scenarios import SCENARIOS
from support import EXAMPLE_NAMES, EXAMPLES
from worldserver import WorldServer, localize

from app.engine.runs import utcnow
from app.runtime.secrets import open_secret_store
from app.store.db import Database
from app.store.models import KvEntry

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

DRY_RUN = """async ({digest, document, input, run, drop, approval, stopAfter, timeoutSeconds}) => {
  const api = window.wasmflowDryRun;
  const mocks = api.mocksFromRun(run);
  for (const node of drop || []) delete mocks[node];
  const asked = [];
  const streamed = [];
  const handle = api.startDryRun({
    digest, document, input, mocks, stopAfter, timeoutSeconds,
    onEvent: (e) => streamed.push(e),
    onApproval: approval ? async (req) => { asked.push(req); return approval; } : undefined,
  });
  const result = await handle.done;
  return {result, asked, streamed: streamed.length, mocks};
}"""


WORLD_PORT = int(os.environ.get("WASMFLOW_TEST_WORLD_PORT", "47651"))


def _world_server() -> WorldServer:
    """The world server on a fixed port when it is free: the localized documents (whose URLs name the port)
    then keep their digests across sessions, so their compiled bundles come from the test cache."""
    server = WorldServer()
    httpd = server._httpd
    try:
        stable = type(httpd)(("127.0.0.1", WORLD_PORT), httpd.RequestHandlerClass)
    except OSError:
        return server  # taken (another session): a random port, compiled afresh
    httpd.server_close()
    server._httpd, server.port = stable, WORLD_PORT
    server._thread = threading.Thread(
        target=stable.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http", daemon=True
    )
    return server


@pytest.fixture(scope="session")
def world():
    server = _world_server().start()
    yield server
    server.release.set()
    server.stop()


@pytest.fixture(scope="session")
def bundled(world, compiler, live_server) -> dict:
    """name -> (localized document, CompileResult with a browser bundle), known to the live server."""
    base = world.url("").rstrip("/")
    docs = {n: localize(json.loads((EXAMPLES / f"{n}.json").read_text()), base) for n in EXAMPLE_NAMES}
    futures = {n: compiler.submit(doc) for n, doc in docs.items()}
    out = {n: (docs[n], f.result()) for n, f in futures.items()}
    live_server.add_artifacts(c.digest for _, c in out.values())
    db = Database(live_server.database_url)
    secrets = open_secret_store(db, live_server.instance_dir)
    for name, (doc, compiled) in out.items():
        bundle = compiled.artifact.bundle
        assert bundle.get("entry") or bundle.get("runtime_entry"), f"{name}: compiled without a browser bundle"
        for secret in compiled.artifact.manifest["secrets"]:
            secrets.set(secret, f"value-of-{secret.lower()}")
        r = live_server.client.post("/api/workflows", json=doc)
        assert r.status_code in (201, 409), r.text
    db.dispose()
    return out


def _seed_kv(database_url: str, workflow: str, kv: dict) -> None:
    db = Database(database_url)
    with db.session() as s:
        for (ns, key), value in kv.items():
            if s.get(KvEntry, (workflow, ns, key)) is None:
                s.add(KvEntry(workflow_name=workflow, namespace=ns, key=key, value=value, updated_at=utcnow()))
    db.dispose()


def server_run(live_server, world, bundled, name: str) -> dict:
    """Run ``name`` on the live server with its scenario (approvals decided through the API); returns the
    run detail with its journal."""
    doc, compiled = bundled[name]
    scenario = SCENARIOS[name]
    world.use(name)
    _seed_kv(live_server.database_url, doc["name"], scenario.kv)
    client = live_server.client
    started = client.post(
        f"/api/workflows/{doc['name']}/runs", json={"input": scenario.input, "digest": compiled.digest}
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    end = time.monotonic() + 120
    while True:
        body = client.get(f"/api/runs/{run_id}").json()
        if body["status"] in ("succeeded", "failed", "needs_attention", "cancelled"):
            break
        if body["status"] == "waiting" and (body.get("waiting_for") or {}).get("kind") == "approval":
            key = body["waiting_for"]["approval"]
            verb = "approve" if scenario.approval["approved"] else "reject"
            decided = client.post(
                f"/api/approvals/{key}/{verb}",
                json={"by": scenario.approval["by"], "reason": scenario.approval["reason"]},
            )
            assert decided.status_code in (200, 409), decided.text
        assert time.monotonic() < end, f"server run {run_id} of {name} did not finish: {body['status']}"
        time.sleep(0.1)
    assert body["status"] == "succeeded", body
    detail = client.get(f"/api/runs/{run_id}", params={"journal": 1}).json()
    assert detail["journal"], detail
    return detail


def run_ids(live_server) -> list[str]:
    return [r["id"] for r in live_server.client.get("/api/runs", params={"limit": 200}).json()["runs"]]


def dry_run(page, live_server, digest: str, doc: dict, input, run: dict, **kw) -> dict:
    page.goto(f"{live_server.url}/dryrun.html")
    try:
        page.wait_for_function("() => window.wasmflowDryRun !== undefined", timeout=20_000)
    except PlaywrightTimeout:  # static/ was being rebuilt by a concurrent `npm run build`: load it again
        page.reload()
        page.wait_for_function("() => window.wasmflowDryRun !== undefined", timeout=60_000)
    args = {"digest": digest, "document": doc, "input": input, "run": run, "drop": [], "approval": None}
    args.update(kw)
    return page.evaluate(DRY_RUN, args)


def assert_stayed_in_browser(page, live_server, digest: str) -> None:
    """Every request was same-origin and either the page itself or the bundle of ``digest`` (a program's
    bundle is the shared runtime's, by runtime key, plus the program)."""
    allowed_api = (f"/api/artifacts/{digest}", "/api/artifacts/core/", "/api/artifacts/runtime/")
    for url in page.requests:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == live_server.url, f"request left the origin: {url}"
        ok = parts.path in ("/dryrun.html", "/favicon.ico") or parts.path.startswith("/assets/")
        ok = ok or parts.path.startswith(allowed_api)
        assert ok, f"the dry run requested {url} (only its bundle and core modules are allowed)"
    assert any("/api/artifacts/core/" in u or "/api/artifacts/runtime/" in u for u in page.requests), page.requests


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_dry_run_matches_the_server_run_node_by_node(page, live_server, world, bundled, name):
    doc, compiled = bundled[name]
    detail = server_run(live_server, world, bundled, name)
    before = run_ids(live_server)
    world_requests = len(world.requests)

    got = dry_run(page, live_server, compiled.digest, doc, SCENARIOS[name].input, detail)
    result = got["result"]

    assert result["status"] == "succeeded", (result.get("error"), page.console)
    # the server stores the component's result: {"output", "nodes": {id: output}}
    assert result["output"] == detail["output"]["output"]
    assert result["nodeOutputs"] == detail["output"]["nodes"]
    server_nodes = {n["node"]: n for n in detail["nodes"]}
    assert set(result["nodes"]) == set(server_nodes)
    for node, server in server_nodes.items():
        mine = result["nodes"][node]
        want_status = {"finished": "succeeded"}.get(server["status"], server["status"])
        assert mine["status"] == want_status, (node, mine, server)
        assert mine.get("output") == server.get("output"), node
        assert mine["attempts"] == server.get("attempts", mine["attempts"]), node
    # the component's own per-node outputs agree with the events
    for node, output in result["nodeOutputs"].items():
        assert result["nodes"][node]["output"] == output, node
    assert got["streamed"] == len(result["events"]) > 0
    assert not got["asked"], "approvals were answered from the server run's journal"
    # same calls (capability and node, in order) as the server journal made
    mine = [(c["capability"], c["node"]) for c in result["calls"]]
    theirs = [(j["capability"], j["node"]) for j in detail["journal"]]
    assert mine == theirs

    assert_stayed_in_browser(page, live_server, compiled.digest)
    assert len(world.requests) == world_requests, "the dry run reached the outside world"
    assert run_ids(live_server) == before, "the dry run created a server run"


def _http_node(doc: dict) -> str:
    return next(n["id"] for n in doc["nodes"] if n["type"] == "http.request")


def test_a_node_without_a_mock_fails_with_no_mock_on_that_node(page, live_server, world, bundled):
    name = "webhook-approval"
    doc, compiled = bundled[name]
    detail = server_run(live_server, world, bundled, name)
    node = _http_node(doc)
    got = dry_run(page, live_server, compiled.digest, doc, SCENARIOS[name].input, detail, drop=[node])
    result = got["result"]
    assert result["status"] == "failed", result
    assert result["error"]["node"] == node
    assert f"no mock for node {node}" in result["error"]["message"]
    failed = result["nodes"][node]
    assert failed["status"] == "failed" and f"no mock for node {node}" in failed["error"]["message"]
    # its retry policy (network, timeout, 5xx, 429 by default) does not retry a missing mock
    assert failed["attempts"] == 1
    assert [e["status"] for e in result["events"]][-1] == "failed"
    assert "notify_approved" not in result["nodes"], "nothing ran after the failing node"
    assert_stayed_in_browser(page, live_server, compiled.digest)


def test_an_approval_without_a_mock_asks_the_page(page, live_server, world, bundled):
    name = "webhook-approval"
    doc, compiled = bundled[name]
    detail = server_run(live_server, world, bundled, name)
    node = next(n["id"] for n in doc["nodes"] if n["type"] == "approval")
    decision = {"approved": True, "by": "tester@example.com", "reason": "decided in the tab"}
    before = run_ids(live_server)
    got = dry_run(
        page, live_server, compiled.digest, doc, SCENARIOS[name].input, detail, drop=[node], approval=decision
    )
    result = got["result"]
    assert [a["node"] for a in got["asked"]] == [node]
    assert got["asked"][0]["title"].startswith("Refund")
    assert result["status"] == "succeeded", result.get("error")
    out = result["nodes"][node]["output"]
    assert (out["approved"], out["decision"], out["by"], out["reason"]) == (
        True,
        "approved",
        "tester@example.com",
        "decided in the tab",
    )
    # the approved branch ran on with its own mock (the server run took the same branch)
    assert result["nodes"]["notify_approved"]["status"] == "succeeded"
    statuses = [e["status"] for e in result["events"] if e["node"] == node]
    assert statuses == ["started", "waiting", "succeeded"], statuses
    # the calls before the approval were made once (the re-execution replayed them, not reported again)
    seqs = [c["seq"] for c in result["calls"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert_stayed_in_browser(page, live_server, compiled.digest)
    assert run_ids(live_server) == before


def test_run_up_to_a_node_stops_after_it(page, live_server, world, bundled):
    name = "webhook-approval"
    doc, compiled = bundled[name]
    detail = server_run(live_server, world, bundled, name)
    node = _http_node(doc)
    got = dry_run(page, live_server, compiled.digest, doc, SCENARIOS[name].input, detail, stopAfter=node)
    result = got["result"]
    assert result["status"] == "stopped", result
    assert result["nodes"][node]["status"] == "succeeded"
    server_nodes = {n["node"]: n for n in detail["nodes"]}
    assert result["nodes"][node]["output"] == server_nodes[node]["output"]
    assert list(result["nodes"])[-1] == node, "nothing ran after the node"


RUN_UP_TO = """async ({digest, document, input, run, stopAfter}) => {
  const api = window.wasmflowDryRun;
  const first = await api.startDryRun({digest, document, input, mocks: api.mocksFromRun(run)}).done;
  // run up to a node again with no mocks at all: the upstream calls come from the first dry run
  const again = await api.startDryRun({digest, document, input, mocks: {}, stopAfter, replay: first.calls}).done;
  return {first, again};
}"""


def test_run_up_to_here_reuses_the_recorded_upstream_calls(page, live_server, world, bundled):
    name = "webhook-approval"
    doc, compiled = bundled[name]
    detail = server_run(live_server, world, bundled, name)
    dry_run(page, live_server, compiled.digest, doc, SCENARIOS[name].input, detail)  # loads the page
    node = next(n["id"] for n in doc["nodes"] if n["type"] == "approval")
    got = page.evaluate(
        RUN_UP_TO,
        {"digest": compiled.digest, "document": doc, "input": SCENARIOS[name].input, "run": detail, "stopAfter": node},
    )
    first, again = got["first"], got["again"]
    assert first["status"] == "succeeded", first.get("error")
    assert again["status"] == "stopped", again.get("error")
    assert list(again["nodes"])[-1] == node
    for upstream in again["nodes"]:
        assert again["nodes"][upstream]["output"] == first["nodes"][upstream]["output"], upstream
    assert {c["source"] for c in again["calls"]} == {"replay"}
    assert_stayed_in_browser(page, live_server, compiled.digest)


RUNAWAY = {
    "dsl": "wasmflow/1",
    "name": "dryrun-runaway",
    "nodes": [
        {"id": "start", "type": "trigger.manual"},
        {"id": "spin", "type": "transform", "config": {"code": "while True:\n    pass"}},
    ],
    "edges": [{"from": "start", "to": "spin"}],
}


def test_a_runaway_guest_is_stopped_after_the_limit(page, live_server, compiler):
    compiled = compiler.compile(RUNAWAY)
    live_server.add_artifacts([compiled.digest])
    page.goto(f"{live_server.url}/dryrun.html")
    page.wait_for_function("() => window.wasmflowDryRun !== undefined", timeout=60_000)
    started = time.monotonic()
    result = page.evaluate(
        """async ({digest, document}) => {
          const events = [];
          const r = await window.wasmflowDryRun.startDryRun(
            {digest, document, input: {}, mocks: {}, timeoutSeconds: 3, onEvent: (e) => events.push(e)}).done;
          return {...r, streamedBeforeStop: events.map((e) => `${e.node}:${e.status}`)};
        }""",
        {"digest": compiled.digest, "document": RUNAWAY},
    )
    assert result["status"] == "timed_out", result
    assert "dry run stopped after 3 s" in result["error"]["message"]
    # the node was shown running before the worker was terminated
    assert "spin:started" in result["streamedBeforeStop"]
    assert result["nodes"]["spin"]["status"] == "started"
    assert time.monotonic() - started < 60
