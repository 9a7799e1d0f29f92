"""DSL document -> the generated guest module (``workflow_app.py``): readable, deterministic Python.

One function per node (``node_<id>``) holding that node's expressions, templates and code as real Python,
a graph declaration (nodes, edges, topological order computed here), and the ``WitWorld`` export class
delegating to the guest runtime ``wasmflow_guest``. User text is only parsed (``ast``) and re-emitted
(``ast.unparse``); it is never evaluated on the host.
"""

from __future__ import annotations

import heapq
import keyword
import re

from app import capabilities, pyast
from app.compiler.pyexpr import CodegenError, parse_code, parse_expr, template_code

RESERVED_SCOPE = ("input", "item", "index", "error")
DEFAULT_RETRY_ON = ("5xx", "429", "timeout", "network")
DEFAULT_BACKOFF = {"initial_seconds": 1, "multiplier": 2, "max_seconds": 300, "jitter": True}
_NODE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")

# node type -> capability its behaviour calls (triggers, transform, branch, switch, map, fail call none)
NODE_CAPABILITY = {
    "http.request": "http.request",
    "kv.get": "kv.get",
    "kv.set": "kv.set",
    "wait": "timer.wait",
    "approval": "approval.request",
    "subflow": "workflow.call",
    "respond": "webhook.respond",
}


def tool_kind(tool: dict) -> str:
    """What an agent tool does: "http", "subflow", "kv.get" or "kv.set"."""
    if tool.get("http") is not None:
        return "http"
    if tool.get("subflow") is not None:
        return "subflow"
    return f"kv.{tool['kv']['op']}"


TOOL_CAPABILITY = {"http": "http.request", "subflow": "workflow.call", "kv.get": "kv.get", "kv.set": "kv.set"}


def agent_capabilities(config: dict) -> set[str]:
    """An agent's model turns (llm.chat), its wall clock (clock.now), waits between retried turns (timer.wait),
    its tools' capabilities, and approval.request when a tool may need a person."""
    caps = {"llm.chat", "clock.now", "timer.wait"}
    for tool in config.get("tools") or ():
        caps.add(TOOL_CAPABILITY[tool_kind(tool)])
        if tool.get("approval", "never") != "never":
            caps.add("approval.request")
    return caps


def iter_all_nodes(nodes: list):
    """Every node, map bodies included, depth first in document order."""
    for node in nodes:
        yield node
        if node.get("type") == "map":
            yield from iter_all_nodes(node.get("config", {}).get("body", {}).get("nodes", []))


def required_capabilities(doc: dict) -> set[str]:
    """Capability names the generated module imports: those its nodes call, timer.wait (+ random.bytes for
    jitter) for retries, and the always-granted node.event and log.write."""
    caps = set(capabilities.ALWAYS_GRANTED)
    for node in iter_all_nodes(doc.get("nodes", [])):
        cap = NODE_CAPABILITY.get(node.get("type"))
        if cap:
            caps.add(cap)
        if node.get("type") == "agent":
            caps |= agent_capabilities(node.get("config") or {})
        retry = _retry(node)
        if retry is not None:
            caps.add("timer.wait")
            if retry["jitter"]:
                caps.add("random.bytes")
    return caps


