"""The agent node's DSL: what a valid agent looks like, and each mistake named at its JSON pointer."""

from __future__ import annotations

import copy

import pytest

from app import dsl
from app.compiler.manifest import compute_manifest

TOOL = {
    "name": "lookup",
    "description": "Look up an order",
    "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    "http": {"method": "GET", "url": "https://shop.example.com/orders/{{ args['id'] }}"},
}


def doc(**config) -> dict:
    agent = {
        "model": {"base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini", "api_key_secret": "OPENAI_API_KEY"},
        "prompt": "Help with {{ input['q'] }}",
        "tools": [copy.deepcopy(TOOL)],
    }
    agent.update(config)
    return {
        "dsl": "wasmflow/1",
        "name": "agent-dsl",
        "nodes": [{"id": "start", "type": "trigger.manual"}, {"id": "bot", "type": "agent", "config": agent}],
        "edges": [{"from": "start", "to": "bot"}],
    }


def problems(d: dict) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in dsl.validate(d)]


def test_a_valid_agent_and_its_manifest():
    d = doc(
        tools=[
            TOOL,
            {
                "name": "remember",
                "description": "Store a note",
                "kv": {"op": "set", "namespace": "notes", "key": "{{ args['id'] }}", "value": "args"},
                "approval": "always",
            },
            {"name": "fraud", "description": "Check", "subflow": {"workflow": "fraud-check"}},
        ],
        hooks={"before_tool": "tool != 'remember' or len(args) < 5", "after_tool": "result"},
    )
    assert problems(d) == []
    manifest = compute_manifest(dsl.load_document(d))
    assert set(manifest.capabilities) >= {"llm.chat", "http.request", "kv.set", "workflow.call", "approval.request"}
    assert manifest.hosts == ("api.openai.com", "shop.example.com")
    assert manifest.secrets == ("OPENAI_API_KEY",)
    assert manifest.namespaces == ("notes",) and manifest.workflows == ("fraud-check",)
    tools = manifest.agents["bot"]["tools"]
    assert tools["lookup"] == {
        **{k: TOOL[k] for k in ("description", "parameters")},
        "kind": "http",
        "method": "GET",
        "hosts": ["shop.example.com"],
        "secret": None,
    }
    assert tools["remember"]["kind"] == "kv.set" and tools["remember"]["namespace"] == "notes"


def test_a_manifest_without_agents_is_unchanged():
    plain = {"dsl": "wasmflow/1", "name": "plain", "nodes": [{"id": "start", "type": "trigger.manual"}], "edges": []}
    assert "agents" not in compute_manifest(dsl.load_document(plain)).to_dict()


@pytest.mark.parametrize(
    ("change", "where", "code"),
    [
        (lambda c: c["model"].update(base_url="ftp://x"), "/nodes/1/config/model/base_url", "bad_url"),
        (
            lambda c: c["model"].update(base_url="https://{{ input['h'] }}/v1"),
            "/nodes/1/config/model/base_url",
            "bad_url",
        ),
        (lambda c: c["model"].update(api_key_secret="lower"), "/nodes/1/config/model/api_key_secret", None),
        (
            lambda c: c["tools"][0]["http"].update(url="https://{{ args['h'] }}/x"),
            "/nodes/1/config/tools/0/http/url",
            "dynamic_host",
        ),
        (lambda c: c["tools"][0].update(fixed={"id": "7"}), "/nodes/1/config/tools/0/fixed/id", "fixed_and_parameter"),
        (
            lambda c: c["tools"][0].update(parameters={"type": "string"}),
            "/nodes/1/config/tools/0/parameters",
            "bad_schema",
        ),
        (
            lambda c: c["tools"][0].update(parameters={"type": "object", "properties": 3}),
            "/nodes/1/config/tools/0/parameters",
            "bad_schema",
        ),
        (lambda c: c["tools"][0].update(subflow={"workflow": "x"}), "/nodes/1/config/tools/0", "one_of"),
        (lambda c: c["tools"].append(copy.deepcopy(TOOL)), "/nodes/1/config/tools/1/name", "duplicate_tool"),
        (lambda c: c["tools"][0].update(name="has space"), "/nodes/1/config/tools/0/name", None),
        (
            lambda c: c["tools"][0].update(approval="args['amount'] >"),
            "/nodes/1/config/tools/0/approval",
            "syntax_error",
        ),
        (lambda c: c["tools"][0].update(approval="amount > 5"), "/nodes/1/config/tools/0/approval", "unknown_name"),
        (lambda c: c["tools"][0]["http"].update(body="result"), "/nodes/1/config/tools/0/http/body", "unknown_name"),
        (lambda c: c.update(hooks={"after_tool": "reslt"}), "/nodes/1/config/hooks/after_tool", "unknown_name"),
        (lambda c: c.update(prompt="{{ args }}"), "/nodes/1/config/prompt", "unknown_name"),
        (lambda c: c.update(output={"type": "json"}), "/nodes/1/config/output/schema", None),
        (
            lambda c: c.update(output={"type": "json", "schema": {"type": "object", "oneOf": []}}),
            "/nodes/1/config/output/schema/oneOf",
            "bad_schema",
        ),
        (lambda c: c.update(limits={"max_turns": 0}), "/nodes/1/config/limits/max_turns", None),
        (
            lambda c: c["tools"][0]["http"].update(headers={"Authorization": "Bearer sk-123"}),
            "/nodes/1/config/tools/0/http/headers/Authorization",
            "literal_secret",
        ),
    ],
)
def test_mistakes_are_named_where_they_are(change, where, code):
    d = doc()
    change(d["nodes"][1]["config"])
    found = problems(d)
    assert any(path == where and (code is None or c == code) for path, c in found), found
