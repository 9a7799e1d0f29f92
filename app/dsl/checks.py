"""Per-node checks that need more than the schema: expressions and their scope, URLs, literal credentials,
retry placement and literal timestamps. Runs on structurally valid nodes only.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

from marshmallow import Schema

from app.dsl import rules
from app.dsl.configs import APPROVAL_WORDS
from app.dsl.expressions import ParseError, TemplateError, free_names, parse_code, parse_expression, template_parts
from app.dsl.fields import KIND, JDict, JList, JNested, Tagged
from app.dsl.graph import Analysis
from app.dsl.loader import NodeRef, escape
from app.dsl.schema import CONFIGS, NODE_TYPES, RETRY_TYPES
from app.errors import Problem

BUILTINS = frozenset(dir(builtins))
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-auth-token", "cookie"}
)
MAX_LISTED = 12


def text_fields(schema: Schema, data: dict[str, Any], pointer: str) -> Iterator[tuple[str, str, str, str | None]]:
    """Yield (pointer, kind, text, scope) for each expression/template/code value in loaded config ``data``."""
    for name, fld in schema.fields.items():
        value = data.get(name)
        if value is None:
            continue
        here = f"{pointer}/{escape(name)}"
        kind = fld.metadata.get(KIND)
        if isinstance(fld, JDict) and kind:
            for key, sub in value.items():
                yield f"{here}/{escape(key)}", kind, sub, fld.metadata.get("x-wasmflow-scope")
        elif kind:
            yield here, kind, value, fld.metadata.get("x-wasmflow-scope")
        elif isinstance(fld, JNested) and isinstance(value, dict):
            yield from text_fields(fld.schema, value, here)
        elif isinstance(fld, JList) and isinstance(fld.inner, JNested):
            for i, item in enumerate(value):
                yield from text_fields(fld.inner.schema, item, f"{here}/{i}")
        elif isinstance(fld, Tagged):
            yield from text_fields(fld.schema_for(value[fld.tag]), value, here)


def _syntax(kind: str, err: ParseError, *, column_base: int = 0) -> str:
    if kind == "code":
        return f"invalid Python code at line {err.line}, column {err.column}: {err}"
    if err.line > 1:
        return f"invalid expression at line {err.line}, column {err.column}: {err}"
    return f"invalid expression at column {err.column + column_base}: {err}"


def parse_text(kind: str, text: str) -> tuple[dict[str, tuple[int, int]], str | None]:
    """Free names of one expression/template/code value, or the syntax error message."""
    if kind == "expression":
        try:
            return free_names(parse_expression(text)), None
        except ParseError as err:
            return {}, _syntax(kind, err)
    if kind == "code":
        try:
            return free_names(parse_code(text)), None
        except ParseError as err:
            return {}, _syntax(kind, err)
    try:
        parts = template_parts(text)
    except TemplateError as err:
        return {}, f"invalid template: {err}"
    names: dict[str, tuple[int, int]] = {}
    for part in parts:
        if part.kind != "expr":
            continue
        try:
            found = free_names(parse_expression(part.text))
        except ParseError as err:
            return {}, _syntax(kind, err, column_base=part.offset)
        for name, where in found.items():
            names.setdefault(name, where)
    return names, None


# Names an agent's tool fields and hooks see besides the node's scope (bound by the guest's agent loop).
AGENT_NAMES = {
    "tool": frozenset({"args"}),
    "before_tool": frozenset({"tool", "args"}),
    "after_tool": frozenset({"tool", "args", "result"}),
}


class Scope:
    """What a node's expressions may name."""

    def __init__(
        self, a: Analysis, ref: NodeRef, *, body_of: str | None = None, extra: frozenset[str] = frozenset()
    ) -> None:
        self.a, self.ref = a, ref
        self.extra = extra
        self.node_id = ref.id or ""
        self.bits = a.ancestors.get(self.node_id, 0)
        in_map = "/config/body/" in ref.pointer  # also when the enclosing map's own id is broken
        if body_of is not None:  # a map's `result`: the whole body plus the map's upstream
            self.bits |= a.body.get(body_of, 0)
            in_map = True
        self.in_map = in_map
        self.sees_error = self.node_id in a.error_scope

    def names(self) -> list[str]:
        fixed = ["input"] + (["item", "index"] if self.in_map else []) + (["error"] if self.sees_error else [])
        return fixed + sorted(self.extra) + self.a.ids(self.bits)

    def problem(self, name: str) -> tuple[str, str] | None:
        """(message, code) when ``name`` is not readable here, else None."""
        if name == "input" or (self.in_map and name in ("item", "index")) or (self.sees_error and name == "error"):
            return None
        if name in self.extra:
            return None
        bit = self.a.bits.get(name)
        if bit is not None:
            if (self.bits >> bit) & 1:
                return None
            return f"node '{name}' is not upstream of '{self.node_id}'", "not_upstream"
        if name in ("item", "index"):
            return f"'{name}' is only available inside a map body", "not_in_scope"
        if name == "error":
            return "'error' is only available in the error handler and the nodes after it", "not_in_scope"
        if name == "secrets":
            return "secrets cannot be read by expressions; use an http auth with a secret name", "not_in_scope"
        if name in rules.RESERVED_NAMES:
            return f"'{name}' is reserved and not available in expressions", "not_in_scope"
        if name in BUILTINS:
            return None
        names = self.names()
        listed = ", ".join(names[:MAX_LISTED]) + (", ..." if len(names) > MAX_LISTED else "")
        return f"unknown name '{name}' (in scope: {listed})", "unknown_name"


