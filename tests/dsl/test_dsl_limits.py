"""Bad input is one clear problem, never a traceback: empty, not JSON, too large, too deep, not UTF-8."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import dsl
from app.dsl.limits import text_depth

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "order-sync.json"


def only(source: object, **kw: object) -> dsl.Problem:
    problems = dsl.validate(source, **kw)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize("source", ["", b"", "   \n\t", b"\xef\xbb\xbf"])
def test_empty(source: object) -> None:
    p = only(source)
    assert (p.path, p.code, p.message) == ("", "empty", "empty document")


def test_not_json() -> None:
    p = only('{"dsl": "wasmflow/1",\n  "name": }')
    assert p.code == "not_json"
    assert p.message == "not valid JSON: Expecting value at line 2 column 11"


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": ' + "9" * 5000 + "}", "[1, 2"])
def test_json_edge_cases(text: str) -> None:
    assert only(text).code == "not_json"


def test_a_duplicate_key_names_its_pointer_first_in_document_order() -> None:
    p = only('{"a": 1, "a": 2}')
    assert (p.path, p.code, p.message) == ("/a", "duplicate_key", 'the key "a" appears twice in one object')
    p = only('{"nodes": [{"x": 1}, {"c/d": {"k": 1, "k": 2}, "c/d": 3}], "z": {"q": 1, "q": 1}}')
    assert (p.path, p.code) == ("/nodes/1/c~1d", "duplicate_key")


def test_too_large_50mb() -> None:
    data = b'{"pad": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    p = only(data)
    assert p.code == "too_large"
    assert p.message == f"document is {len(data):,} bytes; the limit is 10,485,760"


def test_limit_is_configurable() -> None:
    assert only(EXAMPLE.read_bytes(), max_bytes=100).code == "too_large"


def test_depth_10000() -> None:
    p = only("[" * 10_000 + "]" * 10_000)
    assert (p.code, p.message) == ("too_deep", "the document is nested more than 64 levels deep")
    p = only('{"a":' * 10_000 + "1" + "}" * 10_000)
    assert p.code == "too_deep"


def test_depth_of_parsed_values_is_checked_without_recursion() -> None:
    value: object = 1
    for _ in range(10_000):
        value = [value]
    assert only(value).code == "too_deep"


def test_brackets_inside_strings_do_not_count() -> None:
    assert text_depth('{"a": "[[[[{{{{\\"]]]"}') == 1
    doc = json.loads(EXAMPLE.read_text())
    doc["description"] = "[" * 1000
    assert dsl.validate(json.dumps(doc)) == []


@pytest.mark.parametrize("source", ["[]", "42", '"text"', "null", "true", [], 3, None])
def test_not_an_object(source: object) -> None:
    p = only(source)
    assert (p.path, p.code) == ("", "not_an_object")


def test_invalid_utf8() -> None:
    p = only(b'{"name": "caf\xe9"}')
    assert (p.code, p.message) == ("not_utf8", "document is not UTF-8: invalid byte at offset 13")


def test_non_json_python_values() -> None:
    assert only({"nodes": {1, 2}}).code == "not_json"
    assert only({1: "a"}).code == "not_json"
    assert only({"a": float("nan")}).code == "not_json"


def test_utf8_bom_and_lone_surrogates_are_fine() -> None:
    assert dsl.validate(b"\xef\xbb\xbf" + EXAMPLE.read_bytes()) == []
    doc = json.loads(EXAMPLE.read_text())
    doc["description"] = "\ud800"
    assert dsl.validate(doc) == []
    assert len(dsl.dsl_digest(doc)) == 64


def test_unicode_digit_keys_sort_without_crashing() -> None:
    problems = dsl.validate({"\u00b2": 1, "\u0661": 2})
    assert {p.path for p in problems} >= {"/\u00b2", "/\u0661"}
