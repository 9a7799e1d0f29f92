"""What a new user missed on a first day with the editor, in Chromium against a real ``wasmflow serve``.

Palette search by what people type (if, loop, json), readable descriptions, the quick-add menu kept on screen;
a rename to a taken id kept in the field with the reason; inspector fields in fill-in order with help per
node type; the examples open without overlapping nodes at a legible zoom; collapsible side panels; edges of
a top-to-bottom layout that do not loop back; importing an invalid document as a draft. Screenshots go to
test-output/browser/first-day-*.png.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from editorui import shot, tid, wait_saved  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


def _unique(prefix: str) -> str:
    return f"{prefix}-{int(time.time() * 1000) % 10**8}"


def _create(live_server, doc: dict) -> None:
    r = live_server.client.post("/api/workflows/import", params={"overwrite": "true"}, json=doc)
    assert r.status_code == 201, r.text


def _open(page, live_server, name: str) -> None:
    page.goto(f"{live_server.url}/#/w/{name}")
    page.wait_for_selector(tid("canvas"))
    page.wait_for_selector(".react-flow__node")


def _doc(name: str, nodes: list[dict], edges: list[tuple[str, str]]) -> dict:
    return {
        "dsl": "wasmflow/1",
        "name": name,
        "nodes": nodes,
        "edges": [{"from": a, "to": b} for a, b in edges],
    }


def _zoom(page) -> float:
    transform = page.eval_on_selector(".react-flow__viewport", "el => el.style.transform")
    m = re.search(r"scale\(([\d.]+)\)", transform)
    assert m, transform
    return float(m.group(1))


def _inside(box: dict, outer: dict, slack: float = 1) -> bool:
    return (
        box["x"] >= outer["x"] - slack
        and box["y"] >= outer["y"] - slack
        and box["x"] + box["width"] <= outer["x"] + outer["width"] + slack
        and box["y"] + box["height"] <= outer["y"] + outer["height"] + slack
    )


def test_palette_finds_what_people_type_and_quick_add_stays_on_screen(page, live_server):
    name = _unique("first-palette")
    _create(
        live_server,
        _doc(name, [{"id": "start", "type": "trigger.manual", "config": {}, "position": {"x": 0, "y": 0}}], []),
    )
    _open(page, live_server, name)
    search = page.locator(tid("palette-search"))

    # Names only used to be searched: these found nothing.
    for query, expected in (
        ("if", "branch"),
        ("condition", "branch"),
        ("loop", "map"),
        ("each", "map"),
        ("json", "transform"),
        ("python", "transform"),
        ("api", "http.request"),
    ):
        search.fill(query)
        assert page.locator(tid(f"palette-{expected}")).is_visible(), query
    search.fill("if")
    assert not page.locator(tid("palette-http.request")).is_visible()
    search.fill("qqqq")
    page.wait_for_selector(tid("palette-empty"))
    search.fill("loop")
    shot(page, "first-day-01-palette-search-loop")

    # Descriptions are shown whole (wrapped), not cut with an ellipsis.
    search.fill("")
    summaries = page.eval_on_selector_all(
        ".wf-palette-summary",
        "els => els.map(e => ({text: e.textContent, cut: e.scrollWidth > e.clientWidth + 1, h: e.clientHeight}))",
    )
    schema = live_server.client.get("/api/dsl/schema").json()["x-wasmflow-node-types"]
    assert {s["text"] for s in summaries} == {t["summary"] for t in schema.values()}
    assert not [s for s in summaries if s["cut"]]
    assert any(s["h"] > 20 for s in summaries)  # the long ones take two lines
    shot(page, "first-day-02-palette-descriptions")

    # Drop a connection near the bottom-right corner: the quick-add menu opens inside the window.
    handle = page.locator(tid("handle-start-out")).bounding_box()
    canvas = page.locator(".react-flow").bounding_box()
    viewport = page.viewport_size
    drop_x, drop_y = canvas["x"] + canvas["width"] - 30, canvas["y"] + canvas["height"] - 15
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(drop_x, drop_y, steps=12)
    page.mouse.up()
    menu = page.wait_for_selector(tid("quick-add"))
    box = menu.bounding_box()
    assert box["x"] + 220 > drop_x - 250  # still next to where it was dropped
    assert _inside(box, {"x": 0, "y": 0, "width": viewport["width"], "height": viewport["height"]}), (box, viewport)
    assert page.locator(tid("quick-add-http.request")).is_visible()
    shot(page, "first-day-03-quick-add-clamped")
    page.fill(tid("quick-add-search"), "json")
    first = page.locator(f"{tid('quick-add')} button").first
    assert first.get_attribute("data-testid") == "quick-add-transform"
    assert menu.bounding_box()["y"] == box["y"]  # typing does not move it
    page.keyboard.press("Enter")
    page.wait_for_selector(tid("node-transform"))
    wait_saved(page)
    draft = live_server.client.get(f"/api/workflows/{name}").json()["draft"]
    assert draft["edges"] == [{"from": "start", "to": "transform"}]


def test_rename_to_a_taken_id_keeps_the_text_and_says_why(page, live_server):
    name = _unique("first-rename")
    nodes = [
        {"id": "start", "type": "trigger.manual", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "total", "type": "transform", "config": {"expression": "1"}, "position": {"x": 280, "y": 0}},
        {"id": "double", "type": "transform", "config": {"expression": "total * 2"}, "position": {"x": 560, "y": 0}},
    ]
    _create(live_server, _doc(name, nodes, [("start", "total"), ("total", "double")]))
    _open(page, live_server, name)
    page.click(tid("node-double"))
    field = page.locator(tid("field-node-id"))
    field.fill("total")
    field.press("Tab")  # leave the field: the rename used to be undone silently here
    error = page.wait_for_selector(tid("field-error-node-id"))
    assert "id 'total' is already used by another node" in error.inner_text()
    assert field.input_value() == "total"
    assert page.locator(tid("node-double")).count() == 1
    shot(page, "first-day-04-rename-taken-id")
    wait_saved(page)
    ids = [n["id"] for n in live_server.client.get(f"/api/workflows/{name}").json()["draft"]["nodes"]]
    assert ids == ["start", "total", "double"]

    field.fill("doubled")
    field.press("Enter")
    page.wait_for_selector(tid("node-doubled"))
    page.wait_for_selector(tid("field-error-node-id"), state="detached")
    wait_saved(page)
    draft = live_server.client.get(f"/api/workflows/{name}").json()["draft"]
    assert [n["id"] for n in draft["nodes"]] == ["start", "total", "doubled"]
    assert {"from": "total", "to": "doubled"} in draft["edges"]


def test_inspector_orders_fields_as_people_fill_them_and_explains_the_node(page, live_server):
    name = _unique("first-fields")
    nodes = [
        {"id": "start", "type": "trigger.manual", "config": {}, "position": {"x": 0, "y": 0}},
        {
            "id": "call",
            "type": "http.request",
            "config": {"method": "GET", "url": "https://api.example.com/"},
            "position": {"x": 280, "y": 0},
        },
        {
            "id": "keep",
            "type": "kv.set",
            "config": {"namespace": "n", "key": "k", "value": "call"},
            "position": {"x": 560, "y": 0},
        },
    ]
    _create(live_server, _doc(name, nodes, [("start", "call"), ("call", "keep")]))
    _open(page, live_server, name)

    def fields(index: int) -> list[str]:
        prefix = f"field-/nodes/{index}/config/"
        ids = page.eval_on_selector_all(
            f"{tid('inspector')} [data-testid^='{prefix}']", "els => els.map(e => e.dataset.testid)"
        )
        out = []
        for i in ids:  # nested fields (an object's parts) count as their field
            field = re.sub(r"-(add|newkey|remove-\d+)$", "", i.removeprefix(prefix).split("/")[0])
            if field not in out:
                out.append(field)
        return out

    page.click(tid("node-call"))
    page.wait_for_selector(tid("inspector"))
    assert fields(1) == [
        "method",
        "url",
        "query",
        "headers",
        "body",
        "auth",
        "expect_status",
        "timeout_seconds",
        "response",
        "idempotency",
        "allowed_hosts",
    ]
    help_text = page.inner_text(tid("node-help"))
    assert "Calls an HTTP API" in help_text and "docs/dsl.md" in help_text and "http.request" in help_text
    shot(page, "first-day-05-inspector-http-order-help")

    page.click(tid("node-keep"))
    page.wait_for_selector(tid("field-/nodes/2/config/namespace"))
    assert fields(2) == ["namespace", "key", "value", "ttl_seconds"]
    assert "namespace/key" in page.inner_text(tid("node-help"))


def _example_groups(doc: dict) -> list[list[str]]:
    """Sibling node ids: the top level, and each map body."""
    groups = []

    def walk(nodes):
        groups.append([n["id"] for n in nodes])
        for n in nodes:
            body = (n.get("config") or {}).get("body")
            if n["type"] == "map" and body:
                walk(body["nodes"])

    walk(doc["nodes"])
    return groups


def _overlaps(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"] - 1
        and b["x"] < a["x"] + a["width"] - 1
        and a["y"] < b["y"] + b["height"] - 1
        and b["y"] < a["y"] + a["height"] - 1
    )


def test_examples_open_without_overlaps_at_a_legible_zoom(page, live_server):
    assert len(EXAMPLES) >= 4
    for path in EXAMPLES:
        doc = json.loads(path.read_text())
        _create(live_server, doc)
        _open(page, live_server, doc["name"])
        page.wait_for_timeout(300)  # the first fit happens once the nodes are measured
        boxes = {}
        for group in _example_groups(doc):
            for node_id in group:
                boxes[node_id] = page.locator(tid(f"node-{node_id}")).bounding_box()
                assert boxes[node_id], (path.name, node_id)
        for group in _example_groups(doc):
            for i, a in enumerate(group):
                for b in group[i + 1 :]:
                    assert not _overlaps(boxes[a], boxes[b]), (path.name, a, b, boxes[a], boxes[b])
        assert page.locator(tid("overlap-hint")).count() == 0, path.name
        zoom = _zoom(page)
        assert zoom >= 0.6 - 1e-6, (path.name, zoom)
        # The trigger (where reading starts) is on screen.
        trigger = next(n["id"] for n in doc["nodes"] if n["type"].startswith("trigger."))
        assert _inside(boxes[trigger], page.locator(".react-flow").bounding_box()), path.name
        shot(page, f"first-day-06-example-{path.stem}")


def test_side_panels_collapse_and_stay_collapsed(page, live_server):
    doc = json.loads((ROOT / "examples" / "lead-routing.json").read_text())
    _create(live_server, doc)
    _open(page, live_server, doc["name"])
    before = page.locator(".react-flow").bounding_box()["width"]
    page.click(tid("btn-collapse-palette"))
    page.click(tid("btn-collapse-inspector"))
    page.wait_for_selector(tid("palette-collapsed"))
    page.wait_for_selector(tid("inspector-collapsed"))
    assert page.locator(tid("palette")).count() == 0 and page.locator(tid("inspector")).count() == 0
    wider = page.locator(".react-flow").bounding_box()["width"]
    assert wider > before + 400, (before, wider)
    page.reload()
    page.wait_for_selector(".react-flow__node")
    assert page.locator(tid("palette-collapsed")).count() == 1  # remembered in localStorage
    assert page.locator(tid("inspector-collapsed")).count() == 1
    shot(page, "first-day-07-panels-collapsed")
    page.click(tid("btn-expand-palette"))
    page.click(tid("btn-expand-inspector"))
    page.wait_for_selector(tid("palette"))
    page.wait_for_selector(tid("inspector"))
    page.reload()
    page.wait_for_selector(tid("palette"))


EDGE_GEOMETRY = """() => {
  const nodes = [...document.querySelectorAll('.react-flow__node')].map(n => n.getBoundingClientRect());
  return [...document.querySelectorAll('.react-flow__edge-path')].map(p => {
    const m = p.getScreenCTM();
    const len = p.getTotalLength();
    const inside = [];
    for (let i = 1; i < 40; i++) {
      const pt = p.getPointAtLength(len * i / 40);
      const x = m.a * pt.x + m.c * pt.y + m.e, y = m.b * pt.x + m.d * pt.y + m.f;
      if (nodes.some(r => x > r.left + 3 && x < r.right - 3 && y > r.top + 3 && y < r.bottom - 3)) inside.push([x, y]);
    }
    return {length: len, inside};
  });
}"""


def test_edges_of_a_top_to_bottom_layout_do_not_loop_back(page, live_server):
    name = _unique("first-vertical")
    nodes = [
        {"id": "start", "type": "trigger.manual", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "check", "type": "branch", "config": {"condition": "True"}, "position": {"x": 0, "y": 150}},
        {"id": "yes", "type": "transform", "config": {"expression": "1"}, "position": {"x": 0, "y": 300}},
        {"id": "after", "type": "transform", "config": {"expression": "yes"}, "position": {"x": 0, "y": 450}},
    ]
    doc = _doc(name, nodes, [("start", "check"), ("yes", "after")])
    doc["edges"].insert(1, {"from": "check", "to": "yes", "port": "true"})
    _create(live_server, doc)
    _open(page, live_server, name)
    page.wait_for_timeout(300)
    edges = page.evaluate(EDGE_GEOMETRY)
    assert len(edges) == 3
    for e in edges:
        assert e["inside"] == [], e  # never drawn behind a node
    # start -> check and yes -> after run straight down the gap (86 units), not out right and back around.
    lengths = sorted(e["length"] for e in edges)
    assert lengths[0] < 120 and lengths[1] < 120, lengths
    # the branch's port stays where its label is (right side), then turns down into the next node's top
    assert lengths[2] < 260, lengths
    shot(page, "first-day-08-vertical-edges")


def test_import_of_an_invalid_document_makes_a_draft_and_opens_it(page, live_server, tmp_path):
    name = _unique("first-import")
    doc = _doc(
        name,
        [
            {"id": "start", "type": "trigger.manual", "config": {}, "position": {"x": 0, "y": 0}},
            {"id": "broken", "type": "transform", "config": {"expression": "1 +"}, "position": {"x": 280, "y": 0}},
        ],
        [("start", "broken")],
    )
    assert live_server.client.post("/api/validate", json=doc).json()["valid"] is False
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    page.goto(live_server.url + "/")
    page.wait_for_selector(tid("btn-import"))
    page.set_input_files(tid("import-file"), str(path))
    page.wait_for_url(f"**/#/w/{name}", timeout=30_000)
    page.wait_for_selector(tid("node-broken"))
    page.wait_for_selector(tid("node-error-broken"))
    page.wait_for_selector(tid("problems-table"))  # opened on its problems
    assert int(page.inner_text(tid("problem-count"))) >= 1
    shot(page, "first-day-09-imported-draft")
    saved = live_server.client.get(f"/api/workflows/{name}").json()
    assert saved["draft"] == doc and saved["valid"] is False and saved["errors"]

    # A valid document is imported as before, and opened too.
    valid = dict(doc, name=name + "-ok", nodes=[doc["nodes"][0]], edges=[])
    path2 = tmp_path / "ok.json"
    path2.write_text(json.dumps(valid))
    page.goto(live_server.url + "/")
    page.wait_for_selector(tid("btn-import"))
    page.set_input_files(tid("import-file"), str(path2))
    page.wait_for_url(f"**/#/w/{name}-ok", timeout=30_000)
    page.wait_for_selector(tid("node-start"))
    assert live_server.client.get(f"/api/workflows/{name}-ok").json()["valid"] is True


COMPILE_TIMEOUT_MS = 300_000  # a cold compile takes seconds alone, minutes on a loaded two-core machine


def test_webhook_test_run_takes_just_a_body(page, live_server):
    name = _unique("first-hook")
    nodes = [
        {"id": "hook", "type": "trigger.webhook", "config": {"method": "POST"}, "position": {"x": 0, "y": 0}},
        {
            "id": "double",
            "type": "transform",
            "config": {"expression": "{'n2': input['body']['n'] * 2, 'm': input['method']}"},
            "position": {"x": 280, "y": 0},
        },
    ]
    _create(live_server, _doc(name, nodes, [("hook", "double")]))
    _open(page, live_server, name)
    page.click(tid("bottom-tab-results"))
    body = page.locator(tid("run-input-body"))
    body.fill('{"n": ')
    page.wait_for_selector(tid("run-input-body-error"))
    body.fill('{"n": 21}')
    page.wait_for_selector(tid("run-input-body-error"), state="detached")
    assert "POST /" in page.inner_text(tid("run-input-rest"))
    shot(page, "first-day-10-webhook-body-input")
    page.click(tid("btn-test-run"))
    page.wait_for_selector(f'{tid("dry-result")}[data-status="succeeded"]', timeout=COMPILE_TIMEOUT_MS)
    out = page.inner_text(tid("node-output-double"))
    assert "42" in out and "POST" in out, out
    # The whole request stays editable, with the body typed above in it.
    page.click(tid("btn-run-input-request"))
    whole = json.loads(page.input_value(tid("run-input-json")))
    assert whole["body"] == {"n": 21} and whole["method"] == "POST" and whole["path"] == "/"
    assert set(whole) == {"method", "path", "headers", "query", "body"}


def test_question_mark_shows_the_shortcut_sheet(page, live_server):
    name = _unique("first-keys")
    _create(
        live_server,
        _doc(name, [{"id": "start", "type": "trigger.manual", "config": {}, "position": {"x": 0, "y": 0}}], []),
    )
    _open(page, live_server, name)
    page.click(".react-flow__pane")
    page.keyboard.press("?")
    sheet = page.wait_for_selector(tid("shortcut-sheet"))
    assert "Ctrl+Z" in sheet.inner_text() and "Ctrl+S" in sheet.inner_text()
    shot(page, "first-day-11-shortcut-sheet")
    page.keyboard.press("Escape")
    page.wait_for_selector(tid("shortcut-sheet"), state="detached")
    # Typing ? in a field is text, not the sheet.
    page.fill(tid("workflow-title"), "")
    page.locator(tid("workflow-title")).type("why?")
    assert page.locator(tid("shortcut-sheet")).count() == 0
    assert page.input_value(tid("workflow-title")) == "why?"


def _luminance(css_color: str) -> float:
    r, g, b = (int(x) for x in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def test_dark_mode_follows_the_system(page, live_server):
    doc = json.loads((ROOT / "examples" / "order-sync.json").read_text())
    _create(live_server, doc)
    colours = "() => ({bg: getComputedStyle(document.querySelector('.wf-app')).backgroundColor || getComputedStyle(document.body).backgroundColor, root: getComputedStyle(document.documentElement).backgroundColor, node: getComputedStyle(document.querySelector('.wf-node')).backgroundColor, text: getComputedStyle(document.querySelector('.wf-node-title')).color, flow: document.querySelector('.react-flow').className})"
    page.emulate_media(color_scheme="light")
    _open(page, live_server, doc["name"])
    light = page.evaluate(colours)
    assert _luminance(light["node"]) > 0.9 and _luminance(light["text"]) < 0.3, light
    assert " dark" not in light["flow"]
    page.emulate_media(color_scheme="dark")  # switched while open: followed live
    page.wait_for_function("() => document.querySelector('.react-flow').classList.contains('dark')")
    dark = page.evaluate(colours)
    assert _luminance(dark["node"]) < 0.2 and _luminance(dark["text"]) > 0.7, dark
    assert _luminance(dark["root"]) < 0.2, dark
    page.click(tid("node-fetch_orders"))
    shot(page, "first-day-12-dark-mode")
