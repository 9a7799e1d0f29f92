"""Validation time for a 1,000-node workflow (chain + branches + http + transforms with expressions).

Run: .venv/bin/python bench/validate.py [--nodes 1000] [--runs 15]
Prints per-phase detail, then one JSON line: {"bench": "validate", "nodes": ..., "median_ms": ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import dsl  # noqa: E402


def build(n: int) -> dict[str, Any]:
    """A valid workflow of ``n`` nodes: a long chain with a branch every 10 nodes and a side node per branch."""
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "trigger.manual", "config": {}, "position": {"x": 0, "y": 0}}
    ]
    edges: list[dict[str, Any]] = []
    prev = "start"
    i = 1
    while len(nodes) < n:
        nid = f"n{i}"
        x = 200 * i
        if i % 10 == 0 and len(nodes) + 2 <= n:
            nodes.append(
                {
                    "id": nid,
                    "type": "branch",
                    "config": {"condition": f"{prev} is not None and len(input) >= 0"},
                    "position": {"x": x, "y": 0},
                }
            )
            side = f"side{i}"
            nodes.append(
                {
                    "id": side,
                    "type": "transform",
                    "config": {"expression": f"{{'skipped': {nid}['value'], 'at': {i}}}"},
                    "position": {"x": x + 100, "y": 200},
                }
            )
            edges.append({"from": prev, "to": nid})
            edges.append({"from": nid, "to": side, "port": "false"})
            edges.append({"from": nid, "to": f"n{i + 1}", "port": "true"})
            prev = None  # the next node is reached through the "true" port
            i += 1
            continue
        elif i % 7 == 0:
            nodes.append(
                {
                    "id": nid,
                    "type": "http.request",
                    "config": {
                        "method": "POST",
                        "url": f"https://api.example.com/items/{{{{ start.get('id', {i}) }}}}",
                        "headers": {"X-Step": f"{{{{ n{i - 1} }}}}"},
                        "body": f"{{'step': {i}, 'previous': n{i - 1}}}",
                        "auth": {"type": "bearer", "secret": "API_TOKEN"},
                    },
                    "retry": {"max_attempts": 3},
                    "position": {"x": x, "y": 0},
                }
            )
        else:
            expr = f"[v * 2 for v in range(3)] + [len(str(n{i - 1})) if {i} > 1 else 0]" if i > 1 else "input"
            nodes.append({"id": nid, "type": "transform", "config": {"expression": expr}, "position": {"x": x, "y": 0}})
        if prev is not None:
            edges.append({"from": prev, "to": nid})
        prev = nid
        i += 1
    # the last branch may point at a node that was not created
    ids = {node["id"] for node in nodes}
    edges = [e for e in edges if e["to"] in ids]
    return {"dsl": "wasmflow/1", "name": "bench", "nodes": nodes, "edges": edges}


def timed(fn: Any, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    doc = build(args.nodes)
    text = json.dumps(doc)
    problems = dsl.validate(text)
    if problems:
        sys.exit(f"bench document is invalid: {problems[:3]}")
    dsl.validate(text)  # warm caches (time zones, schema instances)
    results = {
        "validate(text)": timed(lambda: dsl.validate(text), args.runs),
        "parse_and_validate(dict)": timed(lambda: dsl.parse_and_validate(doc), args.runs),
        "dsl_digest(dict)": timed(lambda: dsl.dsl_digest(doc), args.runs),
        "upstream_map(loaded)": timed(lambda: dsl.upstream_map(dsl.parse_and_validate(doc)), max(3, args.runs // 3)),
    }
    print(f"{len(doc['nodes'])} nodes, {len(doc['edges'])} edges, {len(text):,} bytes; {args.runs} runs")
    for name, values in results.items():
        print(
            f"  {name:28s} median {statistics.median(values):7.1f} ms  p90 {pct(values, 90):7.1f}  max {max(values):7.1f}"
        )
    median = statistics.median(results["validate(text)"])
    line = {
        "bench": "validate",
        "nodes": len(doc["nodes"]),
        "edges": len(doc["edges"]),
        "runs": args.runs,
        "median_ms": round(median, 1),
        "p90_ms": round(pct(results["validate(text)"], 90), 1),
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
