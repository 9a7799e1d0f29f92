"""The DSL v1 schemas (marshmallow): document, settings, node, edge, retry and one config schema per node type.

This module is the single source of the document shape: the loader validates with it, the JSON Schema
export walks it, and the expression checks find expression/template/code fields through field metadata.
Node and edge lists load as raw lists here; the loader (loader.py) loads each item on its own so one broken
node does not hide the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, validates_schema

from app.dsl import rules
from app.dsl.fields import (
    DESCRIPTION,
    KIND,
    Func,
    JBool,
    JDict,
    JInt,
    JList,
    JNested,
    JNum,
    JRaw,
    JStr,
    Length,
    Msg,
    OneOf,
    Pattern,
    Range,
    StatusItem,
    Tagged,
    fail,
)

DSL_VERSION = "wasmflow/1"
MAX_NODES = 5000
MAX_TEXT = 100_000  # one expression, template or code block

HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
RETRY_ON = ["4xx", "5xx", "429", "timeout", "network", "any"]


def _d(text: str, **extra: Any) -> dict[str, Any]:
    return {DESCRIPTION: text, **extra}


def expr(text: str, *, scope: str | None = None, **kw: Any) -> JStr:
    meta = _d(text, **{KIND: "expression"})
    if scope:
        meta["x-wasmflow-scope"] = scope  # "body": evaluated in the map body's scope
    return JStr(validate=[Length(1, MAX_TEXT)], metadata=meta, **kw)


def template(text: str, **kw: Any) -> JStr:
    return JStr(validate=[Length(None, MAX_TEXT)], metadata=_d(text, **{KIND: "template"}), **kw)


def template_map(text: str) -> JDict:
    return JDict(
        keys=JStr(validate=[Pattern(rules.HEADER_RE, "a header or parameter name")]),
        values=JStr(validate=[Length(None, MAX_TEXT)]),
        load_default=dict,
        metadata=_d(text, **{KIND: "template"}),
    )


def secret_name(text: str = "name of a secret stored on the server; the value never enters the workflow") -> JStr:
    return JStr(required=True, validate=[Pattern(rules.SECRET_RE, "a secret name like ERP_TOKEN")], metadata=_d(text))


def duration(text: str, **kw: Any) -> JStr:
    return JStr(
        validate=[Func(rules.duration_problem, "bad_duration", pattern=rules.DURATION_RE)], metadata=_d(text), **kw
    )


class Strict(Schema):
    """Unknown fields are errors; messages are predicates the loader prefixes with the field name."""

    error_messages = {"type": "must be an object", "unknown": "is not a known field"}

    class Meta:
        unknown = RAISE


def nested_default(schema: type[Schema]) -> Any:
    return lambda: schema().load({})


# --- document level -----------------------------------------------------------------------------------


class SettingsSchema(Strict):
    timeout_seconds = JInt(
        load_default=300, validate=[Range(1, 31_536_000)], metadata=_d("wall clock limit of a run, waits excluded")
    )
    memory_mb = JInt(load_default=256, validate=[Range(16, 4096)], metadata=_d("guest memory cap"))
    error_handler = JStr(
        load_default=None,
        allow_none=True,
        metadata=_d("id of a top-level node that runs when the run fails; it sees `error`"),
    )


class PositionSchema(Strict):
    x = JNum(required=True)
    y = JNum(required=True)


class BackoffSchema(Strict):
    initial_seconds = JNum(load_default=1, validate=[Range(0, 3600, lo_exclusive=True)])
    multiplier = JNum(load_default=2, validate=[Range(1, 10)])
    max_seconds = JNum(load_default=300, validate=[Range(0, 86400, lo_exclusive=True)])
    jitter = JBool(load_default=True)


class RetrySchema(Strict):
    max_attempts = JInt(load_default=3, validate=[Range(1, 20)], metadata=_d("1 means no retry"))
    backoff = JNested(BackoffSchema, load_default=nested_default(BackoffSchema))
    retry_on = JList(
        JStr(validate=[OneOf(RETRY_ON)]),
        load_default=lambda: ["5xx", "429", "timeout", "network"],
        validate=[Length(1, None, unit="items")],
    )


class NodeSchema(Strict):
    id = JStr(
        required=True,
        validate=[
            Pattern(rules.NODE_ID_RE, "a node id: lowercase letters, digits and _, starting with a letter"),
            Func(rules.node_id_problem, "reserved_name"),
        ],
        metadata=_d("unique across the document; expressions refer to this node's output by it"),
    )
    type = JStr(required=True, metadata=_d("node type"))  # checked against NODE_TYPES by the loader
    title = JStr(load_default=None, allow_none=True, validate=[Length(None, 200)])
    notes = JStr(
        load_default="", validate=[Length(None, 5000)], metadata=_d("editor sticky note; not part of the digest")
    )
    config = JDict(load_default=dict, metadata=_d("per node type"))
    position = JNested(PositionSchema, load_default=None, allow_none=True, metadata=_d("editor only"))
    retry = JNested(RetrySchema, load_default=None, allow_none=True)
    on_error = JStr(load_default="fail", validate=[OneOf(["fail", "continue", "route"])])


EdgeSchema = Strict.from_dict(
    {
        "from": JStr(required=True, metadata=_d("id of the source node")),
        "to": JStr(required=True, metadata=_d("id of the target node")),
        "port": JStr(
            load_default="out", metadata=_d('output port of the source node: "out", "true", "error", a case port...')
        ),
    },
    name="EdgeSchema",
)


class DocumentSchema(Strict):
    dsl = JStr(required=True, validate=[OneOf([DSL_VERSION])])
    name = JStr(
        required=True, validate=[Pattern(rules.NAME_RE, "a name like order-sync: lowercase letters, digits and -")]
    )
    title = JStr(load_default=None, allow_none=True, validate=[Length(None, 200)], metadata=_d("defaults to name"))
    description = JStr(load_default="", validate=[Length(None, 5000)])
    inputs = JDict(load_default=None, allow_none=True, metadata=_d("JSON Schema of the run input"))
    settings = JNested(SettingsSchema, load_default=nested_default(SettingsSchema))
    nodes = JList(JRaw(), required=True, validate=[Length(1, MAX_NODES, unit="nodes")], metadata={"items": "node"})
    edges = JList(JRaw(), load_default=list, metadata={"items": "edge"})


# --- node configs -------------------------------------------------------------------------------------


class ManualConfig(Strict):
    pass


class SignatureSchema(Strict):
    secret = secret_name("secret used to check the HMAC signature of each request")
    header = JStr(load_default="X-Signature", validate=[Pattern(rules.HEADER_RE, "a header name")])
    timestamp_header = JStr(load_default="X-Timestamp", validate=[Pattern(rules.HEADER_RE, "a header name")])
    tolerance_seconds = JInt(load_default=300, validate=[Range(1, 86400)])


class WebhookConfig(Strict):
    method = JStr(load_default="POST", validate=[OneOf(["GET", "POST", "PUT", "PATCH", "DELETE"])])
    respond = JStr(
        load_default="immediately",
        validate=[OneOf(["immediately", "respond_node"])],
        metadata=_d('"immediately": 202 at once; "respond_node": a respond node answers'),
    )
    signature = JNested(SignatureSchema, load_default=None, allow_none=True)


class ScheduleConfig(Strict):
    cron = JStr(
        required=True, validate=[Func(rules.cron_problem, "bad_cron")], metadata=_d("5-field cron, e.g. 0 9 * * 1-5")
    )
    timezone = JStr(
        load_default="UTC", validate=[Func(rules.timezone_problem, "bad_timezone")], metadata=_d("IANA zone")
    )


class BearerAuth(Strict):
    type = JStr(required=True, validate=[OneOf(["bearer"])])
    secret = secret_name()


class BasicAuth(Strict):
    type = JStr(required=True, validate=[OneOf(["basic"])])
    username = template("user name", required=True)
    secret = secret_name("secret holding the password")


class HeaderAuth(Strict):
    type = JStr(required=True, validate=[OneOf(["header"])])
    header = JStr(load_default="X-Api-Key", validate=[Pattern(rules.HEADER_RE, "a header name")])
    secret = secret_name()


class HttpConfig(Strict):
    method = JStr(load_default="GET", validate=[OneOf(HTTP_METHODS)])
    url = template("http(s) URL; expressions may fill in path and query", required=True)
    headers = template_map("request headers (templates)")
    query = template_map("query parameters (templates)")
    body = expr("request body (JSON-encoded); null for none", load_default=None, allow_none=True)
    auth = Tagged(
        "type",
        {"bearer": BearerAuth, "basic": BasicAuth, "header": HeaderAuth},
        load_default=None,
        allow_none=True,
        metadata=_d("credential injected by the host from a named secret"),
    )
    timeout_seconds = JNum(load_default=30, validate=[Range(0.1, 300)])
    expect_status = JList(
        StatusItem(),
        load_default=lambda: ["2xx"],
        validate=[Length(1, None, unit="items")],
        metadata=_d("statuses that count as success"),
    )
    allowed_hosts = JList(
        JStr(validate=[Pattern(rules.HOST_RE, "a lowercase host name like api.example.com", code="bad_host")]),
        load_default=list,
        metadata=_d("hosts a computed URL may reach; required when the URL's host is an expression"),
    )
    response = JStr(load_default="auto", validate=[OneOf(["auto", "json", "text"])])


def _exactly_one(data: dict[str, Any], names: tuple[str, str]) -> None:
    given = [n for n in names if data.get(n) is not None]
    if len(given) != 1:
        a, b = names
        what = "both are set" if given else "neither is set"
        raise fail(f"needs exactly one of '{a}' or '{b}'; {what}", "one_of")


class TransformConfig(Strict):
    expression = expr("a Python expression; its value is the output", load_default=None, allow_none=True)
    code = JStr(
        load_default=None,
        allow_none=True,
        validate=[Length(1, MAX_TEXT)],
        metadata=_d("Python statements (a function body); its return value is the output", **{KIND: "code"}),
    )

    @validates_schema
    def _one(self, data: dict[str, Any], **kwargs: Any) -> None:
        _exactly_one(data, ("expression", "code"))


class BranchConfig(Strict):
    condition = expr("truthy -> port true, else port false", required=True)


class CaseSchema(Strict):
    port = JStr(
        required=True,
        validate=[
            Pattern(rules.PORT_RE, "a port name: lowercase letters, digits and _"),
            Func(
                lambda p: "must not be 'default', 'error' or 'out'" if p in ("default", "error", "out") else None,
                "reserved_name",
            ),
        ],
    )
    when = expr("first truthy case wins", required=True)


class SwitchConfig(Strict):
    cases = JList(JNested(CaseSchema), required=True, validate=[Length(1, 50, unit="cases")])

    @validates_schema
    def _unique(self, data: dict[str, Any], **kwargs: Any) -> None:
        seen: set[str] = set()
        errors: dict[int, Any] = {}
        for i, case in enumerate(data.get("cases") or []):
            if case["port"] in seen:
                errors[i] = {"port": [Msg(f"repeats the port '{case['port']}' of an earlier case", "duplicate_port")]}
            seen.add(case["port"])
        if errors:
            raise ValidationError({"cases": errors})


class BodySchema(Strict):
    nodes = JList(JRaw(), required=True, validate=[Length(1, MAX_NODES, unit="nodes")], metadata={"items": "node"})
    edges = JList(JRaw(), load_default=list, metadata={"items": "edge"})


class MapConfig(Strict):
    items = expr("a list to iterate over", required=True)
    concurrency = JInt(load_default=1, validate=[Range(1, 64)], metadata=_d("items processed at once"))
    body = JNested(BodySchema, required=True, metadata=_d("sub-graph run once per item; sees item and index"))
    result = expr(
        "value per item, evaluated in the body scope; null = output of the body's single end node",
        load_default=None,
        allow_none=True,
        scope="body",
    )


class WaitConfig(Strict):
    duration = duration("how long to wait, e.g. 1h30m", load_default=None, allow_none=True)
    until = template("ISO 8601 timestamp to wait until", load_default=None, allow_none=True)

    @validates_schema
    def _one(self, data: dict[str, Any], **kwargs: Any) -> None:
        _exactly_one(data, ("duration", "until"))


class ApprovalConfig(Strict):
    title = template("what the approver is asked", required=True)
    details = template("more context, shown below the title", load_default="")
    timeout = duration("how long to wait for a decision", load_default="72h")
    timeout_action = JStr(load_default="reject", validate=[OneOf(["reject", "approve", "fail"])])
    approvers = JList(JStr(validate=[Length(1, 200)]), load_default=list, metadata=_d("who may decide; empty = anyone"))


def _namespace() -> JStr:
    return JStr(required=True, validate=[Pattern(rules.NAMESPACE_RE, "a namespace like counters")])


class KvGetConfig(Strict):
    namespace = _namespace()
    key = template("key to read", required=True)
    default = JRaw(load_default=None, allow_none=True, metadata=_d("value when the key is not set"))


class KvSetConfig(Strict):
    namespace = _namespace()
    key = template("key to write", required=True)
    value = expr("value to store (JSON)", required=True)
    ttl_seconds = JInt(load_default=None, allow_none=True, validate=[Range(1, None)])


class SubflowConfig(Strict):
    workflow = JStr(required=True, validate=[Pattern(rules.NAME_RE, "a workflow name like order-sync")])
    input = expr("input of the child run", load_default="input")
    wait = JBool(load_default=True, metadata=_d("wait for the child's output"))


class RespondConfig(Strict):
    status = JInt(load_default=200, validate=[Range(100, 599)])
    headers = template_map("response headers (templates)")
    body = expr("response body (JSON); null for none", load_default=None, allow_none=True)


class FailConfig(Strict):
    message = template("error message", required=True)
    code = JStr(load_default="workflow_failed", validate=[Pattern(rules.CODE_RE, "an error code like invalid_lead")])


# --- node types ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeType:
    """What the editor palette and the compiler need to know about one node type."""

    name: str
    category: str  # trigger | action | logic | data | flow
    summary: str
    config: type[Schema]
    output: str
    ports: tuple[str, ...] = ("out",)  # static ports; switch adds its case ports
    calls_outside: bool = False  # retry allowed

    @property
    def is_trigger(self) -> bool:
        return self.category == "trigger"


_TYPES = [
    NodeType("trigger.manual", "trigger", "Started by hand, the API or the CLI.", ManualConfig, "the run input"),
    NodeType(
        "trigger.webhook",
        "trigger",
        "Started by an HTTP request.",
        WebhookConfig,
        '{"method", "path", "headers", "query", "body"}',
    ),
    NodeType(
        "trigger.schedule", "trigger", "Started on a cron schedule.", ScheduleConfig, '{"scheduled_at": ISO timestamp}'
    ),
    NodeType(
        "http.request", "action", "Calls an HTTP API.", HttpConfig, '{"status", "headers", "body"}', calls_outside=True
    ),
    NodeType("transform", "data", "Computes a value with an expression or code.", TransformConfig, "the value"),
    NodeType("branch", "logic", "Goes to true or false.", BranchConfig, '{"value": bool}', ports=("true", "false")),
    NodeType("switch", "logic", "Goes to the first matching case.", SwitchConfig, '{"port": name}', ports=("default",)),
    NodeType("map", "flow", "Runs a sub-graph for each item of a list.", MapConfig, "a list, one element per item"),
    NodeType("wait", "flow", "Waits for a duration or until a time.", WaitConfig, '{"waited_until": ISO timestamp}'),
    NodeType(
        "approval",
        "flow",
        "Asks a person to approve or reject.",
        ApprovalConfig,
        '{"approved", "decision", "by", "reason", "decided_at"}',
    ),
    NodeType("kv.get", "data", "Reads a stored value.", KvGetConfig, "the stored value or default", calls_outside=True),
    NodeType("kv.set", "data", "Stores a value.", KvSetConfig, '{"key", "value"}', calls_outside=True),
    NodeType("subflow", "flow", "Runs another workflow.", SubflowConfig, "the child's output", calls_outside=True),
    NodeType("respond", "action", "Answers the webhook request.", RespondConfig, "null"),
    NodeType("fail", "flow", "Ends the run with an error.", FailConfig, "none (the run fails)", ports=()),
]
NODE_TYPES: dict[str, NodeType] = {t.name: t for t in _TYPES}
TRIGGER_TYPES = frozenset(t.name for t in _TYPES if t.is_trigger)
RETRY_TYPES = tuple(t.name for t in _TYPES if t.calls_outside)

# Loading reuses one instance per schema (marshmallow schemas are stateless once built).
DOCUMENT = DocumentSchema()
NODE = NodeSchema()
EDGE = EdgeSchema()
CONFIGS: dict[str, Schema] = {t.name: t.config() for t in _TYPES}


def ports_for(node: dict[str, Any]) -> tuple[str, ...]:
    """The output ports of a loaded node: its type's ports, switch case ports, and "error" with on_error route."""
    info = NODE_TYPES.get(node.get("type", ""))
    if info is None:
        return ()
    ports = info.ports
    if info.name == "switch":
        ports = tuple(c["port"] for c in (node.get("config") or {}).get("cases", ())) + ports
    if node.get("on_error") == "route":
        ports += ("error",)
    return ports
