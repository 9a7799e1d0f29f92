"""The AI agent node in the editor (issue 12), in Chromium against a real ``wasmflow serve``.

1. From the palette to a transcript: find "AI agent" by searching, drop it, connect it, fill the model
   connection and one HTTP tool in the inspector's form, script two turns in the Mock tab (a tool call
   answered by the mocked API, then the final answer, with tokens), test-run in the tab and read the
   conversation in the node's Run tab: the tool call, its result, the final answer, tokens and cost. Nothing
   leaves the browser.
2. A server run against a real OpenAI-compatible server on 127.0.0.1 (tests/runtime/llmserver.py) and a
   local shop API: the Run tab shows the answer while it streams (agent.delta), then the whole conversation;
   "Use as mocks" turns the run's journal (llm.chat included) into scripted turns that a dry run replays.

Screenshots: build/screenshots/agent-*.png.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))  # llmserver.FakeLLM

from editorui import connect, drop, tid, type_code, wait_saved  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
COMPILE_TIMEOUT_MS = 600_000  # the first compile after a runtime change builds the shared runtime (minutes)
CFG = "/nodes/1/config"


def snap(page, name: str, *, tall: int | None = None) -> None:
    """A screenshot; ``tall``: with the window that high for the moment, so a long inspector shows whole."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if tall:
        page.set_viewport_size({"width": 1280, "height": tall})
        page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / f"agent-{name}.png"))
    if tall:
        page.set_viewport_size({"width": 1280, "height": 800})
        page.wait_for_timeout(200)


