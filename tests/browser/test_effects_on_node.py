"""A side effect retried with its key, as a person sees it in the editor (issue 11), in Chromium against a real
``wasmflow serve``.

The POST node calls a real local server that deduplicates by ``Idempotency-Key``: the first attempt is
applied but answered after the node's 1 s timeout; the retry carries the same key and gets the stored answer
with ``Idempotent-Replayed: true``. In the runs panel the node is green with a "replayed by server" badge
(its title names the key), the shipment was made once, and the inspector offers the node's ``idempotency``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from editorui import shot, tid  # noqa: E402
from test_replay_panel import deploy, wait_run  # noqa: E402


def workflow(name: str, url: str) -> dict:
    return {
        "dsl": "wasmflow/1",
        "name": name,
        "title": "Ship once",
        "nodes": [
            {"id": "hook", "type": "trigger.webhook", "config": {"method": "POST"}, "position": {"x": 0, "y": 0}},
            {
                "id": "ship",
                "type": "http.request",
                "config": {
                    "method": "POST",
                    "url": url,
                    "body": "{'order_id': input['body']['order']}",
                    "timeout_seconds": 1,
                },
                "retry": {"max_attempts": 3, "backoff": {"initial_seconds": 0.2, "jitter": False}},
                "position": {"x": 280, "y": 0},
            },
        ],
        "edges": [{"from": "hook", "to": "ship"}],
    }


def test_a_retry_answered_from_the_servers_idempotency_cache_shows_on_the_node(page, live_server):
    from httpserver import Reply, TestServer

    stored: dict[str, bytes] = {}
    applied: list[str] = []
    keys: list[str] = []
    lock = threading.Lock()

    def shipments(req) -> Reply:
        key = req.header("idempotency-key")
        with lock:
            keys.append(key)
            if key in stored:
                return Reply(
                    status=201,
                    headers={"Content-Type": "application/json", "Idempotent-Replayed": "true"},
                    body=stored[key],
                )
            applied.append(json.loads(req.body)["order_id"])
            stored[key] = json.dumps({"shipment": f"s-{applied[-1]}"}).encode()
        return Reply(status=201, headers={"Content-Type": "application/json"}, body=stored[key], delay=1.6)

    client = live_server.client
    name = f"ship-once-{int(time.time() * 1000) % 10**8}"
    with TestServer() as srv:
        srv.route("/shipments", shipments)
        hook = deploy(client, workflow(name, srv.url("/shipments")))
        hook = hook if hook.startswith("http") else live_server.url + hook
        assert client.post(hook, json={"order": "o-77"}).status_code in (200, 202)
        (row,) = client.get("/api/runs", params={"workflow": name}).json()["runs"]
        run = wait_run(client, row["id"], timeout=120)
        end = time.monotonic() + 60
        while run["status"] == "waiting" and time.monotonic() < end:  # the retry's backoff suspends the run
            time.sleep(0.2)
            run = wait_run(client, row["id"], timeout=120)
        assert run["status"] == "succeeded", run
        assert applied == ["o-77"] and len(keys) == 2 and keys[0] == keys[1] == f"{row['id']}:ship#1"

    page.goto(f"{live_server.url}/#/w/{name}")
    page.wait_for_selector(tid("node-ship"))
    page.click(tid("bottom-tab-runs"))
    page.click(tid(f"run-row-{row['id']}"))
    page.wait_for_selector(f'{tid("node-status-ship")}[data-status="succeeded"]', timeout=30_000)
    badge = page.wait_for_selector(tid("node-replayed-ship"), timeout=30_000)
    assert "replayed by server" in badge.inner_text()
    assert f"{row['id']}:ship#1" in badge.get_attribute("title")

    page.click(tid("node-ship"))
    field = page.wait_for_selector(tid("field-/nodes/1/config/idempotency"), timeout=10_000)
    assert field.input_value() == "key"
    assert sorted(o.get_attribute("value") for o in field.query_selector_all("option") if o.get_attribute("value"))[
        :2
    ] == ["key", "none"]
    shot(page, "effects-01-replayed-by-server")
    assert not [c for c in page.console if c.startswith("pageerror")], page.console
