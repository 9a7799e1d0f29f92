"""JSON value -> loaded document (plain dict, defaults filled in) plus the graphs the checks walk.

Each node and edge loads on its own so that one broken node yields its own problems and the rest of the
document is still checked. A node that fails to load is kept as a ``NodeRef`` with ``node=None`` (graph
checks skip it) but with its id when that id is usable, so edges to it are not reported as dangling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError

from app.dsl import rules
from app.dsl.fields import Msg
from app.dsl.limits import escape
from app.dsl.schema import CONFIGS, DOCUMENT, EDGE, NODE, NODE_TYPES
from app.errors import Problem

_ID_RE = re.compile(rules.NODE_ID_RE)


@dataclass
class NodeRef:
    pointer: str  # "/nodes/3" or "/nodes/2/config/body/nodes/0"
    id: str | None  # usable id, even when the node is otherwise broken
    type: str | None  # known type, even when the node is otherwise broken
    node: dict[str, Any] | None  # the loaded node, or None when it has problems of its own
    map_id: str | None  # id of the enclosing map node, None at top level
    raw_id: str | None = None  # the id as written, when it is a string (even an invalid one)


@dataclass
class EdgeRef:
    pointer: str
    src: str
    dst: str
    port: str | None  # None when the edge itself is broken but its endpoints are usable


@dataclass
class Graph:
    """The top-level graph or one map body."""

    pointer: str  # "" or "/nodes/2/config/body"
    map_ref: NodeRef | None
    nodes: list[NodeRef] = field(default_factory=list)
    edges: list[EdgeRef] = field(default_factory=list)


@dataclass
class Loaded:
    doc: dict[str, Any]
    problems: list[Problem]
    graphs: list[Graph]


_NAME_KEY = "\x00name"  # marks a Dict key error: "the name must be ..."
_PLAIN_CODES = {"is not a known field": "unknown_field", "must be an object": "wrong_type"}


def _message(key: str | int, text: str) -> tuple[str, str]:
    code = getattr(text, "code", None) or _PLAIN_CODES.get(text, "invalid_value")
    if text == "is not a known field":
        return f"unknown field '{key}'", "unknown_field"
    if key is _NAME_KEY:
        return f"the name {text}", code
    if isinstance(key, int):
        return f"item {key} {text}", code
    return (f"'{key}' {text}" if key else text), code


def problems_from(messages: Any, base: str, node_id: str | None, *, key: str | int = "") -> list[Problem]:
    """Flatten marshmallow's nested error dict into Problems with JSON pointers."""
    out: list[Problem] = []
    if isinstance(messages, dict):
        for k, sub in messages.items():
            if k == "_schema":
                out += problems_from(sub, base, node_id, key=key)
            elif k in ("key", "value") and isinstance(sub, list | dict) and key != "":
                # fields.Dict reports {"name": {"key": [...], "value": [...]}}
                out += problems_from(sub, base, node_id, key=_NAME_KEY if k == "key" else key)
            else:
                out += problems_from(sub, f"{base}/{escape(k)}", node_id, key=k)
        return out
    for text in messages if isinstance(messages, list) else [messages]:
        if isinstance(text, dict | list):
            out += problems_from(text, base, node_id, key=key)
            continue
        message, code = _message(key, text if isinstance(text, Msg) else str(text))
        out.append(Problem(path=base, message=message, code=code, node=node_id))
    return out


def _load(
    schema: Any, data: Any, base: str, *, node_id: str | None = None, what: str = ""
) -> tuple[dict[str, Any] | None, list[Problem]]:
    if what and not isinstance(data, dict):
        return None, [Problem(base, f"{what} must be a JSON object", "wrong_type", node_id)]
    try:
        return schema.load(data), []
    except ValidationError as err:
        return None, problems_from(err.messages, base, node_id)