def test_agent_from_palette_to_transcript(page, live_server):
    name = f"agent-ui-{int(time.time() * 1000) % 10**8}"
    page.goto(live_server.url + "/")
    page.fill(tid("new-workflow-name"), name)
    page.click(tid("btn-create"))
    page.wait_for_selector(tid("node-start"))

    # The palette finds the agent by what people call it.
    for q in ("agent", "ai", "llm", "model"):
        page.fill(tid("palette-search"), q)
        page.wait_for_selector(tid("palette-agent"))
        assert page.locator(".wf-palette-item").first.get_attribute("data-testid") == "palette-agent", q
    snap(page, "01-palette-search")
    drop(page, "agent", 330, 200)
    page.fill(tid("palette-search"), "")
    page.wait_for_selector(tid("node-agent"))
    connect(page, "handle-start-out", "handle-agent-in")
    page.wait_for_selector(".react-flow__edge")

    # The inspector's form: connection, prompt, one HTTP tool.
    page.click(tid("node-agent"))
    page.wait_for_selector(tid("agent-form"))
    page.fill(tid(f"field-{CFG}/model/base_url"), "https://api.openai.com/v1")
    page.fill(tid(f"field-{CFG}/model/model"), "gpt-4o-mini")
    page.fill(tid(f"field-{CFG}/model/api_key_secret"), "OPENAI_API_KEY")
    page.fill(tid(f"field-{CFG}/model/temperature"), "0")
    page.fill(tid(f"field-{CFG}/model/prices/input_per_million"), "0.15")
    page.fill(tid(f"field-{CFG}/model/prices/output_per_million"), "0.6")
    type_code(page, f"{CFG}/instructions", "You answer questions about orders.")
    type_code(page, f"{CFG}/prompt", "Where is order {{ input['order'] }}?")
    page.click(tid("btn-add-tool-http"))
    tool = f"{CFG}/tools/0"
    page.fill(tid(f"field-{tool}/name"), "lookup_order")
    page.fill(tid(f"field-{tool}/description"), "Look up an order by its id")
    type_code(page, f"{tool}/http/url", "https://shop.example.com/orders/{{ args['order_id'] }}")
    params = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
    page.fill(tid(f"field-{tool}/parameters"), json.dumps(params))
    page.click(tid(f"field-{tool}/fixed-add"))
    page.fill(tid(f"field-{tool}/fixed-key-0"), "shop")
    page.fill(tid(f"field-{tool}/fixed-value-0"), "main")
    page.wait_for_selector(tid("agent-tool-agent-lookup_order"))  # its chip hangs under the node
    wait_saved(page)
    page.wait_for_timeout(300)
    draft = live_server.client.get(f"/api/workflows/{name}").json()
    assert draft.get("errors", []) == [] or draft.get("valid", True), draft.get("errors")
    cfg = draft["draft"]["nodes"][1]["config"]
    assert cfg["model"] == {
        "base_url": "https://api.openai.com/v1",
        "model": "gpt-4o-mini",
        "api_key_secret": "OPENAI_API_KEY",
        "temperature": 0,
        "prices": {"input_per_million": 0.15, "output_per_million": 0.6},
    }
    assert cfg["prompt"] == "Where is order {{ input['order'] }}?"
    assert cfg["tools"][0]["name"] == "lookup_order"
    assert cfg["tools"][0]["http"]["url"] == "https://shop.example.com/orders/{{ args['order_id'] }}"
    assert cfg["tools"][0]["parameters"] == params
    assert cfg["tools"][0]["fixed"] == {"shop": "main"}
    assert not page.locator('[data-testid^="field-error-"]').count(), page.locator(
        '[data-testid^="field-error-"]'
    ).all_inner_texts()
    snap(page, "02-inspector")
    page.locator(".wf-insp-body").evaluate("el => el.scrollTop = 0")
    # A second tool, a gated kv write left without a description: the server's problem shows on its field
    # and on the node, and goes away with the tool.
    page.click(tid("btn-add-tool-kv"))
    kv = f"{CFG}/tools/1"
    page.select_option(tid(f"field-{kv}/kv/op"), "set")
    page.select_option(tid(f"field-{kv}/approval-mode"), "expression")
    page.wait_for_selector(tid("agent-tool-agent-lookup"))
    error = page.wait_for_selector(tid(f"field-error-{kv}/description"), timeout=30_000)
    assert error.inner_text().strip()
    page.wait_for_selector(tid("node-error-agent"))
    snap(page, "02a-tool-problem")
    page.set_viewport_size({"width": 1280, "height": 2600})
    page.locator(tid("agent-tools")).screenshot(path=str(SHOTS / "agent-02d-kv-tool.png"))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.click(tid("btn-remove-tool-1"))
    page.wait_for_selector(tid(f"field-error-{kv}/description"), state="detached", timeout=30_000)
    page.wait_for_selector(tid("node-error-agent"), state="detached", timeout=30_000)
    wait_saved(page)
    snap(page, "02b-inspector-whole", tall=2600)
    page.set_viewport_size({"width": 1280, "height": 2600})
    page.locator(tid("agent-tools")).screenshot(path=str(SHOTS / "agent-02c-tool-form.png"))
    page.set_viewport_size({"width": 1280, "height": 800})

    # The Mock tab: two scripted turns (a tool call answered by the mocked API, then the final answer).
    page.click(tid("tab-mock"))
    page.wait_for_selector(tid("agent-mocks"))
    page.click(tid("btn-add-turn-tool"))
    assert page.input_value(tid("mock-turn-1-call-1-name")) == "lookup_order"
    page.fill(tid("mock-turn-1-call-1-args"), '{"order_id": "A1"}')
    page.fill(tid("mock-turn-1-call-1-status"), "200")
    page.fill(tid("mock-turn-1-call-1-body"), '{"order": "A1", "status": "shipped"}')
    page.fill(tid("mock-turn-1-in"), "120")
    page.fill(tid("mock-turn-1-out"), "30")
    page.click(tid("btn-add-turn-text"))
    page.fill(tid("mock-turn-2-text"), "Order A1 has shipped.")
    page.fill(tid("mock-turn-2-in"), "200")
    page.fill(tid("mock-turn-2-out"), "12")
    assert not page.locator(tid("mock-problem")).count()
    snap(page, "03-mock-turns", tall=1400)
    stored = page.evaluate(f"JSON.parse(localStorage.getItem('wasmflow.mocks.{name}'))")
    assert [m.get("capability") for m in stored["agent"]] == ["llm.chat", "http.request", "llm.chat"]

    # Test run in the tab, then the conversation in the node's Run tab.
    page.click(tid("bottom-tab-results"))
    page.fill(tid("run-input-json"), '{"order": "A1"}')
    page.requests.clear()
    page.click(tid("btn-test-run"))
    page.wait_for_selector(f'{tid("dry-result")}[data-status="succeeded"]', timeout=COMPILE_TIMEOUT_MS)
    assert page.get_attribute(tid("node-status-agent"), "data-status") == "succeeded"
    page.click(tid("node-agent"))
    page.click(tid("tab-run"))
    page.wait_for_selector(tid("transcript"))
    assert "Where is order A1?" in page.inner_text(tid("transcript-sent-1-1"))
    call = tid("transcript-tool-call_1_1")
    assert page.get_attribute(call, "data-status") == "ok"
    assert "lookup_order" in page.inner_text(call)
    assert json.loads(page.inner_text(tid("transcript-tool-args-call_1_1"))) == {"order_id": "A1"}
    assert "shipped" in page.inner_text(tid("transcript-tool-result-call_1_1"))
    assert page.inner_text(tid("transcript-final")).strip().endswith("Order A1 has shipped.")
    assert "120 in · 30 out" in page.inner_text(tid("transcript-tokens-1"))
    assert "200 in · 12 out" in page.inner_text(tid("transcript-tokens-2"))
    total = page.inner_text(tid("transcript-total"))
    assert "2 turns" in total and "320 in · 42 out" in total, total
    assert page.inner_text(tid("transcript-cost")).startswith("$0.0000")  # 320 x 0.15 + 42 x 0.6 per million
    output = json.loads(page.inner_text(tid("run-output")))
    assert output["output"] == "Order A1 has shipped." and output["turns"] == 2
    assert output["usage"] == {"input_tokens": 320, "output_tokens": 42, "total_tokens": 362}
    assert output["tool_calls"][0]["status"] == "ok"
    assert page.inner_text(tid("node-usage-agent")).startswith("2 turns · 362 tokens · $0.0000")
    assert "Order A1 has shipped." in page.inner_text(tid("node-output-agent"))  # the answer, not the record
    snap(page, "04-transcript")
    page.locator(".wf-agent-node").screenshot(path=str(SHOTS / "agent-05-node.png"))

    page.emulate_media(color_scheme="dark")  # the system's dark colours: everything still readable
    snap(page, "09-dark-transcript")
    page.click(tid("tab-mock"))
    snap(page, "10-dark-mock")
    page.emulate_media(color_scheme="light")

    foreign = [u for u in page.requests if not u.startswith(live_server.url)]
    assert foreign == [], foreign
    assert live_server.client.get("/api/runs", params={"workflow": name}).json()["runs"] == []
    assert not [c for c in page.console if c.startswith("pageerror")], page.console


