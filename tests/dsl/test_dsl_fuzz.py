"""Validation never crashes: random JSON values and mutated examples always give a list of Problems."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import dsl

EXAMPLES = [
    json.loads(p.read_text())
    for p in sorted((Path(__file__).resolve().parent.parent.parent / "examples").glob("*.json"))
]
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
interesting = st.sampled_from(
    [
        "input",
        "item",
        "{{",
        "{{ x }}",
        "}}",
        "trigger.manual",
        "map",
        "switch",
        "route",
        "error",
        "out",
        "a +",
        "0 9 * * *",
        "1h",
    ]
)
json_values = st.recursive(
    scalars | interesting,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8) | interesting, children, max_size=4)
    ),
    max_leaves=20,
)


def assert_problems(result: Any, source: Any) -> None:
    assert isinstance(result, list)
    assert all(isinstance(p, dsl.Problem) for p in result)
    if any(p.code == "internal_error" for p in result):
        dsl._check(source, max_bytes=dsl.MAX_BYTES)  # re-run unguarded so the failure shows its traceback
        raise AssertionError(result)


@FUZZ
@given(json_values)
def test_random_json_values(value: Any) -> None:
    assert_problems(dsl.validate(value), value)
    assert_problems(dsl.validate(json.dumps(value)), json.dumps(value))


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    stack = [(value, prefix)]
    while stack:
        item, here = stack.pop()
        children = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, sub in children:
            out.append((*here, key))
            stack.append((sub, (*here, key)))
    return out


@st.composite
def mutated_examples(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = draw(st.sampled_from(["delete", "replace", "insert"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(json_values)
        elif isinstance(parent, list):
            parent.insert(key, draw(json_values))
        else:
            parent[draw(st.text(max_size=8) | interesting)] = draw(json_values)
    return doc


@FUZZ
@given(mutated_examples())
def test_mutated_examples(doc: Any) -> None:
    problems = dsl.validate(doc)
    assert_problems(problems, doc)
    assert problems == dsl.validate(json.dumps(doc))
    if not problems:  # still valid: the canonical form must work too
        assert len(dsl.dsl_digest(doc)) == 64


@FUZZ
@given(st.text(max_size=60))
def test_random_templates_and_expressions(text: str) -> None:
    from app.dsl.checks import parse_text

    for kind in ("expression", "template", "code"):
        names, error = parse_text(kind, text)
        assert isinstance(names, dict) and (error is None or isinstance(error, str))
