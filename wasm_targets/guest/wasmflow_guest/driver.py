"""The graph driver: runs nodes in compile-time topological order, follows ports, applies on_error and
retry, emits node events, interleaves map items, and turns the run into its JSON result or error.

A node runs iff it is an entry (the trigger, a map body entry, the error handler) or at least one of its
incoming edges is active (its source ran and emitted that edge's port).
"""

from __future__ import annotations

import importlib
import json

from .errors import HostError, NodeError, NodeFailed, RunFailure, error_dict, is_outside
from .hostcall import EFFECTS, Call, Gather, execute, set_current_node
from .retry import Retry, backoff

PATH_KEY = "_path"  # map item indices of the current scope; node ids cannot start with "_"
_CO_GENERATOR = 0x20


class Node:
    """One node as the generated module declares it."""

    __slots__ = ("id", "type", "fn", "on_error", "retry", "is_generator")

    def __init__(self, id: str, type: str, fn, *, on_error: str = "fail", retry: Retry | None = None):
        self.id = id
        self.type = type
        self.fn = fn
        self.on_error = on_error
        self.retry = retry
        self.is_generator = bool(fn.__code__.co_flags & _CO_GENERATOR)


class Graph:
    """Nodes, edges (source, port, target), the topological order and entry nodes; for a map body also the
    single sink whose output is the item result, or a result function evaluated in the body scope."""

    def __init__(self, *, nodes: list, edges: list, order: list, entries: list, sink: str | None = None, result=None):
        self.nodes = {n.id: n for n in nodes}
        self.edges = tuple(edges)
        self.order = tuple(order)
        self.entries = frozenset(entries)
        self.sink = sink
        self.result = result
        self.incoming: dict[str, list] = {n: [] for n in self.nodes}
        for source, port, target in self.edges:
            self.incoming[target].append((source, port))


def _event(node: str, event: str, path: tuple, **fields) -> Call:
    request = {"node": node, "event": event, **fields}
    if path:
        request["index"] = list(path)
    return Call("node.event", request)


