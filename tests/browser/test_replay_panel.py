"""Replay/fork from the runs panel, in Chromium against a real ``wasmflow serve`` (issue 7).

A webhook workflow calls a real local server (http.request) and shapes the answer (transform). It is compiled
and deployed through the API (a compile takes 10-60 s here; the editor's own compile path is covered by
test_editor_e2e.py), triggered once, and its run is opened in the runs panel. "Replay from here" on the
transform creates a new run that reuses the recorded HTTP answer: the local server sees exactly one request in
all, the new run succeeds and is opened, and the lineage shows both ways (and links back). A refused replay
("current" once nothing is deployed) shows the server's message in a toast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from editorui import shot, tid  # noqa: E402

COMPILE_TIMEOUT_S = 300  # a cold compile takes ~8 s alone, minutes on a loaded two-core machine


def workflow(name: str, url: str) -> dict:
    return {
        "dsl": "wasmflow/1",
        "name": name,
        "title": "Replay panel",
        "nodes": [
            {"id": "hook", "type": "trigger.webhook", "config": {"method": "POST"}, "position": {"x": 0, "y": 0}},
            {
                "id": "fetch",
                "type": "http.request",
                "config": {"method": "GET", "url": url, "response": "json"},
                "position": {"x": 260, "y": 0},
            },
            {
                "id": "shape",
                "type": "transform",
                "config": {"expression": "{'doubled': fetch['body']['total'] * 2}"},
                "position": {"x": 520, "y": 0},
            },
        ],
        "edges": [{"from": "hook", "to": "fetch"}, {"from": "fetch", "to": "shape"}],
    }


def deploy(client, doc: dict) -> str:
    """Create, compile and deploy through the API; the webhook URL."""
    name = doc["name"]
    assert client.post("/api/workflows", json=doc).status_code in (200, 201)
    compiled = client.post(f"/api/workflows/{name}/compile", timeout=COMPILE_TIMEOUT_S)
    assert compiled.status_code == 200, compiled.text
    deployed = client.post(f"/api/workflows/{name}/deploy", json={"digest": compiled.json()["digest"]})
    assert deployed.status_code == 200, deployed.text
    return deployed.json()["webhook_url"]


def wait_run(client, run_id: str, timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while True:
        run = client.get(f"/api/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        assert time.monotonic() < end, f"run {run_id} still {run['status']} after {timeout} s"
        time.sleep(0.2)


def test_replay_from_a_node_reuses_the_http_call_and_shows_lineage(page, live_server, orders_world):
    client = live_server.client
    name = f"replay-panel-{int(time.time() * 1000) % 10**8}"
    hook = deploy(client, workflow(name, orders_world.url("/orders/total")))
    hook = hook if hook.startswith("http") else live_server.url + hook
    assert client.post(hook, json={"order": 7}).status_code in (200, 202)
    runs = client.get("/api/runs", params={"workflow": name}).json()["runs"]
    assert len(runs) == 1
    original = runs[0]["id"]
    assert wait_run(client, original)["status"] == "succeeded"
    assert orders_world.paths() == ["/orders/total"]

    page.goto(f"{live_server.url}/#/w/{name}")
    page.wait_for_selector(tid("node-shape"))
    page.click(tid("bottom-tab-runs"))
    page.click(tid(f"run-row-{original}"))
    page.wait_for_selector(f'{tid("node-status-shape")}[data-status="succeeded"]', timeout=30_000)
    assert page.locator(tid("run-lineage")).count() == 0  # a first run has no lineage

    # The node selected on the canvas becomes the start of the replay.
    page.click(tid("node-shape"))
    page.wait_for_function("document.querySelector('[data-testid=\"replay-node\"]')?.value === 'shape'", timeout=10_000)
    assert page.input_value(tid("replay-version")) == "original"
    page.click(tid("btn-replay"))

    # The new run appears in the list, is opened, succeeds; it links back to the original.
    lineage = page.wait_for_selector(f"{tid(f'lineage-link-{original}')}", timeout=30_000)
    assert "replay of" in page.inner_text(tid("run-lineage"))
    assert "shape" in page.inner_text(tid("run-lineage"))
    rows = client.get("/api/runs", params={"workflow": name}).json()["runs"]
    replays = [r for r in rows if r["replay_of"]]
    assert len(replays) == 1, rows
    replay = replays[0]["id"]
    assert replays[0]["replay_of"] == {"run_id": original, "from_node": "shape"}
    assert wait_run(client, replay)["status"] == "succeeded"
    page.wait_for_selector(f'{tid(f"run-row-{replay}")}[data-status="succeeded"]', timeout=30_000)
    page.wait_for_selector(f'{tid("run-detail-status")}:has-text("succeeded")', timeout=30_000)
    assert '"doubled": 42' in page.inner_text(tid("run-detail-output"))
    assert page.locator(tid(f"run-row-{replay}")).get_attribute("class").find("is-active") >= 0
    assert "shape" in page.inner_text(tid(f"run-replay-mark-{replay}"))
    assert orders_world.paths() == ["/orders/total"], "the replay repeated the HTTP call"
    shot(page, "replay-01-replay-opened")

    # Back to the original through the link: it lists its replay, whose link opens the replay again.
    lineage.click()
    page.wait_for_selector(tid(f"lineage-link-{replay}"), timeout=30_000)
    assert "replays:" in page.inner_text(tid("run-lineage"))
    assert "from shape" in page.inner_text(tid("run-lineage"))
    shot(page, "replay-02-original-lists-replay")
    detail = client.get(f"/api/runs/{original}").json()
    assert [c["run_id"] for c in detail["lineage"]["replays"]] == [replay]
    page.click(tid(f"lineage-link-{replay}"))
    page.wait_for_selector(tid(f"lineage-link-{original}"), timeout=30_000)

    # "current deployed" is sent as such; the server runs the deployed digest (the same one here).
    page.select_option(tid("replay-node"), "fetch")
    page.select_option(tid("replay-version"), "current")
    page.click(tid("btn-replay"))
    page.wait_for_function("document.querySelectorAll('[data-testid^=\"run-row-\"]').length === 3", timeout=30_000)
    third = [
        r
        for r in client.get("/api/runs", params={"workflow": name}).json()["runs"]
        if r["id"] not in (original, replay)
    ]
    assert len(third) == 1 and third[0]["replay_of"] == {"run_id": replay, "from_node": "fetch"}
    assert wait_run(client, third[0]["id"])["status"] == "succeeded"
    # Replaying from the HTTP node itself makes the call live again: the second request in all.
    assert orders_world.paths() == ["/orders/total", "/orders/total"]
    shot(page, "replay-03-second-replay")

    # A refused replay shows the server's message: "current" once nothing is deployed (409 not_deployed).
    assert client.post(f"/api/workflows/{name}/undeploy").status_code == 204
    page.click(tid(f"lineage-link-{replay}"))  # the third run is a replay of the replay
    page.click(tid(f"lineage-link-{original}"))
    page.wait_for_selector(tid(f"lineage-link-{replay}"), timeout=30_000)
    page.select_option(tid("replay-version"), "current")
    page.click(tid("btn-replay"))
    toast = page.wait_for_selector(tid("toast-error"), timeout=30_000)
    assert "no deployed version to replay with" in toast.inner_text()
    shot(page, "replay-04-refused")
    assert len(client.get("/api/runs", params={"workflow": name}).json()["runs"]) == 3
    assert not [c for c in page.console if c.startswith("pageerror")], page.console
