"""The workflow shared by the wait, recovery and determinism tests (the same document compiles once per
session): two transforms around a durable wait."""

from __future__ import annotations

WAIT_SECONDS = 2
NAME = "wait-between-transforms"
BEFORE = "{'n': input['n'] * 2}"
NODES = ("start", "before", "pause", "after")


def wait_between_transforms(before: str = BEFORE, *, shortened: bool = False) -> dict:
    """``before`` changes one expression; ``shortened`` drops the wait and everything after it."""
    doc = {
        "dsl": "wasmflow/1",
        "name": NAME,
        "nodes": [
            {"id": "start", "type": "trigger.manual"},
            {"id": "before", "type": "transform", "config": {"expression": before}},
            {"id": "pause", "type": "wait", "config": {"duration": f"{WAIT_SECONDS}s"}},
            {"id": "after", "type": "transform", "config": {"expression": "{'n': before['n'] + 1, 'at': pause}"}},
        ],
        "edges": [
            {"from": "start", "to": "before"},
            {"from": "before", "to": "pause"},
            {"from": "pause", "to": "after"},
        ],
    }
    if shortened:
        doc["nodes"], doc["edges"] = doc["nodes"][:2], doc["edges"][:1]
    return doc
