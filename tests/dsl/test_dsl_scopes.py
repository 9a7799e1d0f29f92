"""Scope and graph rules around map bodies, nested maps and joins."""

from __future__ import annotations

from typing import Any

from app import dsl


def doc_with(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "dsl": "wasmflow/1",
        "name": "scopes",
        "nodes": [{"id": "start", "type": "trigger.manual"}, *nodes],
        "edges": [{"from": "start", "to": nodes[0]["id"]}, *edges],
    }


def transform(node_id: str, expression: str) -> dict[str, Any]:
    return {"id": node_id, "type": "transform", "config": {"expression": expression}}


def nested() -> dict[str, Any]:
    inner = {
        "id": "cells",
        "type": "map",
        "config": {
            "items": "item['cells']",  # the outer item
            "body": {"nodes": [transform("cell", "item * index + row_total + rows['n']")]},
            "result": "cell",
        },
    }
    outer = {
        "id": "grid",
        "type": "map",
        "config": {
            "items": "rows['rows']",
            "concurrency": 8,
            "body": {
                "nodes": [transform("row_total", "sum(item['cells'])"), inner],
                "edges": [{"from": "row_total", "to": "cells"}],
            },
        },
    }
    return doc_with(
        [transform("rows", "{'rows': input['rows'], 'n': len(input['rows'])}"), outer, transform("done", "grid")],
        [{"from": "rows", "to": "grid"}, {"from": "grid", "to": "done"}],
    )


def test_nested_maps_are_valid_and_scoped() -> None:
    doc = dsl.parse_and_validate(nested())
    up = dsl.upstream_map(doc)
    assert up["cell"] == {"start", "rows", "row_total"}
    assert up["cells"] == {"start", "rows", "row_total"}
    assert up["done"] == {"start", "rows", "grid"}
    assert dsl.body_map(doc) == {"grid": ("row_total", "cells"), "cells": ("cell",)}
    pointers = [p for p, _n, _m in dsl.iter_nodes(doc)]
    assert "/nodes/2/config/body/nodes/1/config/body/nodes/0" in pointers


def test_body_nodes_are_not_visible_outside_their_map() -> None:
    doc = nested()
    doc["nodes"][3]["config"]["expression"] = "row_total"
    [problem] = dsl.validate(doc)
    assert (problem.path, problem.code, problem.message) == (
        "/nodes/3/config/expression",
        "not_upstream",
        "node 'row_total' is not upstream of 'done'",
    )


def test_map_result_sees_the_whole_body() -> None:
    doc = nested()
    doc["nodes"][2]["config"]["result"] = "{'total': row_total, 'cells': cells, 'at': index}"
    assert dsl.validate(doc) == []
    doc["nodes"][2]["config"]["result"] = "cell"  # inside the inner body only
    [problem] = dsl.validate(doc)
    assert problem.path == "/nodes/2/config/result" and problem.code == "not_upstream"


def test_joins_see_both_sides() -> None:
    doc = doc_with(
        [
            {"id": "check", "type": "branch", "config": {"condition": "input.get('vip')"}},
            transform("vip", "1"),
            transform("normal", "2"),
            transform("merge", "(vip if vip is not None else normal)"),
        ],
        [
            {"from": "check", "to": "vip", "port": "true"},
            {"from": "check", "to": "normal", "port": "false"},
            {"from": "vip", "to": "merge"},
            {"from": "normal", "to": "merge"},
        ],
    )
    assert dsl.validate(doc) == []
    assert dsl.upstream_map(dsl.parse_and_validate(doc))["merge"] == {"start", "check", "vip", "normal"}


def test_broken_node_does_not_cascade() -> None:
    doc = nested()
    doc["nodes"][1]["config"] = {"expression": 5}  # rows is broken
    problems = dsl.validate(doc)
    assert [(p.path, p.code) for p in problems] == [("/nodes/1/config/expression", "wrong_type")]


def test_many_cycles_are_each_reported_once() -> None:
    nodes = [transform(f"t{i}", "1") for i in range(6)]
    edges = [{"from": "t0", "to": "t1"}, {"from": "t1", "to": "t0"}, {"from": "t0", "to": "t2"}]
    edges += [
        {"from": "t2", "to": "t3"},
        {"from": "t3", "to": "t4"},
        {"from": "t4", "to": "t2"},
        {"from": "t5", "to": "t5"},
    ]
    problems = dsl.validate(doc_with(nodes, edges))
    cycles = [p.message for p in problems if p.code == "cycle"]
    assert cycles == [
        "the edges form a cycle: t0 -> t1 -> t0",
        "the edges form a cycle: t2 -> t3 -> t4 -> t2",
        "the edges form a cycle: t5 -> t5",
    ]
    assert [p.code for p in problems if p.code != "cycle"] == ["unreachable"]  # t5 only points at itself