def check_node(a: Analysis, ref: NodeRef) -> list[Problem]:
    """All non-schema checks of one structurally valid node."""
    node = ref.node
    assert node is not None
    out: list[Problem] = []
    ntype = node["type"]
    if node.get("retry") is not None and ntype not in RETRY_TYPES:
        out.append(
            Problem(
                f"{ref.pointer}/retry",
                f"retry is only allowed on nodes that call the outside world ({', '.join(RETRY_TYPES)}); this is a {ntype} node",
                "retry_not_allowed",
                ref.id,
            )
        )
    config = node["config"]
    scope = Scope(a, ref)
    scopes: dict[str, Scope] = {}

    def scope_for(special: str | None) -> Scope:
        if special is None:
            return scope
        if special not in scopes:
            if special == "body":
                scopes[special] = Scope(a, ref, body_of=ref.id)
            else:
                scopes[special] = Scope(a, ref, extra=AGENT_NAMES[special])
        return scopes[special]

    texts = list(text_fields(CONFIGS[ntype], config, f"{ref.pointer}/config"))
    if ntype == "agent":
        texts += list(_agent_texts(config, f"{ref.pointer}/config"))
    for pointer, kind, text, special in texts:
        names, error = parse_text(kind, text)
        if error:
            out.append(Problem(pointer, error, "syntax_error", ref.id))
            continue
        use = scope_for(special)
        for name in names:
            issue = use.problem(name)
            if issue:
                out.append(Problem(pointer, issue[0], issue[1], ref.id))
    if ntype == "http.request":
        out += _check_http(ref, config)
    elif ntype == "agent":
        out += _check_agent(ref, config)
    elif ntype == "wait" and config.get("until") is not None:
        until = config["until"]
        if "{{" not in until:
            message = rules.iso_timestamp_problem(until)
            if message:
                out.append(Problem(f"{ref.pointer}/config/until", f"'until' {message}", "bad_timestamp", ref.id))
    return out


def _agent_texts(config: dict[str, Any], pointer: str) -> Iterator[tuple[str, str, str, str | None]]:
    """The agent's user text that the schema cannot mark: fixed arguments that are strings (templates over the
    node's scope) and approval expressions (over args)."""
    for i, tool in enumerate(config.get("tools") or []):
        here = f"{pointer}/tools/{i}"
        for key, value in (tool.get("fixed") or {}).items():
            if isinstance(value, str):
                yield f"{here}/fixed/{escape(key)}", "template", value, None
        if tool.get("approval") not in APPROVAL_WORDS:
            yield f"{here}/approval", "expression", tool["approval"], "tool"


