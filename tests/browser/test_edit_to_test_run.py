"""Edit an expression, then "Test run": with the shared runtime the edited workflow compiles to a few-kB
program, the tab reuses the runtime it already compiled, and the canvas shows the first node result within
about a second. Results of the older digest stay on the canvas marked stale until the new run replaces them."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from editorui import shot, tid, type_code, wait_saved  # noqa: E402

COMPILE_TIMEOUT_MS = 300_000  # the first compile of a fresh runtime folder builds the runtime (minutes if loaded)


def _doc(name: str) -> dict:
    return {
        "dsl": "wasmflow/1",
        "name": name,
        "nodes": [
            {"id": "hook", "type": "trigger.webhook", "config": {"method": "POST"}, "position": {"x": 0, "y": 0}},
            {
                "id": "calc",
                "type": "transform",
                "config": {"expression": "{'n': 1}"},
                "position": {"x": 260, "y": 0},
            },
        ],
        "edges": [{"from": "hook", "to": "calc"}],
    }


def test_an_edit_test_runs_at_once_and_old_results_are_marked_stale(page, live_server):
    name = f"edit-run-{int(time.time() * 1000) % 10**8}"
    assert live_server.client.post("/api/workflows", json=_doc(name)).status_code in (200, 201)
    page.goto(f"{live_server.url}/#/w/{name}")
    page.wait_for_selector(tid("node-calc"))
    page.click(tid("btn-test-run"))
    page.wait_for_selector(f'{tid("dry-result")}[data-status="succeeded"]', timeout=COMPILE_TIMEOUT_MS)
    first_digest = page.get_attribute(tid("digest"), "data-digest")

    page.click(tid("node-calc"))
    type_code(page, "/nodes/1/config/expression", "{'n': 2}")
    wait_saved(page)
    page.wait_for_selector(f'{tid("node-status-calc")}[data-stale="true"]', timeout=30_000)
    page.wait_for_selector(f'{tid("run-overlay")}[data-stale="true"]')
    shot(page, "edit-01-stale-results")

    page.requests.clear()
    t0 = time.perf_counter()
    page.click(tid("btn-test-run"))
    page.wait_for_selector(
        f'{tid("node-status-calc")}[data-status="succeeded"]:not([data-stale])', timeout=COMPILE_TIMEOUT_MS
    )
    seconds = time.perf_counter() - t0
    digest = page.get_attribute(tid("digest"), "data-digest")
    assert digest != first_digest
    assert "2" in page.inner_text(tid("node-output-calc"))
    # the tab kept the runtime: the new workflow cost its artifact's JSON and its program, nothing else
    fetched = [u for u in page.requests if "/api/artifacts/" in u]
    assert not [u for u in fetched if "/api/artifacts/runtime/" in u], fetched
    assert any(u.endswith(f"/api/artifacts/{digest}/program") for u in fetched), fetched
    print(f"edit -> test run -> first node result: {seconds * 1000:.0f} ms")
    assert seconds < 10, seconds  # the target is 1 s; a loaded CI machine gets slack
    shot(page, "edit-02-fresh-results")
    assert not [c for c in page.console if c.startswith("pageerror")], page.console