class _Loader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.graphs: list[Graph] = []

    def graph(
        self, raw_nodes: list[Any], raw_edges: list[Any], pointer: str, map_ref: NodeRef | None
    ) -> tuple[list[Any], list[Any]]:
        """Load one graph's nodes and edges (items that fail stay raw in the returned lists)."""
        g = Graph(pointer, map_ref)
        self.graphs.append(g)
        nodes = [self.node(raw, f"{pointer}/nodes/{i}", map_ref, g) for i, raw in enumerate(raw_nodes)]
        edges: list[Any] = []
        for i, raw in enumerate(raw_edges):
            edge, problems = _load(EDGE, raw, f"{pointer}/edges/{i}", what="an edge")
            self.problems += problems
            if edge is None:
                edges.append(raw)
                if isinstance(raw, dict) and isinstance(raw.get("from"), str) and isinstance(raw.get("to"), str):
                    # keep the connection for reachability and cycles; its own problem is reported already
                    g.edges.append(EdgeRef(f"{pointer}/edges/{i}", raw["from"], raw["to"], None))
            else:
                edges.append(edge)
                g.edges.append(EdgeRef(f"{pointer}/edges/{i}", edge["from"], edge["to"], edge["port"]))
        return nodes, edges

    def node(self, raw: Any, pointer: str, map_ref: NodeRef | None, g: Graph) -> Any:
        raw_dict = raw if isinstance(raw, dict) else {}
        raw_id = raw_dict.get("id")
        node_id = raw_id if isinstance(raw_id, str) and _ID_RE.fullmatch(raw_id) else None
        node, problems = _load(NODE, raw, pointer, node_id=node_id, what="a node")
        ntype = raw_dict.get("type") if isinstance(raw_dict.get("type"), str) else None
        if ntype is not None and ntype not in NODE_TYPES:
            problems.append(
                Problem(
                    f"{pointer}/type",
                    f"unknown node type '{ntype}'; known types: {', '.join(NODE_TYPES)}",
                    "unknown_type",
                    node_id,
                )
            )
            ntype = None
        ref = NodeRef(
            pointer, node_id, ntype, None, map_ref.id if map_ref else None, raw_id if isinstance(raw_id, str) else None
        )
        g.nodes.append(ref)
        raw_config = raw_dict.get("config", {})
        config = None
        if ntype is not None and isinstance(raw_config, dict):
            config, config_problems = _load(CONFIGS[ntype], raw_config, f"{pointer}/config", node_id=node_id)
            problems += config_problems
            if ntype == "map":
                body = (config or raw_config).get("body")
                if isinstance(body, dict) and isinstance(body.get("nodes"), list):
                    edges = body.get("edges", [])
                    nodes, edges = self.graph(
                        body["nodes"], edges if isinstance(edges, list) else [], f"{pointer}/config/body", ref
                    )
                    if config is not None:
                        config["body"]["nodes"], config["body"]["edges"] = nodes, edges
        self.problems += problems
        if node is None or config is None or problems:
            return raw
        node["config"] = config
        ref.node = node
        return node


def load(data: Any) -> Loaded:
    """Load a parsed JSON value; problems cover the document shape only (graph checks come later)."""
    doc, problems = _load(DOCUMENT, data, "")
    if doc is None:
        # Keep checking what can be checked: nodes and edges are raw lists in the document schema.
        doc = {}
        raw = data if isinstance(data, dict) else {}
        for key in ("nodes", "edges"):
            if isinstance(raw.get(key), list):
                doc[key] = raw[key]
        if isinstance(raw.get("settings"), dict):
            doc["settings"] = {"error_handler": raw["settings"].get("error_handler")}
    elif doc.get("title") is None:
        doc["title"] = doc["name"]
    loader = _Loader()
    doc["nodes"], edges = loader.graph(doc.get("nodes", []), doc.get("edges", []), "", None)
    if "edges" in doc:
        doc["edges"] = edges
    return Loaded(doc, problems + loader.problems, loader.graphs)