def _check_agent(ref: NodeRef, config: dict[str, Any]) -> list[Problem]:
    """Tool argument schemas are JSON Schemas of objects, fixed arguments are not also the model's, each HTTP
    tool has a literal host (the host enforces it), and the output schema uses what the guest can check."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    out: list[Problem] = []
    base = f"{ref.pointer}/config"
    for i, tool in enumerate(config.get("tools") or []):
        here = f"{base}/tools/{i}"
        params = tool.get("parameters")
        try:
            if not isinstance(params, dict) or params.get("type") != "object":
                raise SchemaError('must be a JSON Schema with "type": "object"')
            Draft202012Validator.check_schema(params)
        except SchemaError as exc:
            out.append(
                Problem(f"{here}/parameters", f"is not a valid JSON Schema: {exc.message}", "bad_schema", ref.id)
            )
            params = {}
        props = params.get("properties") if isinstance(params.get("properties"), dict) else {}
        for key in tool.get("fixed") or {}:
            if key in props:
                out.append(
                    Problem(
                        f"{here}/fixed/{escape(key)}",
                        f"'{key}' is both fixed and a parameter the model decides; remove it from one of them",
                        "fixed_and_parameter",
                        ref.id,
                    )
                )
        http = tool.get("http")
        if http is not None:
            message = url_problem(http["url"], [])
            if message and message[1] == "dynamic_host":
                message = (
                    "a tool's URL must have a literal host (the host allows this tool that host only)",
                    "dynamic_host",
                )
            if message:
                out.append(Problem(f"{here}/http/url", message[0], message[1], ref.id))
            for name, value in http["headers"].items():
                if name.lower() in SENSITIVE_HEADERS and value.strip() and "{{" not in value:
                    out.append(
                        Problem(
                            f"{here}/http/headers/{escape(name)}",
                            f"the {name} header has a literal value; use auth with a secret name",
                            "literal_secret",
                            ref.id,
                        )
                    )
    output = config.get("output") or {}
    if output.get("type") == "json":
        from app.dsl.outschema import schema_problems

        for where, message in schema_problems(output.get("schema")):
            out.append(Problem(f"{base}/output/schema{where}", message, "bad_schema", ref.id))
    return out


def _check_http(ref: NodeRef, config: dict[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    for name, value in config["headers"].items():
        if name.lower() in SENSITIVE_HEADERS and value.strip() and "{{" not in value:
            out.append(
                Problem(
                    f"{ref.pointer}/config/headers/{escape(name)}",
                    f"the {name} header has a literal value; use auth with a secret name so the credential is not stored in the workflow",
                    "literal_secret",
                    ref.id,
                )
            )
    message = url_problem(config["url"], config["allowed_hosts"])
    if message:
        out.append(Problem(f"{ref.pointer}/config/url", message[0], message[1], ref.id))
    return out


def url_problem(url: str, allowed_hosts: list[str]) -> tuple[str, str] | None:
    """Why a URL template is not acceptable: not http(s), no host, or a computed host without allowed_hosts."""
    try:
        parts = template_parts(url)
    except TemplateError:
        return None  # reported as a template error already
    prefix = ""
    for part in parts:
        if part.kind != "text":
            break
        prefix += part.text
    literal = all(p.kind == "text" for p in parts)
    scheme, sep, rest = prefix.partition("://")
    if not sep:
        if literal or prefix:
            return "the URL must start with http:// or https://", "bad_url"
        return _dynamic_host(allowed_hosts)
    if scheme.lower() not in ("http", "https"):
        return f"the URL must start with http:// or https://, not {scheme}://", "bad_url"
    host_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=-1)
    if host_end < 0 and not literal:
        return _dynamic_host(allowed_hosts)
    authority = rest if host_end < 0 else rest[:host_end]
    host = authority.rpartition("@")[2]
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if not host.strip("[]"):
        return "the URL has no host", "bad_url"
    return None


def _dynamic_host(allowed_hosts: list[str]) -> tuple[str, str] | None:
    if allowed_hosts:
        return None
    return (
        "the URL's host is computed by an expression; list the hosts it may reach in 'allowed_hosts'",
        "dynamic_host",
    )


def check_nodes(a: Analysis, refs: list[NodeRef]) -> list[Problem]:
    out: list[Problem] = []
    for ref in refs:
        if ref.node is not None and ref.node["type"] in NODE_TYPES:
            out += check_node(a, ref)
    return out
