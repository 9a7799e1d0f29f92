"""Graph rules (one trigger, edges, ports, duplicates, cycles, reachability) and upstream sets.

Upstream sets are Python ints used as bitsets over all node ids, propagated in topological order, so a
1,000-node chain costs a few thousand big-int ORs rather than a quadratic walk. A map body node's
upstream is its body ancestors plus the map node's own upstream (the map itself has no output yet).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.dsl.loader import EdgeRef, Graph, NodeRef
from app.dsl.schema import TRIGGER_TYPES, ports_for
from app.errors import Problem

MAX_CYCLE_REPORTS = 50


@dataclass
class Analysis:
    """What the graph checks learned; the expression checks and the compiler read scopes from it."""

    problems: list[Problem] = field(default_factory=list)
    refs: dict[str, NodeRef] = field(default_factory=dict)  # id -> its (first) node
    bits: dict[str, int] = field(default_factory=dict)  # id -> bit index
    order: list[str] = field(default_factory=list)  # bit index -> id
    ancestors: dict[str, int] = field(default_factory=dict)  # id -> bitset of upstream ids
    body: dict[str, int] = field(default_factory=dict)  # map id -> bitset of its direct body node ids
    error_scope: set[str] = field(default_factory=set)  # ids that see `error`
    trigger: NodeRef | None = None

    def ids(self, bits: int) -> list[str]:
        """Decode a bitset into ids (in document order)."""
        text = bin(bits)[:1:-1]  # least significant bit first
        out: list[str] = []
        i = text.find("1")
        while i >= 0:
            out.append(self.order[i])
            i = text.find("1", i + 1)
        return out

    def is_upstream(self, name: str, of: str) -> bool:
        bit = self.bits.get(name)
        return bit is not None and (self.ancestors.get(of, 0) >> bit) & 1 == 1

    def upstream(self, node_id: str) -> frozenset[str]:
        return frozenset(self.ids(self.ancestors.get(node_id, 0)))


def _p(path: str, message: str, code: str, *, node: str | None = None) -> Problem:
    return Problem(path=path, message=message, code=code, node=node)


def analyze(graphs: list[Graph], error_handler: Any) -> Analysis:
    """Run every graph rule; ``graphs`` lists the top-level graph first, then bodies, parents before children."""
    a = Analysis()
    duplicates: set[int] = set()
    for g in graphs:
        for ref in g.nodes:
            if ref.id is None:
                continue
            first = a.refs.get(ref.id)
            if first is not None:
                duplicates.add(id(ref))
                a.problems.append(
                    _p(
                        f"{ref.pointer}/id",
                        f"duplicate node id '{ref.id}'; it is already used at {first.pointer}",
                        "duplicate_id",
                        node=ref.id,
                    )
                )
                continue
            a.refs[ref.id] = ref
            a.bits[ref.id] = len(a.order)
            a.order.append(ref.id)
    handler = error_handler if isinstance(error_handler, str) else None
    _check_handler(a, handler)
    for g in graphs:
        members = [r for r in g.nodes if r.id is not None and id(r) not in duplicates]
        _check_graph(a, g, members, handler=handler if g.map_ref is None else None)
    return a


def _check_handler(a: Analysis, handler: str | None) -> None:
    if handler is None:
        return
    ref = a.refs.get(handler)
    path = "/settings/error_handler"
    if ref is None:
        a.problems.append(_p(path, f"the error handler '{handler}' is not a node of this workflow", "unknown_node"))
    elif ref.map_id is not None:
        a.problems.append(
            _p(
                path,
                f"the error handler must be a top-level node; '{handler}' is inside the map '{ref.map_id}'",
                "bad_handler",
            )
        )
    elif ref.type in TRIGGER_TYPES:
        a.problems.append(
            _p(path, f"the error handler cannot be a trigger; '{handler}' is a {ref.type}", "bad_handler")
        )


def _check_graph(a: Analysis, g: Graph, members: list[NodeRef], *, handler: str | None) -> None:
    local = {r.id: r for r in members}
    handler = handler if handler in local else None
    top = g.map_ref is None
    triggers = [r for r in members if r.type in TRIGGER_TYPES]
    if top:
        # No nodes at all is reported by the schema; a trigger with a broken id is reported on its id.
        if g.nodes and not any(r.id is None and r.type in TRIGGER_TYPES for r in g.nodes):
            _check_triggers(a, members, triggers)
    else:
        for r in triggers:
            a.problems.append(
                _p(f"{r.pointer}/type", "a map body cannot contain a trigger", "trigger_in_body", node=r.id)
            )
        for r in members:
            if r.type == "respond":
                a.problems.append(
                    _p(f"{r.pointer}/type", "a map body cannot contain a respond node", "respond_in_body", node=r.id)
                )
    edges = _check_edges(a, g, local, handler=handler)
    error_sources = {e.src for e in g.edges if e.port == "error"}
    for r in members:
        if r.node is not None and r.node.get("on_error") == "route" and r.id not in error_sources:
            a.problems.append(
                _p(
                    f"{r.pointer}/on_error",
                    f'on_error is "route" but no edge leaves \'{r.id}\' through its "error" port',
                    "missing_error_edge",
                    node=r.id,
                )
            )
    order = _order_breaking_cycles(a, members, edges)
    preds: dict[str, list[str]] = {r.id: [] for r in members}
    succs: dict[str, list[str]] = {r.id: [] for r in members}
    for e in edges:
        preds[e.dst].append(e.src)
        succs[e.src].append(e.dst)
    base = 0 if top else a.ancestors.get(g.map_ref.id, 0) if g.map_ref.id else 0
    bits, anc = a.bits, a.ancestors
    for v in order:
        acc = base
        for p in preds[v]:
            acc |= anc[p] | (1 << bits[p])
        anc[v] = acc
    if not top and g.map_ref.id:
        body_bits = 0
        for r in members:
            body_bits |= 1 << bits[r.id]
        a.body[g.map_ref.id] = body_bits
        if g.map_ref.id in a.error_scope:
            a.error_scope.update(local)
        _check_map_result(a, g.map_ref, members, succs=succs)
    if top:
        if handler is not None:
            a.error_scope.update(_reach([handler], succs))
        if triggers:
            roots = [t.id for t in triggers] + ([handler] if handler else [])
            seen = _reach(roots, succs)
            name = triggers[0].id
            for r in members:
                if r.id not in seen:
                    a.problems.append(
                        _p(
                            r.pointer,
                            f"node '{r.id}' cannot be reached from the trigger '{name}'",
                            "unreachable",
                            node=r.id,
                        )
                    )


def _check_triggers(a: Analysis, members: list[NodeRef], triggers: list[NodeRef]) -> None:
    if not triggers:
        a.problems.append(
            _p(
                "/nodes",
                "the workflow needs a trigger node (trigger.manual, trigger.webhook or trigger.schedule)",
                "no_trigger",
            )
        )
        return
    first = triggers[0]
    a.trigger = first
    for r in triggers[1:]:
        a.problems.append(
            _p(
                f"{r.pointer}/type",
                f"a workflow has exactly one trigger; '{first.id}' is already its trigger",
                "extra_trigger",
                node=r.id,
            )
        )
    if first.type != "trigger.webhook":
        for r in members:
            if r.type == "respond":
                a.problems.append(
                    _p(
                        f"{r.pointer}/type",
                        f"a respond node needs a trigger.webhook trigger; this workflow starts with {first.type}",
                        "respond_without_webhook",
                        node=r.id,
                    )
                )


def _where(a: Analysis, node_id: str) -> str:
    ref = a.refs[node_id]
    return "the top-level graph" if ref.map_id is None else f"the body of map '{ref.map_id}'"


def _check_edges(a: Analysis, g: Graph, local: dict[str, NodeRef], *, handler: str | None) -> list[EdgeRef]:
    """Report bad endpoints, ports and duplicates; return the edges usable for the graph walk."""
    here = "the top-level graph" if g.map_ref is None else f"the body of map '{g.map_ref.id}'"
    seen: dict[tuple[str, str, str | None], str] = {}
    good: list[EdgeRef] = []
    broken = {r.raw_id for r in g.nodes if r.id is None and r.raw_id is not None}
    for e in g.edges:
        ok = True
        for end, name in (("from", e.src), ("to", e.dst)):
            if name in local:
                continue
            ok = False
            if name in broken:
                continue  # the node's own problem (a bad id) is reported already
            if name in a.refs:
                msg = f"node '{name}' is in {_where(a, name)}; an edge in {here} can only connect nodes of that graph"
                a.problems.append(
                    _p(f"{e.pointer}/{end}", msg, "edge_crosses_graph", node=e.src if end == "to" else None)
                )
            else:
                src = e.src if end == "to" and e.src in local else None
                a.problems.append(
                    _p(f"{e.pointer}/{end}", f"there is no node '{name}' in {here}", "unknown_node", node=src)
                )
        if not ok:
            continue
        node = local[e.src].node
        if node is not None and e.port is not None:
            ports = ports_for(node)
            if e.port not in ports:
                a.problems.append(_p(f"{e.pointer}/port", _port_message(node, e.port, ports), "bad_port", node=e.src))
        key = (e.src, e.dst, e.port)
        if key in seen:
            a.problems.append(
                _p(
                    e.pointer,
                    f"duplicate edge: {seen[key]} already connects '{e.src}' to '{e.dst}' through port '{e.port}'",
                    "duplicate_edge",
                    node=e.src,
                )
            )
            continue
        seen[key] = e.pointer
        target = local[e.dst]
        if target.type in TRIGGER_TYPES:
            a.problems.append(
                _p(
                    f"{e.pointer}/to",
                    f"'{e.dst}' is a trigger; a trigger cannot have incoming edges",
                    "edge_into_trigger",
                    node=e.src,
                )
            )
            continue
        if e.dst == handler:
            a.problems.append(
                _p(
                    f"{e.pointer}/to",
                    f"'{e.dst}' is the error handler; the error handler cannot have incoming edges",
                    "edge_into_handler",
                    node=e.src,
                )
            )
            continue
        good.append(e)
    return good


def _port_message(node: dict[str, Any], port: str, ports: tuple[str, ...]) -> str:
    nid, ntype = node["id"], node["type"]
    if port == "error" and node.get("on_error") != "route":
        return f'node \'{nid}\' has no "error" port; set its on_error to "route" to send failures along this edge'
    if not ports:
        return f"node '{nid}' is a {ntype} node and has no outgoing ports"
    listed = ", ".join(f'"{p}"' for p in ports)
    return f"node '{nid}' ({ntype}) has no port \"{port}\"; its ports are {listed}"


def _order_breaking_cycles(a: Analysis, members: list[NodeRef], edges: list[EdgeRef]) -> list[str]:
    """Topological order; each cycle is reported on one of its edges, which is then dropped from ``edges``."""
    for _ in range(MAX_CYCLE_REPORTS + 1):
        indeg = {r.id: 0 for r in members}
        succs: dict[str, list[str]] = {r.id: [] for r in members}
        for e in edges:
            indeg[e.dst] += 1
            succs[e.src].append(e.dst)
        ready = [r.id for r in members if indeg[r.id] == 0]
        order: list[str] = []
        while ready:
            v = ready.pop()
            order.append(v)
            for w in succs[v]:
                indeg[w] -= 1
                if indeg[w] == 0:
                    ready.append(w)
        if len(order) == len(members):
            return order
        left = {v for v, d in indeg.items() if d > 0}
        edge = _report_cycle(a, left, edges)
        edges.remove(edge)
    return order


def _report_cycle(a: Analysis, left: set[str], edges: list[EdgeRef]) -> EdgeRef:
    into: dict[str, EdgeRef] = {}
    for e in edges:
        if e.dst in left and e.src in left and e.dst not in into:
            into[e.dst] = e
    start = next(e.dst for e in edges if e.dst in into)
    walk: list[str] = []
    position: dict[str, int] = {}
    v = start
    while v not in position:
        position[v] = len(walk)
        walk.append(v)
        v = into[v].src
    cycle_back = walk[position[v] :]  # each node's predecessor follows it
    cycle_edges = [into[n] for n in cycle_back]
    edge = max(cycle_edges, key=lambda e: edges.index(e))
    forward = list(reversed(cycle_back))
    i = forward.index(edge.dst)
    path = forward[i:] + forward[:i] + [edge.dst]
    a.problems.append(_p(edge.pointer, "the edges form a cycle: " + " -> ".join(path), "cycle", node=edge.src))
    return edge


def _reach(roots: list[str], succs: dict[str, list[str]]) -> set[str]:
    seen = set(roots)
    todo = list(roots)
    while todo:
        for w in succs[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def _check_map_result(a: Analysis, map_ref: NodeRef, members: list[NodeRef], *, succs: dict[str, list[str]]) -> None:
    if map_ref.node is None or map_ref.node["config"].get("result") is not None:
        return
    sinks = [r.id for r in members if not succs[r.id]]
    if len(sinks) > 1:
        a.problems.append(
            _p(
                f"{map_ref.pointer}/config/result",
                f"the map body has {len(sinks)} end nodes ({', '.join(sinks)}); set 'result' to say what each item yields",
                "ambiguous_map_result",
                node=map_ref.id,
            )
        )


# --- helpers over a loaded (valid) document ----------------------------------------------------------


def iter_nodes(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """Yield (json_pointer, node, enclosing_map_id_or_None) for every node, map bodies included, in document order."""
    stack: list[tuple[str, list[Any], str | None]] = [("", doc.get("nodes") or [], None)]
    while stack:
        prefix, nodes, map_id = stack.pop(0)
        bodies: list[tuple[str, list[Any], str | None]] = []
        for i, node in enumerate(nodes):
            pointer = f"{prefix}/nodes/{i}"
            yield pointer, node, map_id
            if node.get("type") == "map":
                body = (node.get("config") or {}).get("body") or {}
                bodies.append((f"{pointer}/config/body", body.get("nodes") or [], node.get("id")))
        stack[:0] = bodies


def graphs_from_doc(doc: dict[str, Any]) -> list[Graph]:
    """The graphs of an already-loaded document (parents before bodies), for analysis without re-loading."""
    graphs: list[Graph] = []
    todo: list[tuple[str, dict[str, Any], NodeRef | None]] = [("", doc, None)]
    while todo:
        pointer, holder, map_ref = todo.pop(0)
        g = Graph(pointer, map_ref)
        graphs.append(g)
        for i, node in enumerate(holder.get("nodes") or []):
            ref = NodeRef(f"{pointer}/nodes/{i}", node["id"], node["type"], node, map_ref.id if map_ref else None)
            g.nodes.append(ref)
            if node["type"] == "map":
                todo.append((f"{ref.pointer}/config/body", node["config"]["body"], ref))
        for i, e in enumerate(holder.get("edges") or []):
            g.edges.append(EdgeRef(f"{pointer}/edges/{i}", e["from"], e["to"], e.get("port", "out")))
    return graphs


def analyze_doc(doc: dict[str, Any]) -> Analysis:
    return analyze(graphs_from_doc(doc), (doc.get("settings") or {}).get("error_handler"))


def upstream_map(doc: dict[str, Any]) -> dict[str, frozenset[str]]:
    """For each node id of a loaded document, the ids whose outputs it may read (map bodies see outer ancestors)."""
    a = analyze_doc(doc)
    return {node_id: a.upstream(node_id) for node_id in a.order}


def body_map(doc: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """For each map node id, the ids of its direct body nodes."""
    a = analyze_doc(doc)
    return {map_id: tuple(a.ids(bits)) for map_id, bits in a.body.items()}
