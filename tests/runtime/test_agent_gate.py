"""The host's own check of an agent's calls (AgentGate), against a hostile guest: the compiled guest never
makes these calls, so they are made here directly. Every refusal is reported as an event and nothing else."""

from __future__ import annotations

import pytest

from app.capabilities import Manifest
from app.runtime.host import AgentGate
from app.runtime.wasm import HostCallError

TOOLS = {
    "lookup": {
        "kind": "http",
        "description": "",
        "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        "method": "GET",
        "hosts": ["shop.example.com"],
    },
    "check": {"kind": "subflow", "description": "", "parameters": {"type": "object"}, "workflow": "fraud-check"},
    "note": {"kind": "kv.set", "description": "", "parameters": {"type": "object"}, "namespace": "notes"},
}


class FakeRunHost:
    def __init__(self) -> None:
        self.manifest = Manifest(capabilities=(), agents={"bot": {"tools": TOOLS}})
        self.events: list[tuple[str, str, dict]] = []
        self.open_nodes: set = {("bot", ())}

    def emit(self, type_, *, node=None, data=None) -> None:
        self.events.append((type_, node, data))

    def preview(self, value):
        return value

    def redact(self, value):
        return value


@pytest.fixture
def gate():
    g = AgentGate(FakeRunHost())
    # the model's last answer asked for these calls
    g.observe(
        {"node": "bot"}, {"message": {"tool_calls": [{"id": "c1", "name": "lookup"}, {"id": "c2", "name": "check"}]}}
    )
    return g


def tag(name="lookup", call_id="c1", arguments=None) -> dict:
    return {
        "agent": "bot",
        "name": name,
        "call_id": call_id,
        "arguments": {"id": "7"} if arguments is None else arguments,
    }


def get(url="https://shop.example.com/orders/7", **extra) -> dict:
    return {"method": "GET", "url": url, "node": "bot", **extra}


def refusal(gate, capability, request) -> str:
    out = gate.check(capability, request)
    assert isinstance(out, HostCallError) and out.code == "tool_refused", out
    (event,) = [e for e in gate.host.events if e[0] == "agent.tool_refused"]
    assert event[1] == "bot"
    return event[2]["reason"]


def test_a_well_formed_tool_call_passes_and_is_reported(gate):
    ok = gate.check("http.request", get(tool=tag()))
    assert ok == {"node": "bot", "tool": "lookup", "call_id": "c1"}
    assert gate.host.events == [
        ("agent.tool_call", "bot", {"tool": "lookup", "call_id": "c1", "arguments": {"id": "7"}})
    ]


def test_calls_of_other_nodes_and_the_agents_own_calls_are_not_tool_calls(gate):
    assert gate.check("http.request", {"method": "POST", "url": "https://x.example.com", "node": "other"}) is None
    assert gate.check("llm.chat", {"node": "bot", "messages": []}) is None
    assert gate.check("clock.now", {"node": "bot"}) is None


@pytest.mark.parametrize(
    ("capability", "request_", "reason"),
    [
        ("http.request", get(), "only through one of its tools"),
        ("http.request", get(tool=tag(name="wipe")), "'wipe' is not a tool of agent bot"),
        ("http.request", get(tool=tag(call_id="c9")), "did not ask for call 'c9'"),
        ("http.request", get(tool=tag(name="check", call_id="c1")), "did not ask for call 'c1' of 'check'"),
        ("http.request", get(tool=tag(arguments={"id": 7})), "args.id: 7 is not of type 'string'"),
        ("http.request", get(tool=tag(arguments=[])), "must be an object"),
        ("http.request", get("https://evil.example.com/x", tool=tag()), "may only reach shop.example.com"),
        ("http.request", {**get(tool=tag()), "method": "DELETE"}, "may only send GET, not DELETE"),
        ("workflow.call", {"workflow": "fraud-check", "node": "bot", "tool": tag()}, "cannot make a workflow.call"),
        (
            "workflow.call",
            {"workflow": "payout", "node": "bot", "tool": tag(name="check", call_id="c2", arguments={})},
            "may only run workflow fraud-check, not payout",
        ),
        ("kv.set", {"namespace": "notes", "key": "k", "value": 1, "node": "bot"}, "only through one of its tools"),
    ],
)
def test_the_host_refuses_what_the_tool_table_does_not_allow(gate, capability, request_, reason):
    assert reason in refusal(gate, capability, request_)


def test_a_new_answer_replaces_the_calls_the_model_asked_for(gate):
    gate.observe({"node": "bot"}, {"message": {"tool_calls": [{"id": "c3", "name": "lookup"}]}})
    assert "did not ask for call 'c1'" in refusal(gate, "http.request", get(tool=tag()))


def test_invented_tools_and_bad_arguments_are_marked_in_the_answer_before_the_guest_sees_it(gate):
    answer = {
        "message": {
            "tool_calls": [
                {"id": "a", "name": "lookup", "arguments": {"id": 1}},
                {"id": "b", "name": "format_disk", "arguments": {}},
                {"id": "c", "name": "lookup", "arguments": {"id": "9"}},
            ]
        },
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    gate.agent_turn("bot", {"node": "bot", "turn": 1, "messages": [{"role": "user", "content": "hi"}]}, answer)
    calls = answer["message"]["tool_calls"]
    assert "args.id: 1 is not of type 'string'" in calls[0]["arguments_error"]
    assert "arguments_error" not in calls[2]
    refused = [(e[2]["tool"], e[2]["code"]) for e in gate.host.events if e[0] == "agent.tool_refused"]
    assert refused == [("lookup", "invalid_arguments"), ("format_disk", "tool_refused")]
    (turn,) = [e[2] for e in gate.host.events if e[0] == "agent.turn"]
    assert turn["sent"] == [{"role": "user", "content": "hi"}] and turn["total"]["input_tokens"] == 3


def test_an_http_tool_may_only_use_its_own_secret(gate):
    TOOLS["lookup"]["secret"] = "SHOP_TOKEN"
    try:
        assert gate.check("http.request", get(tool=tag(), auth={"type": "bearer", "secret": "SHOP_TOKEN"})) is not None
        gate.host.events.clear()
        stolen = get(tool=tag(), auth={"type": "bearer", "secret": "LLM_KEY"})
        assert "may only use secret 'SHOP_TOKEN'" in refusal(gate, "http.request", stolen)
    finally:
        TOOLS["lookup"].pop("secret")


def test_the_host_keeps_a_tools_budget_per_attempt_of_the_node(gate):
    TOOLS["lookup"]["max_calls"] = 1
    try:
        assert gate.check("http.request", get(tool=tag())) is not None
        gate.host.events.clear()
        assert "may be called 1 times" in refusal(gate, "http.request", get(tool=tag()))
        gate.started("bot")  # a retry of the node: a new attempt, a new budget
        assert not isinstance(gate.check("http.request", get(tool=tag())), HostCallError)
        gate.started("bot")
        gate.replayed(get(tool=tag()))  # answered from the journal: it counts
        gate.host.events.clear()
        assert "may be called 1 times" in refusal(gate, "http.request", get(tool=tag()))
    finally:
        TOOLS["lookup"].pop("max_calls")
