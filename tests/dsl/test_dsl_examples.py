"""The example workflows validate, load with defaults filled in, and expose the helpers the compiler uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import dsl

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
FILES = sorted(EXAMPLES.glob("*.json"))
HOST_SUFFIX = ".example.com"


def test_the_four_fixture_examples_exist() -> None:
    names = {p.stem for p in FILES}
    assert {"order-sync", "webhook-approval", "daily-report", "lead-routing"} <= names


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_is_valid(path: Path) -> None:
    assert dsl.validate(path.read_bytes()) == []
    doc = dsl.parse_and_validate(path.read_text(encoding="utf-8"))
    assert doc["name"] == path.stem
    nodes = list(dsl.iter_nodes(doc))
    assert 3 <= len(nodes) <= 15  # an agent does in one node what took five
    for _pointer, node, _map in nodes:
        assert node["position"] is not None, "examples are laid out for the editor"
        if node["type"] == "http.request":
            from app.compiler.manifest import static_host

            host = static_host(node["config"]["url"])
            assert host and host.endswith(HOST_SUFFIX)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_loaded_document_is_stable_and_json(path: Path) -> None:
    doc = dsl.parse_and_validate(path.read_bytes())
    assert json.loads(json.dumps(doc)) == doc
    assert dsl.parse_and_validate(doc) == doc  # loading a loaded document changes nothing


def test_loaded_shape_has_defaults() -> None:
    doc = dsl.parse_and_validate((EXAMPLES / "order-sync.json").read_bytes())
    assert doc["settings"] == {"timeout_seconds": 900, "memory_mb": 256, "error_handler": None}
    fetch = doc["nodes"][1]
    assert list(fetch) == ["id", "type", "title", "notes", "config", "position", "retry", "on_error"]
    assert fetch["config"]["timeout_seconds"] == 30
    assert fetch["config"]["expect_status"] == ["2xx"]
    assert fetch["retry"]["backoff"] == {"initial_seconds": 1, "multiplier": 2, "max_seconds": 300, "jitter": True}
    assert doc["edges"][0] == {"from": "start", "to": "fetch_orders", "port": "out"}
    body = doc["nodes"][2]["config"]["body"]
    assert body["nodes"][1]["config"] == {"expression": body["nodes"][1]["config"]["expression"], "code": None}
    assert body["edges"] == [{"from": "post_line", "to": "line_result", "port": "out"}]


def test_upstream_map_and_iter_nodes() -> None:
    doc = dsl.parse_and_validate((EXAMPLES / "order-sync.json").read_bytes())
    pointers = [(p, n["id"], m) for p, n, m in dsl.iter_nodes(doc)]
    assert pointers == [
        ("/nodes/0", "start", None),
        ("/nodes/1", "fetch_orders", None),
        ("/nodes/2", "lines", None),
        ("/nodes/3", "summary", None),
        ("/nodes/2/config/body/nodes/0", "post_line", "lines"),
        ("/nodes/2/config/body/nodes/1", "line_result", "lines"),
    ]
    up = dsl.upstream_map(doc)
    assert up["start"] == frozenset()
    assert up["summary"] == {"start", "fetch_orders", "lines"}
    assert up["post_line"] == {"start", "fetch_orders"}  # outer ancestors of the map, not the map itself
    assert up["line_result"] == {"start", "fetch_orders", "post_line"}
    assert dsl.body_map(doc) == {"lines": ("post_line", "line_result")}
    assert dsl.scope_for(doc, "line_result") == {"input", "item", "index", "start", "fetch_orders", "post_line"}


def test_ports() -> None:
    doc = dsl.parse_and_validate((EXAMPLES / "lead-routing.json").read_bytes())
    by_id = {n["id"]: n for _p, n, _m in dsl.iter_nodes(doc)}
    assert dsl.ports_for(by_id["has_email"]) == ("true", "false")
    assert dsl.ports_for(by_id["route"]) == ("enterprise", "midmarket", "startup", "default")
    assert dsl.ports_for(by_id["assign_enterprise"]) == ("out", "error")
    assert dsl.ports_for(by_id["invalid_lead"]) == ()


def test_error_handler_scope() -> None:
    doc = json.loads((EXAMPLES / "daily-report.json").read_text())
    doc["settings"]["error_handler"] = "alert"
    doc["nodes"].append(
        {
            "id": "alert",
            "type": "http.request",
            "config": {
                "method": "POST",
                "url": "https://hooks.example.com/alerts",
                "body": "{'text': error['message']}",
            },
        }
    )
    doc["nodes"].append({"id": "after_alert", "type": "transform", "config": {"expression": "error['code']"}})
    doc["edges"].append({"from": "alert", "to": "after_alert"})
    loaded = dsl.parse_and_validate(doc)
    assert "error" in dsl.scope_for(loaded, "after_alert")
    assert "error" not in dsl.scope_for(loaded, "report")
