"""The JSON Schema export comes from the marshmallow schemas and tells the editor what it needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import dsl

EXAMPLES = sorted((Path(__file__).resolve().parent.parent.parent / "examples").glob("*.json"))


def test_every_node_type_has_a_config_schema_and_palette_entry() -> None:
    schema = dsl.json_schema()
    types = schema["x-wasmflow-node-types"]
    assert list(types) == list(dsl.NODE_TYPES)
    for name, info in types.items():
        assert info["config"] == {"$ref": f"#/$defs/config.{name}"}
        assert schema["$defs"][f"config.{name}"]["additionalProperties"] is False
    assert types["branch"]["ports"] == ["true", "false"]
    assert types["fail"]["ports"] == []
    assert types["http.request"]["retry"] is True and types["transform"]["retry"] is False


def test_defaults_descriptions_and_kinds() -> None:
    defs = dsl.json_schema()["$defs"]
    http = defs["config.http.request"]["properties"]
    assert http["method"]["default"] == "GET" and "HEAD" in http["method"]["enum"]
    assert http["url"]["x-wasmflow"] == "template"
    assert http["headers"]["additionalProperties"]["x-wasmflow"] == "template"
    assert http["body"]["x-wasmflow"] == "expression"
    assert http["timeout_seconds"] == {
        "description": "per attempt",
        "type": "number",
        "minimum": 0.1,
        "maximum": 300,
        "default": 30,
    }
    assert defs["config.transform"]["properties"]["code"]["x-wasmflow"] == "code"
    assert defs["config.map"]["properties"]["result"]["x-wasmflow-scope"] == "body"
    assert defs["config.map"]["properties"]["concurrency"]["default"] == 1
    assert defs["config.trigger.schedule"]["required"] == ["cron"]
    assert defs["config.map"]["properties"]["body"] == {
        "description": "sub-graph run once per item; sees item and index",
        "$ref": "#/$defs/body",
    }
    assert defs["body"]["properties"]["nodes"]["items"] == {"$ref": "#/$defs/node"}


def test_every_field_is_described() -> None:
    defs = dsl.json_schema()["$defs"]
    missing = [
        f"{name}.{field}" for name, d in defs.items() for field, s in d["properties"].items() if "description" not in s
    ]
    assert missing == []


def test_json_schema_is_a_fresh_copy() -> None:
    dsl.json_schema()["title"] = "changed"
    assert dsl.json_schema()["title"] != "changed"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_match_the_exported_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = dsl.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(json.loads(path.read_text()))) == []
    assert list(validator.iter_errors(dsl.parse_and_validate(path.read_bytes()))) == []
