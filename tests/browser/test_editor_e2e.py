"""The editor as a new user meets it, in Chromium against a real ``wasmflow serve``.

From an empty canvas: create a webhook workflow, drag an HTTP request and a transform from the palette,
connect them with the mouse, fill their configs, see a validation error on the field that caused it, fix it,
pin a mock, dry-run the compiled component in the tab (each node's status and output on the canvas; no server
run created, no request to the outside world), deploy, trigger the webhook and watch the run complete live in
the runs panel. Screenshots of each main state go to test-output/browser/.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from editorui import connect, drop, shot, tid, type_code, wait_saved  # noqa: E402

COMPILE_TIMEOUT_MS = 300_000  # a cold compile takes ~8 s alone, minutes on a loaded two-core machine


def test_build_dry_run_deploy_and_watch_a_live_run(page, live_server, orders_world):
    name = f"e2e-orders-{int(time.time() * 1000) % 10**8}"
    page.goto(live_server.url + "/")
    page.fill(tid("new-workflow-name"), name)
    page.select_option(tid("new-workflow-trigger"), "webhook")
    page.click(tid("btn-create"))
    page.wait_for_selector(tid("canvas"))
    page.wait_for_selector(tid("node-start"))
    shot(page, "e2e-01-empty-canvas")

    # Two nodes from the palette, by drag and drop, and two connections drawn with the mouse.
    drop(page, "http.request", 260, 150)
    drop(page, "transform", 470, 330)
    page.wait_for_selector(tid("node-http_request"))
    page.wait_for_selector(tid("node-transform"))
    connect(page, "handle-start-out", "handle-http_request-in")
    connect(page, "handle-http_request-out", "handle-transform-in")
    page.wait_for_selector(".react-flow__edge >> nth=1")
    # A connection that would close a cycle is refused, with the reason shown.
    connect(page, "handle-transform-out", "handle-http_request-in")
    refused = page.wait_for_selector(tid("toast-error"), timeout=10_000)
    assert "cycle" in refused.inner_text().lower()
    assert page.locator(".react-flow__edge").count() == 2

    # Configure the HTTP node (its URL points at the local "world" server) ...
    page.click(tid("node-http_request"))
    type_code(page, "/nodes/1/config/url", orders_world.url("/orders/total"))
    # ... and give the transform a broken expression: the server's error lands on that field and node.
    page.click(tid("node-transform"))
    type_code(page, "/nodes/2/config/expression", "http_request['body']['total'] *")
    error = page.wait_for_selector(tid("field-error-/nodes/2/config/expression"), timeout=30_000)
    assert error.inner_text().strip()
    page.wait_for_selector(tid("node-error-transform"))
    shot(page, "e2e-02-validation-error")

    type_code(page, "/nodes/2/config/expression", "{'doubled': http_request['body']['total'] * 2}")
    page.wait_for_selector(tid("field-error-/nodes/2/config/expression"), state="detached", timeout=30_000)
    wait_saved(page)
    saved = live_server.client.get(f"/api/workflows/{name}").json()["draft"]
    assert [n["id"] for n in saved["nodes"]] == ["start", "http_request", "transform"]
    assert {(e["from"], e["to"]) for e in saved["edges"]} == {("start", "http_request"), ("http_request", "transform")}
    assert saved["nodes"][1]["config"]["url"] == orders_world.url("/orders/total")

    # Pin the HTTP node's answer for the dry run.
    page.click(tid("node-http_request"))
    page.click(tid("tab-mock"))
    page.fill(tid("mock-status"), "200")
    page.fill(tid("mock-body"), json.dumps({"total": 21, "currency": "EUR"}))
    page.click(tid("mock-pin"))

    # Test run: compiled on the server, executed in the tab. Nothing else may leave the page.
    page.requests.clear()
    page.click(tid("btn-test-run"))
    page.wait_for_selector(f'{tid("dry-result")}[data-status="succeeded"]', timeout=COMPILE_TIMEOUT_MS)
    for node in ("start", "http_request", "transform"):
        assert page.get_attribute(tid(f"node-status-{node}"), "data-status") == "succeeded", node
    assert "42" in page.inner_text(tid("node-output-transform"))
    digest = page.get_attribute(tid("digest"), "data-digest")
    assert digest and len(digest) == 64
    shot(page, "e2e-03-dry-run")

    assert orders_world.requests == [], "the dry run reached the outside world"
    foreign = [u for u in page.requests if not u.startswith(live_server.url)]
    assert foreign == [], foreign
    assert live_server.client.get("/api/runs", params={"workflow": name}).json()["runs"] == []

    # Deploy the digest that was tested, then call the webhook and watch the run arrive live.
    page.click(tid("btn-deploy"))
    page.wait_for_selector(tid("deploy-webhook-url"), timeout=COMPILE_TIMEOUT_MS)
    assert page.inner_text(tid("deploy-version")).strip().lstrip("v") == "1"
    hook = page.inner_text(tid("deploy-webhook-url")).strip()
    assert hook.startswith(live_server.url + "/hooks/")
    deployed = live_server.client.get(f"/api/workflows/{name}").json()["deployment"]
    assert deployed["digest"] == digest  # the digest dry-run in the tab is the one deployed
    shot(page, "e2e-04-deployed")

    page.click(tid("bottom-tab-runs"))
    page.wait_for_selector(tid("runs-live"))
    assert live_server.client.post(hook, json={"order": 7}).status_code in (200, 202)
    row = page.wait_for_selector('[data-testid^="run-row-"][data-status="succeeded"]', timeout=60_000)
    assert len(orders_world.requests) == 1 and orders_world.requests[0].path == "/orders/total"
    row.click()
    page.wait_for_selector(f'{tid("node-status-transform")}[data-status="succeeded"]', timeout=30_000)
    run_id = row.get_attribute("data-testid").removeprefix("run-row-")
    run = live_server.client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "succeeded" and run["digest"] == digest
    assert run["output"]["output"] == {"doubled": 42}  # the end node's output; "nodes" has every node's
    shot(page, "e2e-05-live-run")
    assert not [c for c in page.console if c.startswith("pageerror")], page.console
