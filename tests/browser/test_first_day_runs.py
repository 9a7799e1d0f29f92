"""What a new user missed on a first day, continued: server runs, in Chromium against a real ``wasmflow serve``.

The runs of all workflows on one page (filters by status and workflow kept in the URL, refreshed while open, a
row opens the run in its workflow's run view); "Run on server" for a deployed manual workflow (JSON input
checked on the field, the server's inputs-schema errors on the field too, the run followed live in the Runs
tab); a rename to an id a map body already uses; palette search in the node descriptions and the quick-add
menu inside a small window. Workflows are compiled and deployed through the API (cached by digest between
sessions with WASMFLOW_TEST_CACHE). Screenshots go to test-output/browser/first-day-runs-*.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import expect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from editorui import shot, tid, wait_saved  # noqa: E402

COMPILE_TIMEOUT_S = 300  # a cold compile takes seconds alone, minutes on a loaded two-core machine
RUN_TIMEOUT_MS = 60_000

N_INPUT = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}


def _doc(name: str, nodes: list[dict], edges: list[tuple[str, str]], **extra) -> dict:
    return {
        "dsl": "wasmflow/1",
        "name": name,
        **extra,
        "nodes": nodes,
        "edges": [{"from": a, "to": b} for a, b in edges],
    }


def _start() -> dict:
    return {"id": "start", "type": "trigger.manual", "config": {}, "position": {"x": 0, "y": 0}}


def _double_doc(name: str = "first-runs-double") -> dict:
    double = {"id": "double", "type": "transform", "config": {"expression": "input['n'] * 2"}}
    return _doc(name, [_start(), {**double, "position": {"x": 280, "y": 0}}], [("start", "double")], inputs=N_INPUT)


def _failing_doc() -> dict:
    stop = {"id": "stop", "type": "fail", "config": {"message": "no stock for {{ input['sku'] }}", "code": "no_stock"}}
    return _doc("first-runs-fail", [_start(), {**stop, "position": {"x": 280, "y": 0}}], [("start", "stop")])


def _approval_doc() -> dict:
    nodes = [
        _start(),
        {
            "id": "ok",
            "type": "approval",
            "config": {"title": "Double {{ input['n'] }}?", "timeout": "1h"},
            "position": {"x": 280, "y": 0},
        },
        {
            "id": "double",
            "type": "transform",
            "config": {"expression": "input['n'] * 2"},
            "position": {"x": 560, "y": 0},
        },
    ]
    return _doc("first-runs-server", nodes, [("start", "ok"), ("ok", "double")], title="Double it", inputs=N_INPUT)


def _create(client, doc: dict) -> None:
    r = client.post("/api/workflows/import", params={"overwrite": "true"}, json=doc)
    assert r.status_code == 201, r.text


def _deploy(client, name: str) -> int:
    """Compile the stored draft and deploy it; the version number."""
    compiled = client.post(f"/api/workflows/{name}/compile", timeout=COMPILE_TIMEOUT_S)
    assert compiled.status_code == 200, compiled.text
    deployed = client.post(f"/api/workflows/{name}/deploy", json={"digest": compiled.json()["digest"]})
    assert deployed.status_code == 200, deployed.text
    return deployed.json()["version"]


def _start_run(client, name: str, run_input: dict) -> str:
    r = client.post(f"/api/workflows/{name}/runs", json={"input": run_input})
    assert r.status_code == 202, r.text
    return r.json()["run_id"]


def _row(page, run_id: str):
    return page.locator(tid(f"runs-page-row-{run_id}"))


def test_runs_page_lists_every_workflow_filters_refreshes_and_opens_a_run(page, live_server):
    client = live_server.client
    for doc in (_double_doc(), _failing_doc()):
        _create(client, doc)
    v_double = _deploy(client, "first-runs-double")
    _deploy(client, "first-runs-fail")
    ok_run = _start_run(client, "first-runs-double", {"n": 21})
    failed_run = _start_run(client, "first-runs-fail", {"sku": "A-1"})

    # Reachable from the workflows list.
    page.goto(live_server.url + "/")
    page.click(tid("link-runs"))
    page.wait_for_url("**/#/runs")
    expect(_row(page, ok_run)).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT_MS)
    expect(_row(page, failed_run)).to_have_attribute("data-status", "failed", timeout=RUN_TIMEOUT_MS)
    cells = _row(page, ok_run).locator("td").all_inner_texts()
    assert cells[0].strip() == "succeeded" and cells[1].strip() == "first-runs-double", cells
    assert cells[2] == f"v{v_double}", cells
    assert cells[3].strip() and cells[4].strip().endswith(("ms", "s")), cells  # started, duration
    failed_cells = _row(page, failed_run).locator("td").all_inner_texts()
    assert "no stock for A-1" in failed_cells[5], failed_cells  # the error, in the row
    shot(page, "first-day-runs-01-all-workflows")

    # Status filter: only failed runs, kept in the URL.
    page.select_option(tid("runs-filter-status"), "failed")
    expect(_row(page, ok_run)).to_have_count(0)
    expect(_row(page, failed_run)).to_be_visible()
    statuses = page.eval_on_selector_all("[data-testid^='runs-page-row-']", "rs => rs.map(r => r.dataset.status)")
    assert statuses and set(statuses) == {"failed"}, statuses
    assert page.evaluate("location.hash") == "#/runs?status=failed"
    shot(page, "first-day-runs-02-status-failed")

    # Workflow filter (with any status): only that workflow's runs.
    page.select_option(tid("runs-filter-status"), "")
    page.select_option(tid("runs-filter-workflow"), "first-runs-double")
    expect(_row(page, failed_run)).to_have_count(0)
    expect(_row(page, ok_run)).to_be_visible()
    workflows = page.eval_on_selector_all("[data-testid^='runs-page-row-']", "rs => rs.map(r => r.dataset.workflow)")
    assert set(workflows) == {"first-runs-double"}, workflows

    # A run started elsewhere shows up while the page is open, and finishes there, without a reload.
    page.evaluate("window.__sameDocument = true")
    new_run = _start_run(client, "first-runs-double", {"n": 5})
    expect(_row(page, new_run)).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument === true")  # refreshed in place, not reloaded
    rows = page.eval_on_selector_all("[data-testid^='runs-page-row-']", "rs => rs.map(r => r.dataset.testid)")
    assert rows.index(f"runs-page-row-{new_run}") < rows.index(f"runs-page-row-{ok_run}")  # newest first

    # A filtered link opens filtered.
    page.goto(f"{live_server.url}/#/runs?status=failed&workflow=first-runs-fail")
    expect(_row(page, failed_run)).to_be_visible()
    expect(page.locator(tid("runs-filter-status"))).to_have_value("failed")
    expect(page.locator(tid("runs-filter-workflow"))).to_have_value("first-runs-fail")
    page.select_option(tid("runs-filter-workflow"), "first-runs-double")
    expect(page.locator(tid("runs-empty"))).to_contain_text("No runs match")
    page.click(tid("btn-runs-clear-filters"))
    expect(_row(page, failed_run)).to_be_visible()
    expect(_row(page, ok_run)).to_be_visible()
    page.select_option(tid("runs-filter-status"), "failed")
    page.click(tid("link-runs"))  # "Runs" in the header: all runs again
    expect(page.locator(tid("runs-filter-status"))).to_have_value("")
    expect(_row(page, ok_run)).to_be_visible()

    # A click opens the run in its workflow's run view: Runs tab, run open, states on the canvas.
    _row(page, ok_run).locator("td").nth(3).click()
    page.wait_for_url(f"**/#/w/first-runs-double?run={ok_run}")
    expect(page.locator(tid("run-detail-status"))).to_have_text("succeeded", timeout=30_000)
    expect(page.locator(tid(f"run-row-{ok_run}"))).to_have_class("wf-run-row is-active")
    expect(page.locator(tid("node-status-double"))).to_have_attribute("data-status", "succeeded")
    assert "42" in page.inner_text(tid("run-detail-output"))
    shot(page, "first-day-runs-03-run-opened-in-editor")

    # And back from the editor's header; from the workflows list, a workflow's own runs.
    page.click(tid("link-runs"))
    page.wait_for_url("**/#/runs")
    expect(_row(page, ok_run)).to_be_visible()
    page.click(tid("nav-workflows"))
    page.click(tid("runs-first-runs-fail"))
    page.wait_for_url("**/#/runs?workflow=first-runs-fail")
    expect(page.locator(tid("runs-filter-workflow"))).to_have_value("first-runs-fail")
    expect(_row(page, failed_run)).to_be_visible()
    expect(_row(page, ok_run)).to_have_count(0)
    assert not [c for c in page.console if c.startswith("pageerror")], page.console


def test_run_on_server_checks_the_input_on_the_field_and_follows_the_run_live(page, live_server):
    client = live_server.client
    doc = _approval_doc()
    name = doc["name"]
    _create(client, doc)
    page.goto(f"{live_server.url}/#/w/{name}")
    page.wait_for_selector(tid("node-double"))

    # Not deployed: nothing to run on the server.
    page.click(tid("bottom-tab-runs"))
    expect(page.locator(tid("runs-live"))).to_have_text("● live", timeout=30_000)
    expect(page.locator(tid("server-run"))).to_have_count(0)
    shot(page, "first-day-runs-04-not-deployed")

    # Deployed meanwhile (here through the API): the Runs tab offers it when opened again.
    version = _deploy(client, name)
    page.click(tid("bottom-tab-deploy"))
    page.click(tid("bottom-tab-runs"))
    form = page.locator(tid("server-run"))
    expect(form).to_contain_text(f"v{version}", timeout=30_000)
    expect(page.locator(tid("server-run-hint"))).to_have_text("takes n*")  # what the inputs schema asks for

    box = page.locator(tid("server-run-input"))
    button = page.locator(tid("btn-run-server"))
    error = page.locator(tid("server-run-input-error"))

    # Not JSON: said on the field, and nothing can be started.
    box.fill('{"n": ')
    expect(error).to_contain_text("not JSON")
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(button).to_be_disabled()
    shot(page, "first-day-runs-05-input-not-json")

    # JSON, but not what the workflow takes: the server's inputs-schema error lands on the field.
    box.fill('{"n": "twenty-one"}')
    expect(error).to_have_count(0)
    button.click()
    expect(error).to_contain_text("input.n: 'twenty-one' is not of type 'integer'")
    expect(box).to_have_value('{"n": "twenty-one"}')  # kept as typed, to be fixed
    assert client.get("/api/runs", params={"workflow": name}).json()["runs"] == []
    shot(page, "first-day-runs-06-input-schema-error")

    # A good input starts the run, which is opened and followed live: it waits for the approval (the canvas
    # says so), is approved in the run view, and succeeds, all without a reload.
    box.fill('{"n": 21}')
    expect(error).to_have_count(0)
    button.click()
    active = page.locator(".wf-run-row.is-active")
    expect(active).to_have_count(1, timeout=30_000)
    run_id = active.get_attribute("data-testid").removeprefix("run-row-")
    runs = client.get("/api/runs", params={"workflow": name}).json()["runs"]
    assert [r["id"] for r in runs] == [run_id]
    assert client.get(f"/api/runs/{run_id}").json()["input"] == {"n": 21}
    expect(page.locator(tid("run-detail-status"))).to_have_text("waiting", timeout=RUN_TIMEOUT_MS)
    expect(page.locator(tid("node-status-ok"))).to_have_attribute("data-status", "waiting")
    approval = page.locator(f"[data-testid^='run-approval-{run_id}']")
    expect(approval).to_contain_text("Double 21?")
    shot(page, "first-day-runs-07-server-run-waiting")
    page.fill(tid("run-approval-by"), "ada")
    page.click(tid("btn-run-approval-approve"))
    expect(page.locator(tid("run-detail-status"))).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    expect(page.locator(tid("node-status-double"))).to_have_attribute("data-status", "succeeded")
    expect(page.locator(tid(f"run-row-{run_id}"))).to_have_attribute("data-status", "succeeded")
    assert "42" in page.inner_text(tid("run-detail-output"))
    shot(page, "first-day-runs-08-server-run-succeeded")

    # The Deploy tab points there too.
    page.click(tid("bottom-tab-deploy"))
    page.click(tid("btn-deploy-run-server"))
    expect(page.locator(tid("server-run"))).to_be_visible()
    assert not [c for c in page.console if c.startswith("pageerror")], page.console


def test_rename_to_an_id_a_map_body_uses_stays_in_the_field(page, live_server):
    body = {
        "nodes": [
            {"id": "line", "type": "transform", "config": {"expression": "item * 2"}, "position": {"x": 0, "y": 0}}
        ],
        "edges": [],
    }
    nodes = [
        _start(),
        {"id": "each", "type": "map", "config": {"items": "[1, 2]", "body": body}, "position": {"x": 280, "y": 0}},
        {"id": "total", "type": "transform", "config": {"expression": "sum(each)"}, "position": {"x": 700, "y": 0}},
    ]
    name = "first-runs-rename"
    _create(live_server.client, _doc(name, nodes, [("start", "each"), ("each", "total")]))
    page.goto(f"{live_server.url}/#/w/{name}")
    page.wait_for_selector(tid("node-line"))

    page.click(tid("node-total"))
    field = page.locator(tid("field-node-id"))
    error = page.locator(tid("field-error-node-id"))
    field.fill("line")  # taken by the node inside the map's body
    expect(error).to_contain_text("id 'line' is already used by another node")
    for leave in ("Enter", "Tab"):  # neither applies it nor throws the text away
        field.press(leave)
        expect(field).to_have_value("line")
        expect(error).to_be_visible()
    expect(page.locator(tid("node-total"))).to_have_count(1)
    expect(field).to_have_attribute("aria-invalid", "true")
    shot(page, "first-day-runs-09-rename-taken-by-body-node")
    wait_saved(page)
    draft = live_server.client.get(f"/api/workflows/{name}").json()["draft"]
    assert [n["id"] for n in draft["nodes"]] == ["start", "each", "total"]

    # Escape gives the current id back; the body node is refused the top-level id just the same.
    field.press("Escape")
    expect(field).to_have_value("total")
    expect(error).to_have_count(0)
    page.click(tid("node-line"))
    expect(field).to_have_value("line")
    field.fill("total")
    field.press("Enter")
    expect(error).to_contain_text("id 'total' is already used by another node")
    field.fill("line_item")
    field.press("Enter")
    expect(page.locator(tid("node-line_item"))).to_be_visible()
    expect(error).to_have_count(0)
    wait_saved(page)
    draft = live_server.client.get(f"/api/workflows/{name}").json()["draft"]
    assert [n["id"] for n in draft["nodes"][1]["config"]["body"]["nodes"]] == ["line_item"]


def _inside_window(box: dict, size: dict) -> bool:
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"]
        and box["y"] + box["height"] <= size["height"]
    )


def _settled_box(page, locator, what: str, inside: dict | None = None) -> dict:
    """The locator's bounding box once it stops moving (a panel collapsing, a fit-view re-rendering): the same
    on two reads 50 ms apart, and with ``inside`` well within that box (a fitted node is not near the edge, where
    the last drag's auto-pan took it). A busy machine makes these updates late, not shorter."""
    last = None
    for _ in range(200):
        box = locator.bounding_box()
        if box is not None and box == last and (inside is None or _within(box, inside, margin=60)):
            return box
        last = box
        page.wait_for_timeout(50)
    raise AssertionError(f"{what} kept moving: {last}")


def _within(box: dict, outer: dict, *, margin: float) -> bool:
    return (
        box["x"] >= outer["x"] + margin
        and box["y"] >= outer["y"] + margin
        and box["x"] + box["width"] <= outer["x"] + outer["width"] - margin
        and box["y"] + box["height"] <= outer["y"] + outer["height"] - margin
    )


def test_palette_searches_descriptions_and_quick_add_fits_a_small_window(page, live_server):
    name = "first-runs-palette"
    _create(live_server.client, _doc(name, [_start()], []))
    page.set_viewport_size({"width": 1000, "height": 560})
    page.goto(f"{live_server.url}/#/w/{name}")
    page.wait_for_selector(tid("node-start"))
    # In this narrow window the top bar still has all its buttons (the title gives up width first).
    for button in ("btn-test-run", "btn-deploy", "link-runs"):
        box = page.locator(tid(button)).bounding_box()
        assert box["x"] + box["width"] <= 1000, (button, box)
    search = page.locator(tid("palette-search"))

    def shown() -> set[str]:
        ids = page.eval_on_selector_all("[data-testid^='palette-'][draggable]", "els => els.map(e => e.dataset.testid)")
        return {i.removeprefix("palette-") for i in ids}

    # Aliases and words of the descriptions (the help text the inspector shows), not only names.
    for query, expected, absent in (
        ("if", {"branch", "switch"}, {"http.request", "transform"}),
        ("loop", {"map"}, {"transform"}),
        ("json", {"transform", "http.request", "kv.set"}, {"branch", "map"}),
        ("parse", {"transform", "http.request"}, {"kv.get"}),
        ("suspended", {"wait"}, {"approval"}),
    ):
        search.fill(query)
        for _ in range(100):  # the list re-renders after the input event: wait for it rather than assume
            found = shown()
            if expected <= found and not (absent & found):
                break
            page.wait_for_timeout(50)
        assert expected <= found and not (absent & found), (query, found)
    search.fill("loop")
    shot(page, "first-day-runs-10-palette-loop")
    search.fill("")
    cut = page.eval_on_selector_all(
        ".wf-palette-summary", "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).length"
    )
    assert cut == 0

    # The quick-add menu opens inside this short window wherever the connection is dropped, scrolls inside
    # itself, and its last entry can still be picked.
    page.click(tid("btn-collapse-inspector"))  # the canvas reaches the window's right edge
    size = page.viewport_size
    canvas = _settled_box(page, page.locator(".react-flow"), "the canvas")
    corners = {
        "bottom-right": (canvas["x"] + canvas["width"] - 20, canvas["y"] + canvas["height"] - 10),
        "bottom-left": (canvas["x"] + 70, canvas["y"] + canvas["height"] - 10),  # right of the zoom buttons
        "top-right": (canvas["x"] + canvas["width"] - 20, canvas["y"] + 140),  # below the minimap
    }

    def drag_to(x: float, y: float) -> None:
        # a connection dragged near the edge pans the canvas (React Flow's autoPanOnConnect): start each
        # drag from the trigger fitted in view again
        page.click(".react-flow__controls-fitview")
        handle = _settled_box(page, page.locator(tid("handle-start-out")), "the trigger's handle", inside=canvas)
        page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        page.mouse.down()
        page.mouse.move(x, y, steps=12)
        page.mouse.up()

    for where, (x, y) in corners.items():
        drag_to(x, y)
        menu = page.locator(tid("quick-add"))
        expect(menu).to_be_visible()
        box = menu.bounding_box()
        assert _inside_window(box, size), (where, box, size)
        assert abs(box["x"] - x) < 260 and abs(box["y"] - y) < size["height"], (where, box)  # near the drop
        shot(page, f"first-day-runs-11-quick-add-{where}")
        page.keyboard.press("Escape")
        expect(menu).to_have_count(0)

    drag_to(*corners["bottom-right"])
    menu = page.locator(tid("quick-add"))
    assert menu.evaluate("m => m.scrollHeight > m.clientHeight")  # more entries than fit: it scrolls
    page.fill(tid("quick-add-search"), "if")
    expect(menu.locator("button").first).to_have_attribute("data-testid", "quick-add-branch")
    page.fill(tid("quick-add-search"), "")
    last = menu.locator("button").last
    last_type = last.get_attribute("data-testid").removeprefix("quick-add-")
    last.scroll_into_view_if_needed()
    last.click()
    expect(page.locator(tid(f"node-{last_type.replace('.', '_')}"))).to_have_count(1)
    wait_saved(page)
    draft = live_server.client.get(f"/api/workflows/{name}").json()["draft"]
    assert [n["type"] for n in draft["nodes"]] == ["trigger.manual", last_type]
    assert draft["edges"] == [{"from": "start", "to": draft["nodes"][1]["id"]}]
