"""Canonical form: editor-only fields, key order and explicit defaults do not change the digest; code does."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from app import dsl

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


def load(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def test_digest_is_sha256_of_canonical_text() -> None:
    import hashlib

    doc = load("order-sync")
    text = dsl.canonical_json(doc)
    assert dsl.dsl_digest(doc) == hashlib.sha256(text.encode()).hexdigest()
    assert '"position"' not in text and '"notes"' not in text
    assert json.loads(text)["nodes"][0]["id"] == "start"  # node order kept


def test_positions_and_notes_do_not_change_the_digest() -> None:
    doc = load("order-sync")
    moved = copy.deepcopy(doc)
    for node in moved["nodes"]:
        node["position"] = {"x": node["position"]["x"] + 1000, "y": -5}
        node["notes"] = "moved around"
    moved["nodes"][2]["config"]["body"]["nodes"][0]["position"] = {"x": 1, "y": 2}
    del moved["nodes"][0]["position"]
    assert dsl.dsl_digest(moved) == dsl.dsl_digest(doc)


def test_key_order_does_not_change_the_digest() -> None:
    doc = load("lead-routing")

    def reverse(value):
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value

    assert dsl.dsl_digest(reverse(doc)) == dsl.dsl_digest(doc)
    assert dsl.dsl_digest(json.dumps(doc, indent=4)) == dsl.dsl_digest(json.dumps(doc))


def test_one_character_expression_change_changes_the_digest() -> None:
    doc = load("lead-routing")
    changed = copy.deepcopy(doc)
    changed["nodes"][1]["config"]["condition"] = changed["nodes"][1]["config"]["condition"].replace("@", "#")
    assert dsl.dsl_digest(changed) != dsl.dsl_digest(doc)


def test_node_order_is_meaningful() -> None:
    doc = load("daily-report")
    swapped = copy.deepcopy(doc)
    swapped["nodes"][1], swapped["nodes"][2] = swapped["nodes"][2], swapped["nodes"][1]
    assert dsl.dsl_digest(swapped) != dsl.dsl_digest(doc)


def test_explicit_defaults_equal_omitted_defaults() -> None:
    minimal = {
        "dsl": "wasmflow/1",
        "name": "defaults",
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {"id": "get", "type": "http.request", "config": {"url": "https://api.example.com/x"}, "retry": {}},
        ],
        "edges": [{"from": "start", "to": "get"}],
    }
    explicit = dsl.parse_and_validate(copy.deepcopy(minimal))
    assert explicit["title"] == "defaults"
    assert dsl.dsl_digest(explicit) == dsl.dsl_digest(minimal)
    spelled = copy.deepcopy(minimal)
    spelled["settings"] = {"timeout_seconds": 300, "memory_mb": 256, "error_handler": None}
    spelled["nodes"][1]["config"].update(
        {"method": "GET", "headers": {}, "timeout_seconds": 30.0, "expect_status": ["2xx"]}
    )
    spelled["nodes"][1]["retry"] = {"max_attempts": 3, "backoff": {"jitter": True}}
    spelled["nodes"][1]["on_error"] = "fail"
    spelled["edges"][0]["port"] = "out"
    assert dsl.dsl_digest(spelled) == dsl.dsl_digest(minimal)


def test_canonical_json_rejects_invalid_shapes() -> None:
    import pytest

    with pytest.raises(dsl.ValidationFailed):
        dsl.canonical_json({"dsl": "wasmflow/1"})