def _agent_doc(name: str, base_url: str, shop_url: str) -> dict:
    return {
        "dsl": "wasmflow/1",
        "name": name,
        "nodes": [
            {"id": "start", "type": "trigger.manual", "position": {"x": 0, "y": 0}},
            {
                "id": "agent",
                "type": "agent",
                "position": {"x": 300, "y": 0},
                "config": {
                    "model": {
                        "base_url": base_url,
                        "model": "fake-model",
                        "prices": {"input_per_million": 2.0, "output_per_million": 8.0},
                    },
                    "instructions": "You answer questions about orders.",
                    "prompt": "Where is order {{ input['order'] }}?",
                    "tools": [
                        {
                            "name": "lookup_order",
                            "description": "Look up an order by its id",
                            "parameters": {
                                "type": "object",
                                "properties": {"order_id": {"type": "string"}},
                                "required": ["order_id"],
                            },
                            "http": {"method": "GET", "url": shop_url + "{{ args['order_id'] }}"},
                        }
                    ],
                },
            },
        ],
        "edges": [{"from": "start", "to": "agent"}],
    }


FINAL = "Order A1 has shipped on Monday and should reach you by Thursday; the carrier will text you a delivery window."


def test_server_run_streams_its_transcript_and_becomes_mocks(page, live_server):
    from httpserver import TestServer
    from llmserver import FakeLLM

    with FakeLLM() as llm, TestServer() as shop:
        shop.route("/orders/A1", json={"order": "A1", "status": "shipped"})
        name = f"agent-run-{int(time.time() * 1000) % 10**8}"
        created = live_server.client.post("/api/workflows", json=_agent_doc(name, llm.base_url, shop.url("/orders/")))
        assert created.status_code in (200, 201), created.text
        compiled = live_server.client.post(f"/api/workflows/{name}/compile", timeout=COMPILE_TIMEOUT_MS / 1000)
        assert compiled.status_code == 200, compiled.text
        deployed = live_server.client.post(f"/api/workflows/{name}/deploy", json={"digest": compiled.json()["digest"]})
        assert deployed.status_code in (200, 201), deployed.text
        llm.reply(
            tool_calls=[{"id": "call_a", "name": "lookup_order", "arguments": {"order_id": "A1"}}], usage=(120, 30)
        )
        llm.reply(FINAL, usage=(200, 24), chunk_delay=0.35)  # word by word, ~7 s: agent.delta shows it live

        page.goto(f"{live_server.url}/#/w/{name}")
        page.click(tid("node-agent"))
        page.click(tid("tab-run"))
        page.click(tid("bottom-tab-runs"))
        page.wait_for_selector(f'{tid("runs-live")}:has-text("live")')
        page.fill(tid("server-run-input"), '{"order": "A1"}')
        page.click(tid("btn-run-server"))

        # While the final answer streams: the tool call is done and part of the answer shows.
        streaming = page.wait_for_selector(f'{tid("transcript-turn-2")}[data-streaming="true"]', timeout=60_000)
        page.wait_for_function("el => el.innerText.includes('shipped on')", arg=streaming, timeout=20_000)
        partial = page.inner_text(tid("transcript-turn-2"))
        assert "streaming" in partial and FINAL not in partial, partial
        assert page.get_attribute(tid("transcript-tool-call_a"), "data-status") == "ok"
        snap(page, "06-server-streaming")

        page.wait_for_selector(tid("transcript-final"), timeout=60_000)
        assert page.inner_text(tid("transcript-final")).strip().endswith(FINAL)
        assert "shipped" in page.inner_text(tid("transcript-tool-result-call_a"))
        assert "120 in · 30 out" in page.inner_text(tid("transcript-tokens-1"))
        total = page.inner_text(tid("transcript-total"))
        assert "2 turns" in total and "320 in · 54 out" in total, total
        page.wait_for_selector('[data-testid^="run-row-"][data-status="succeeded"]', timeout=60_000)
        page.wait_for_selector(tid("run-llm-usage"))
        assert "2 model turns · 320 in · 54 out · $0.0011" in page.inner_text(tid("run-llm-usage"))
        assert page.inner_text(tid("node-usage-agent")).startswith("2 turns · 374 tokens")
        snap(page, "07-server-transcript")
        assert [r.path for r in shop.requests] == ["/orders/A1"]

        # The run's journal as mocks: its two model turns and the tool's answer, replayed in the tab.
        page.click(tid("btn-use-as-mocks"))
        page.wait_for_selector(tid("toast"))
        page.click(tid("tab-mock"))
        page.wait_for_selector(tid("mock-turn-2"))
        assert page.input_value(tid("mock-turn-1-call-1-name")) == "lookup_order"
        assert json.loads(page.input_value(tid("mock-turn-1-call-1-args"))) == {"order_id": "A1"}
        assert json.loads(page.input_value(tid("mock-turn-1-call-1-body"))) == {"order": "A1", "status": "shipped"}
        assert page.input_value(tid("mock-turn-1-in")) == "120"
        assert page.input_value(tid("mock-turn-2-text")) == FINAL
        snap(page, "08-mocks-from-run", tall=1300)
        page.click(tid("bottom-tab-results"))
        page.fill(tid("run-input-json"), '{"order": "A1"}')
        page.click(tid("btn-test-run"))
        page.wait_for_selector(f'{tid("dry-result")}[data-status="succeeded"]', timeout=COMPILE_TIMEOUT_MS)
        page.click(tid("tab-run"))
        assert page.inner_text(tid("transcript-final")).strip().endswith(FINAL)
        assert "320 in · 54 out" in page.inner_text(tid("transcript-total"))
        assert len(llm.requests) == 2 and [r.path for r in shop.requests] == ["/orders/A1"]  # nothing new outside
        assert not [c for c in page.console if c.startswith("pageerror")], page.console