def _check_json(value, node: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NodeError("output_not_json", f"node {node!r} produced a value that is not JSON: {exc}") from None


def _ports(node: Node, output) -> tuple:
    if node.type == "branch":
        return ("true",) if output.get("value") else ("false",)
    if node.type == "switch":
        return (output.get("port", "default"),)
    return ("out",)


def effect_id(node: str, path: tuple, phase: str, ordinal: int | str) -> str:
    """The logical identity of a node's ``ordinal``-th call: the same in every attempt of the node (and of
    an enclosing map), in every execution of the run (replays, resumes after a crash) and in every attempt
    of a child run. The host derives the call's idempotency key from it. In one phase a node runs at most
    once per map path; the error handler's phase may run a node again, as another effect."""
    where = node + ("@" + ".".join(str(i) for i in path) if path else "") + phase
    return f"{where}#{ordinal}"


_phase = {"suffix": ""}  # "" for the run, "!handler" while the error handler runs


def _forward_tagged(gen, node: str, path: tuple):
    ordinal = 0
    value, error = None, None
    while True:
        try:
            request = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            return stop.value
        for call in request.calls if isinstance(request, Gather) else (request,):
            if not isinstance(call, Call):
                continue
            # an agent names its tool calls by turn and position ("t3.0"): the model decides how many there are
            label = call.request.pop("effect_label", None)
            if call.capability in EFFECTS and "effect" not in call.request:
                if label is None:
                    ordinal += 1
                call.request["effect"] = effect_id(node, path, _phase["suffix"], label or ordinal)
        try:
            value, error = (yield request), None
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as exc:  # noqa: B036 - a HostError thrown in by the trampoline goes to the node
            value, error = None, exc


def run_node(node: Node, scope: dict, sources: list):
    """Generator: run one node with retries; returns (output, emitted ports).

    Every attempt's calls carry the same effect ids, so a retried side effect reuses its idempotency key."""
    path = scope.get(PATH_KEY, ())
    attempt = 1
    while True:
        yield _event(node.id, "started", path, input={"from": sources}, attempt=attempt)
        set_current_node(node.id)  # user code of a node runs before its first yield: print() logs for it
        try:
            if node.is_generator:
                output = yield from _forward_tagged(node.fn(scope), node.id, path)
            else:
                output = node.fn(scope)
            _check_json(output, node.id)
        except RunFailure as failure:
            yield _event(node.id, "failed", path, error=failure.error, attempt=attempt)
            raise
        except Exception as exc:
            error = error_dict(exc, node.id)
            if error.get("node") is None:
                error["node"] = node.id
            retry = node.retry
            again = retry is not None and attempt < retry.max_attempts and is_outside(exc) and retry.matches(error)
            # continue/route make the error value the node's output: say so in its failed event, or the run's
            # view would show a failed node without the output the nodes after it read
            handled = not again and node.on_error in ("continue", "route")
            extra = {"output": {"error": error}, "on_error": node.on_error} if handled else {}
            yield _event(node.id, "failed", path, error=error, attempt=attempt, will_retry=again, **extra)
            if again:
                yield from backoff(retry, attempt, node.id)
                attempt += 1
                continue
            if node.on_error == "continue":
                return {"error": error}, ("out",)
            if node.on_error == "route":
                return {"error": error}, ("error",)
            raise NodeFailed(error) from None
        yield _event(node.id, "finished", path, output=output, attempt=attempt)
        return output, _ports(node, output)


def run_graph(graph: Graph, scope: dict, entries=None, emitted: dict | None = None, *, report_skipped: bool = True):
    """Generator: run the graph in ``scope`` (written with each node's output); returns {id: output} of the
    nodes that ran, in run order. ``emitted`` (if given) receives the ports each node emitted. A node with
    incoming edges that does not run gets a "skipped" event (the live view greys it out)."""
    entries = graph.entries if entries is None else entries
    emitted = {} if emitted is None else emitted
    ran: dict = {}
    for nid in graph.order:
        sources = [src for src, port in graph.incoming[nid] if port in emitted.get(src, ())]
        if nid not in entries and not sources:
            if report_skipped and graph.incoming[nid]:
                yield _event(nid, "skipped", scope.get(PATH_KEY, ()))
            continue
        output, ports = yield from run_node(graph.nodes[nid], scope, sources)
        scope[nid] = ran[nid] = output
        emitted[nid] = ports
    return ran


def _item(body: Graph, scope: dict, node: str, index: int, item):
    inner = dict(scope)
    inner["item"], inner["index"] = item, index
    inner[PATH_KEY] = (*scope.get(PATH_KEY, ()), index)
    yield from run_graph(body, inner)
    if body.result is not None:
        return body.result(inner)
    return inner.get(body.sink)


class _Slot:
    __slots__ = ("index", "gen", "value", "error")

    def __init__(self, index: int, gen):
        self.index, self.gen, self.value, self.error = index, gen, None, None


def map_items(node: str, items, body: Graph, scope: dict, *, concurrency: int = 1):
    """Generator: run ``body`` once per item, up to ``concurrency`` interleaved; the calls the running items
    issue together go out as one Gather (so their HTTP requests form one batch). Returns the results list."""
    if isinstance(items, dict) or not isinstance(items, list | tuple):
        raise NodeError("map_items_not_list", f"map items must be a list, got {type(items).__name__}")
    results: list = [None] * len(items)
    active: list[_Slot] = []
    upcoming = 0
    while active or upcoming < len(items):
        while len(active) < max(1, concurrency) and upcoming < len(items):
            active.append(_Slot(upcoming, _item(body, scope, node, upcoming, items[upcoming])))
            upcoming += 1
        waiting = []
        for slot in list(active):
            try:
                request = slot.gen.throw(slot.error) if slot.error is not None else slot.gen.send(slot.value)
            except StopIteration as stop:
                results[slot.index] = stop.value
                active.remove(slot)
                continue
            except NodeFailed as failed:
                _close(active, slot)
                raise _item_error(failed.error, slot.index) from None
            except BaseException:
                _close(active, slot)
                raise
            waiting.append((slot, request))
        if not waiting:
            continue
        calls: list = []
        spans = []
        for slot, request in waiting:
            many = isinstance(request, Gather)
            spans.append((slot, len(calls), many, len(request.calls) if many else 1))
            calls.extend(request.calls if many else [request])
        outcomes = yield Gather(calls)
        for slot, start, many, count in spans:
            if many:
                slot.value, slot.error = outcomes[start : start + count], None
            elif isinstance(outcomes[start], HostError):
                slot.value, slot.error = None, outcomes[start]
            else:
                slot.value, slot.error = outcomes[start], None
    return results


def _close(active: list, failed: _Slot) -> None:
    for slot in active:
        if slot is not failed:
            slot.gen.close()


def _item_error(error: dict, index: int) -> NodeError:
    details = dict(error.get("details") or {})
    details.update({"index": index, "failed_node": error.get("node")})
    return NodeError(
        error.get("code", "error"),
        f"item {index}: node {error.get('node')!r} failed: {error.get('message', '')}",
        retriable=bool(error.get("retriable")),
        details=details,
    )


def _result(graph: Graph, ran: dict, emitted: dict):
    """The run output: of the one node that ran and activated no outgoing edge (a sink of this run), or
    {id: output} of several. A node whose only edges leave from ports it did not emit (e.g. an unused
    "error" route) counts as a sink of the run."""
    active = {src for src, port, _ in graph.edges if port in emitted.get(src, ())}
    sinks = [n for n in ran if n not in active]
    if len(sinks) == 1:
        return ran[sinks[0]]
    if not sinks:
        return None
    return {n: ran[n] for n in sinks}


def _err_type():
    return importlib.import_module("componentize_py_types").Err


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def run_workflow(graph: Graph, input_json: str, *, error_handler: str | None = None) -> str:
    """The world's ``run`` export: run the workflow on ``input_json``; returns the result JSON
    {"output", "nodes"} or raises Err with the run error JSON {"code","message","node","retriable","details"}."""
    err = _err_type()
    try:
        run_input = json.loads(input_json) if input_json.strip() else None
    except ValueError as exc:
        raise err(_dumps(_run_error({"code": "bad_input", "message": f"run input is not JSON: {exc}"}))) from None
    scope: dict = {"input": run_input}
    _phase["suffix"] = ""
    try:
        emitted: dict = {}
        ran = execute(run_graph(graph, scope, emitted=emitted))
        return _dumps({"output": _result(graph, ran, emitted), "nodes": ran})
    except (NodeFailed, RunFailure) as failure:
        error = _run_error(failure.error)
    except Exception as exc:  # a bug in the runtime or generated code: still a clean, structured error
        error = _run_error({"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"})
    if error_handler is not None:
        handler_scope = dict(scope, error=error)
        _phase["suffix"] = "!handler"
        try:
            execute(run_graph(graph, handler_scope, entries=frozenset({error_handler}), report_skipped=False))
        except Exception:  # noqa: S110 - the handler's own failure is in its node events; the run error stands
            pass
    raise err(_dumps(error))


def _run_error(error: dict) -> dict:
    return {
        "code": error.get("code", "error"),
        "message": error.get("message", ""),
        "node": error.get("node"),
        "retriable": bool(error.get("retriable", False)),
        "details": dict(error.get("details") or {}),
    }