def duration_seconds(text: str, *, node: str | None = None, field: str | None = None) -> int:
    """Seconds of a DSL duration like "1h30m" (grammar ^(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?$)."""
    m = _DURATION.match(text or "") if isinstance(text, str) else None
    if not text or m is None:
        raise CodegenError(f"invalid duration {text!r}; use e.g. 90s, 15m, 1h30m, 2d", node=node, field=field)
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def topological_order(nodes: list, edges: list) -> list[str]:
    """Kahn's algorithm, ties broken by document order: the same graph always gives the same order."""
    position = {n["id"]: i for i, n in enumerate(nodes)}
    indegree = dict.fromkeys(position, 0)
    targets: dict[str, list[str]] = {n: [] for n in position}
    for e in edges:
        if e["from"] in position and e["to"] in position:
            targets[e["from"]].append(e["to"])
            indegree[e["to"]] += 1
    ready = [(position[n], n) for n, k in indegree.items() if k == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, nid = heapq.heappop(ready)
        order.append(nid)
        for t in targets[nid]:
            indegree[t] -= 1
            if indegree[t] == 0:
                heapq.heappush(ready, (position[t], t))
    if len(order) != len(position):
        stuck = sorted(set(position) - set(order), key=position.get)
        raise CodegenError(f"the graph has a cycle through {', '.join(stuck)}")
    return order


def _retry(node: dict) -> dict | None:
    retry = node.get("retry")
    if not retry or int(retry.get("max_attempts", 3)) <= 1:
        return None
    backoff = {**DEFAULT_BACKOFF, **(retry.get("backoff") or {})}
    return {
        "max_attempts": int(retry.get("max_attempts", 3)),
        **backoff,
        "retry_on": tuple(retry.get("retry_on", DEFAULT_RETRY_ON)),
    }


def _lit(value) -> str:
    """A JSON value as a Python literal (repr is exact and deterministic for JSON types)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    raise CodegenError(f"not a JSON value: {value!r}")


class _Fn:
    """One node function being written: collects the scope names its user text mentions."""

    def __init__(self, node: dict, scope_names: frozenset[str]):
        self.id = node["id"]
        self.scope_names = scope_names
        self.names: set[str] = set()

    def expr(self, text: str, field: str) -> str:
        e = parse_expr(text, node=self.id, field=field)
        self.names |= e.names
        return e.source

    def opt_expr(self, text, field: str) -> str:
        return "None" if text is None else self.expr(text, field)

    def tpl(self, text: str, field: str) -> str:
        source, names = template_code(text, node=self.id, field=field)
        self.names |= names
        return source

    def tpl_dict(self, mapping: dict, field: str) -> str:
        items = [f"{k!r}: {self.tpl(v, f'{field}/{k}')}" for k, v in (mapping or {}).items()]
        return "{" + ", ".join(items) + "}"

    def used(self) -> list[str]:
        return sorted(self.names & self.scope_names)

    def unpack(self) -> list[str]:
        return [f"    {n} = _scope.get({n!r})" for n in self.used()]


def _call(fn: str, node_id: str, kwargs: list[tuple]) -> list[str]:
    """``return (yield from _rt.<fn>(node_id, k=v, ...))``; a kwarg may carry a trailing comment."""
    lines = [f"    return (yield from _rt.{fn}(", f"        {node_id!r},"]
    for k, v, *comment in kwargs:
        lines.append(f"        {k}={v}," + (f"  # {comment[0]}" if comment else ""))
    return [*lines, "    ))"]


class _Generator:
    def __init__(self, doc: dict):
        self.doc = doc
        all_nodes = list(iter_all_nodes(doc.get("nodes", [])))
        self.scope_names = frozenset(RESERVED_SCOPE) | {n["id"] for n in all_nodes}
        self.functions: list[str] = []  # function source blocks, in document order (depth first)
        self.graphs: list[str] = []  # body graph declarations, innermost first
        self.imports: set[str] = set()  # modules code blocks import: preloaded into the snapshot

    def node_function(self, node: dict) -> None:
        nid, ntype, config = node["id"], node["type"], node.get("config") or {}
        if not isinstance(nid, str) or not _NODE_ID.match(nid) or keyword.iskeyword(nid):
            raise CodegenError(f"node id {nid!r} is not a valid id (lower-case letters, digits, _)", field="id")
        fn = _Fn(node, self.scope_names)
        at = len(self.functions)  # a map's body functions are appended while its own is written: keep it first
        body = self._body(fn, ntype, config, node)
        title = (node.get("title") or "").replace("\n", " ")
        head = [f"def node_{nid}(_scope):", f'    """{ntype}{": " + _doc(title) if title else ""}"""']
        self.functions.insert(at, "\n".join(head + fn.unpack() + body) + "\n")

    def _body(self, fn: _Fn, ntype: str, config: dict, node: dict) -> list[str]:
        nid = node["id"]
        if ntype.startswith("trigger."):
            return ['    return _scope["input"]']
        if ntype == "transform":
            if config.get("code") is not None:
                return self._code(fn, config["code"])
            return [f"    return {fn.expr(config.get('expression'), 'config/expression')}"]
        if ntype == "branch":
            return [f'    return {{"value": bool({fn.expr(config.get("condition"), "config/condition")})}}']
        if ntype == "switch":
            lines = []
            for i, case in enumerate(config.get("cases") or []):
                cond = fn.expr(case.get("when"), f"config/cases/{i}/when")
                lines += [f"    if {cond}:", f"        return {{'port': {case['port']!r}}}"]
            return [*lines, "    return {'port': 'default'}"]
        if ntype == "http.request":
            return self._http(fn, config)
        if ntype == "map":
            return self._map(fn, node, config)
        if ntype == "wait":
            if config.get("until") is not None:
                return _call("wait", nid, [("until", fn.tpl(config["until"], "config/until"))])
            seconds = duration_seconds(config.get("duration"), node=nid, field="config/duration")
            return _call("wait", nid, [("seconds", str(seconds), config.get("duration"))])
        if ntype == "approval":
            timeout = config.get("timeout", "72h")
            return _call(
                "approval",
                nid,
                [
                    ("title", fn.tpl(config.get("title", ""), "config/title")),
                    ("details", fn.tpl(config.get("details", ""), "config/details")),
                    ("timeout_seconds", str(duration_seconds(timeout, node=nid, field="config/timeout")), timeout),
                    ("timeout_action", repr(config.get("timeout_action", "reject"))),
                    ("approvers", _lit(config.get("approvers") or [])),
                ],
            )
        if ntype == "kv.get":
            return _call(
                "kv_get",
                nid,
                [
                    ("namespace", repr(config.get("namespace"))),
                    ("key", fn.tpl(config.get("key"), "config/key")),
                    ("default", _lit(config.get("default"))),
                ],
            )
        if ntype == "kv.set":
            return _call(
                "kv_set",
                nid,
                [
                    ("namespace", repr(config.get("namespace"))),
                    ("key", fn.tpl(config.get("key"), "config/key")),
                    ("value", fn.expr(config.get("value"), "config/value")),
                    ("ttl_seconds", _lit(config.get("ttl_seconds"))),
                ],
            )
        if ntype == "subflow":
            return _call(
                "subflow",
                nid,
                [
                    ("workflow", repr(config.get("workflow"))),
                    ("input", fn.expr(config.get("input", "input"), "config/input")),
                    ("wait", repr(bool(config.get("wait", True)))),
                ],
            )
        if ntype == "respond":
            return _call(
                "respond",
                nid,
                [
                    ("status", repr(int(config.get("status", 200)))),
                    ("headers", fn.tpl_dict(config.get("headers") or {}, "config/headers")),
                    ("body", fn.opt_expr(config.get("body"), "config/body")),
                ],
            )
        if ntype == "agent":
            return self._agent(fn, config)
        if ntype == "fail":
            message = fn.tpl(config.get("message", ""), "config/message")
            return [f"    _rt.fail({nid!r}, code={config.get('code', 'workflow_failed')!r}, message={message})"]
        raise CodegenError(f"unknown node type {ntype!r}", node=nid, field="type")

    def _code(self, fn: _Fn, text: str) -> list[str]:
        block = parse_code(text, node=fn.id, field="config/code")
        self.imports.update(block.imports)
        if {"datetime", "time"} & set(block.imports):
            self.imports.add("_strptime")  # strptime imports it lazily, i.e. at run time
        params = sorted(block.names & self.scope_names)
        body = ["        " + line if line else "" for line in block.source.split("\n")]
        args = ", ".join(f"_scope.get({n!r})" for n in params)
        return [f"    def _code({', '.join(params)}):", *body, f"    return _code({args})"]

    def _http(self, fn: _Fn, config: dict) -> list[str]:
        auth_src = _auth(fn, config.get("auth"), "config/auth")
        return _call(
            "http_request",
            fn.id,
            [
                ("method", repr(config.get("method", "GET"))),
                ("url", fn.tpl(config.get("url"), "config/url")),
                ("headers", fn.tpl_dict(config.get("headers") or {}, "config/headers")),
                ("query", fn.tpl_dict(config.get("query") or {}, "config/query")),
                ("body", fn.opt_expr(config.get("body"), "config/body")),
                ("auth", auth_src),
                ("timeout_seconds", _lit(config.get("timeout_seconds", 30))),
                ("response", repr(config.get("response", "auto"))),
                ("expect_status", _lit(config.get("expect_status", ["2xx"]))),
                *([("idempotency", repr(config["idempotency"]))] if config.get("idempotency", "key") != "key" else []),
            ],
        )

    def _agent(self, fn: _Fn, config: dict) -> list[str]:
        tools = [self._tool(fn, tool, f"config/tools/{i}") for i, tool in enumerate(config.get("tools") or [])]
        hooks = config.get("hooks") or {}
        before, after = hooks.get("before_tool"), hooks.get("after_tool")
        limits = dict(config.get("limits") or {})
        timeout = limits.pop("timeout", "10m")
        limits["timeout_seconds"] = duration_seconds(timeout, node=fn.id, field="config/limits/timeout")
        output = config.get("output") or {"type": "text"}
        tools_src = "[\n" + "".join(f"            {t},\n" for t in tools) + "        ]" if tools else "[]"
        return _call(
            "agent",
            fn.id,
            [
                ("instructions", fn.tpl(config.get("instructions") or "", "config/instructions")),
                ("prompt", fn.tpl(config.get("prompt"), "config/prompt")),
                ("tools", tools_src),
                (
                    "before_tool",
                    f"lambda tool, args: {fn.expr(before, 'config/hooks/before_tool')}" if before else "None",
                ),
                (
                    "after_tool",
                    f"lambda tool, args, result: {fn.expr(after, 'config/hooks/after_tool')}" if after else "None",
                ),
                ("limits", _lit(limits)),
                (
                    "output",
                    _lit(
                        {
                            "type": output.get("type", "text"),
                            "schema": output.get("schema"),
                            "max_repairs": output.get("max_repairs", 2),
                        }
                    ),
                ),
            ],
        )

    def _tool(self, fn: _Fn, tool: dict, at: str) -> str:
        """One ``_rt.Tool(...)``: its request built from the tool's templates over ``args`` (in the guest)."""
        kind = tool_kind(tool)
        if kind == "http":
            h = tool["http"]
            parts = {
                "method": repr(h.get("method", "GET")),
                "url": fn.tpl(h["url"], f"{at}/http/url"),
                "headers": fn.tpl_dict(h.get("headers") or {}, f"{at}/http/headers"),
                "query": fn.tpl_dict(h.get("query") or {}, f"{at}/http/query"),
                "body": fn.opt_expr(h.get("body"), f"{at}/http/body"),
                "auth": _auth(fn, h.get("auth"), f"{at}/http/auth"),
                "timeout_seconds": _lit(h.get("timeout_seconds", 30)),
            }
        elif kind == "subflow":
            sub = tool["subflow"]
            parts = {
                "workflow": repr(sub["workflow"]),
                "input": fn.expr(sub.get("input", "args"), f"{at}/subflow/input"),
            }
        else:
            kv = tool["kv"]
            parts = {"namespace": repr(kv["namespace"]), "key": fn.tpl(kv["key"], f"{at}/kv/key")}
            if kind == "kv.set":
                parts["value"] = fn.expr(kv["value"], f"{at}/kv/value")
                parts["ttl_seconds"] = _lit(kv.get("ttl_seconds"))
        request = "{" + ", ".join(f"{k!r}: {v}" for k, v in parts.items()) + "}"
        fixed_items = [
            f"{k!r}: {fn.tpl(v, f'{at}/fixed/{k}') if isinstance(v, str) else _lit(v)}"
            for k, v in (tool.get("fixed") or {}).items()
        ]
        approval = tool.get("approval", "never")
        approval_src = (
            repr(approval) if approval in ("never", "always") else f"lambda args: {fn.expr(approval, f'{at}/approval')}"
        )
        args = [
            repr(tool["name"]),
            repr(kind),
            f"lambda args: {request}",
            f"fixed=lambda: {{{', '.join(fixed_items)}}}",
            f"approval={approval_src}",
            f"approval_timeout_seconds={duration_seconds(tool.get('approval_timeout', '24h'), node=fn.id, field=f'{at}/approval_timeout')}",
        ]
        if tool.get("max_calls") is not None:
            args.append(f"max_calls={int(tool['max_calls'])}")
        return f"_rt.Tool({', '.join(args)})"

    def _map(self, fn: _Fn, node: dict, config: dict) -> list[str]:
        nid = node["id"]
        body = config.get("body") or {}
        items = fn.expr(config.get("items"), "config/items")
        self.graph(body.get("nodes") or [], body.get("edges") or [], name=f"BODY_{nid}", map_node=node)
        concurrency = int(config.get("concurrency", 1))
        return [
            f"    return (yield from _rt.map_items({nid!r}, {items}, BODY_{nid}, _scope, concurrency={concurrency}))"
        ]

    def _result_function(self, node: dict, text: str) -> str:
        fn = _Fn(node, self.scope_names)
        source = fn.expr(text, "config/result")
        head = [f"def result_{node['id']}(_scope):", f'    """The item result of map {node["id"]!r}."""']
        self.functions.append("\n".join([*head, *fn.unpack(), f"    return {source}"]) + "\n")
        return f"result_{node['id']}"

    def graph(self, nodes: list, edges: list, *, name: str, map_node: dict | None = None) -> None:
        order = topological_order(nodes, edges)
        for node in nodes:
            self.node_function(node)
        targets = {e["to"] for e in edges}
        sources = {e["from"] for e in edges}
        if map_node is None:
            entries = [n["id"] for n in nodes if n["type"].startswith("trigger.")]
        else:
            entries = [n["id"] for n in nodes if n["id"] not in targets]
        lines = [f"{name} = _rt.Graph(", "    nodes=["]
        for node in nodes:
            lines.append(f"        {_node_decl(node)},")
        lines += ["    ],", "    edges=["]
        for e in edges:
            lines.append(f"        ({e['from']!r}, {e.get('port') or 'out'!r}, {e['to']!r}),")
        lines += ["    ],", f"    order={_lit(order)},", f"    entries={_lit(entries)},"]
        if map_node is not None:
            result = (map_node.get("config") or {}).get("result")
            if result is not None:
                lines.append(f"    result={self._result_function(map_node, result)},")
            else:
                sinks = [n["id"] for n in nodes if n["id"] not in sources]
                if len(sinks) != 1:
                    raise CodegenError(
                        f"the map body has {len(sinks)} sink nodes ({', '.join(sinks)}); set config.result",
                        node=map_node["id"],
                        field="config/result",
                    )
                lines.append(f"    sink={sinks[0]!r},")
        lines.append(")")
        self.graphs.append("\n".join(lines) + "\n")


def _auth(fn: _Fn, auth: dict | None, field: str) -> str:
    """An http auth object as source: the secret's NAME (the host injects its value); a username is a template."""
    if auth is None:
        return "None"
    items = [f"{k!r}: {fn.tpl(v, f'{field}/username') if k == 'username' else repr(v)}" for k, v in auth.items()]
    return "{" + ", ".join(items) + "}"


def _doc(text: str) -> str:
    """Text safe inside a one-line triple-quoted docstring."""
    return " ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"')


def _node_decl(node: dict) -> str:
    args = [repr(node["id"]), repr(node["type"]), f"node_{node['id']}"]
    on_error = node.get("on_error", "fail")
    if on_error != "fail":
        args.append(f"on_error={on_error!r}")
    retry = _retry(node)
    if retry is not None:
        args.append(
            "retry=_rt.Retry({max_attempts}, initial_seconds={initial_seconds!r}, multiplier={multiplier!r}, "
            "max_seconds={max_seconds!r}, jitter={jitter!r}, retry_on={retry_on!r})".format(**retry)
        )
    return f"_rt.Node({', '.join(args)})"


def generate_guest_module(doc: dict, *, digest: str | None = None) -> str:
    """The guest module for a loaded DSL document (defaults filled in or not): same doc -> same bytes."""
    return generate_program(doc, digest=digest)[0]


def generate_program(doc: dict, *, digest: str | None = None, for_runtime: bool = False) -> tuple[str, frozenset[str]]:
    """The guest module and the modules its code blocks import (the shared runtime must hold them).

    ``for_runtime``: the program the shared runtime runs: the same module without what only a component of
    its own needs (bindings imports, preloading, hardening: the runtime did those once, in its snapshot; the
    ``WitWorld`` export class: the runtime's ``run`` runs ``GRAPH``). Each of those costs the run time, since
    a program's module body runs at the start of every run."""
    gen = _Generator(doc)
    gen.graph(doc.get("nodes") or [], doc.get("edges") or [], name="GRAPH")
    modules = sorted(capabilities.get(c).module for c in required_capabilities(doc))
    handler = (doc.get("settings") or {}).get("error_handler")
    name = " ".join(str(doc.get("name", "")).split())
    title = " ".join(str(doc.get("title") or name).split())
    header = [
        "# Generated by wasmflow from a workflow document: do not edit (recompile the workflow instead).",
        f"# workflow: {name}" + (f" ({title})" if title != name else ""),
    ]
    if digest:
        header.append(f"# digest: {digest}")
    if for_runtime:
        parts = [
            "\n".join(header),
            "# The guest runtime is imported as `_rt`: node ids are locals here and never start with an underscore.",
            "# A program for the shared runtime: its `run(program, input)` runs GRAPH with ERROR_HANDLER.",
            "import wasmflow_guest as _rt",
            *("\n" + f for f in gen.functions),
            *("\n" + g for g in gen.graphs),
            f"\nERROR_HANDLER = {handler!r}",
        ]
        return _checked("\n".join(parts).replace("\n\n\n\n", "\n\n\n") + "\n"), frozenset(gen.imports)
    parts = [
        "\n".join(header),
        "# The guest runtime is imported as `_rt`: node ids are locals here and never start with an underscore.",
        "import wasmflow_guest as _rt",
        "import wit_world",
        "# Bindings of the capabilities this workflow uses, imported at build time so the snapshot holds them.",
        f"from wit_world.imports import {', '.join(modules)}  # noqa: F401",
        "",
        *(
            [
                "# Modules the code blocks import, loaded now: at run time there are no files to import from.",
                f"_rt.preload({_lit(sorted(gen.imports))})",
            ]
            if gen.imports
            else []
        ),
        "_rt.harden()",
        "",
        *("\n" + f for f in gen.functions),
        *("\n" + g for g in gen.graphs),
        f"\nERROR_HANDLER = {handler!r}\n",
        "\nclass WitWorld(wit_world.WitWorld):",
        "    def run(self, input: str) -> str:",
        "        return _rt.run_workflow(GRAPH, input, error_handler=ERROR_HANDLER)",
    ]
    source = "\n".join(parts).replace("\n\n\n\n", "\n\n\n") + "\n"
    return _checked(source), frozenset(gen.imports)


def _checked(source: str) -> str:
    try:
        pyast.parse(source)  # a guard, never an evaluation: a generator bug must not reach componentize-py
    except SyntaxError as exc:
        raise CodegenError(
            f"internal error: the generated module does not parse ({exc.msg}, line {exc.lineno})"
        ) from None
    return source
