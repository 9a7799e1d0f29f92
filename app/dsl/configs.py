"""One marshmallow config schema per node type (see schema.NODE_TYPES for the table that names them).

String fields holding user text are built with ``expr``/``template``/``code`` metadata so the expression
checks and the JSON Schema export find them without a second list.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validates_schema

from app.dsl import rules
from app.dsl.builders import (
    MAX_TEXT,
    Strict,
    describe,
    duration,
    expr,
    nested_default,
    secret_name,
    template,
    template_map,
)
from app.dsl.fields import (
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

HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
MAX_BODY_NODES = 5000


class ManualConfig(Strict):
    pass


class SignatureSchema(Strict):
    secret = secret_name("secret used to check the HMAC signature of each request")
    header = JStr(
        load_default="X-Signature",
        validate=[Pattern(rules.HEADER_RE, "a header name")],
        metadata=describe("header carrying the HMAC"),
    )
    timestamp_header = JStr(
        load_default="X-Timestamp",
        validate=[Pattern(rules.HEADER_RE, "a header name")],
        metadata=describe("header carrying the signed timestamp"),
    )
    tolerance_seconds = JInt(
        load_default=300, validate=[Range(1, 86400)], metadata=describe("how old a signed request may be")
    )


class WebhookConfig(Strict):
    method = JStr(
        load_default="POST",
        validate=[OneOf(["GET", "POST", "PUT", "PATCH", "DELETE"])],
        metadata=describe("accepted HTTP method"),
    )
    respond = JStr(
        load_default="immediately",
        validate=[OneOf(["immediately", "respond_node"])],
        metadata=describe('"immediately": 202 at once; "respond_node": a respond node answers'),
    )
    signature = JNested(
        SignatureSchema, load_default=None, allow_none=True, metadata=describe("HMAC signature check; null for none")
    )


class ScheduleConfig(Strict):
    cron = JStr(
        required=True,
        validate=[Func(rules.cron_problem, "bad_cron")],
        metadata=describe("5-field cron, e.g. 0 9 * * 1-5"),
    )
    timezone = JStr(
        load_default="UTC", validate=[Func(rules.timezone_problem, "bad_timezone")], metadata=describe("IANA zone")
    )


class BearerAuth(Strict):
    type = JStr(required=True, validate=[OneOf(["bearer"])], metadata=describe("Authorization: Bearer <secret>"))
    secret = secret_name()


class BasicAuth(Strict):
    type = JStr(required=True, validate=[OneOf(["basic"])], metadata=describe("HTTP basic auth"))
    username = template("user name", required=True)
    secret = secret_name("secret holding the password")


class HeaderAuth(Strict):
    type = JStr(required=True, validate=[OneOf(["header"])], metadata=describe("the secret in a header of your choice"))
    header = JStr(
        load_default="X-Api-Key",
        validate=[Pattern(rules.HEADER_RE, "a header name")],
        metadata=describe("header that carries the secret"),
    )
    secret = secret_name()


class HttpConfig(Strict):
    method = JStr(load_default="GET", validate=[OneOf(HTTP_METHODS)], metadata=describe("HTTP method"))
    url = template("http(s) URL; expressions may fill in path and query", required=True)
    headers = template_map("request headers (templates)")
    query = template_map("query parameters (templates)")
    body = expr("request body (JSON-encoded); null for none", load_default=None, allow_none=True)
    auth = Tagged(
        "type",
        {"bearer": BearerAuth, "basic": BasicAuth, "header": HeaderAuth},
        load_default=None,
        allow_none=True,
        metadata=describe("credential injected by the host from a named secret"),
    )
    timeout_seconds = JNum(load_default=30, validate=[Range(0.1, 300)], metadata=describe("per attempt"))
    expect_status = JList(
        StatusItem(),
        load_default=lambda: ["2xx"],
        validate=[Length(1, None, unit="items")],
        metadata=describe("statuses that count as success"),
    )
    allowed_hosts = JList(
        JStr(validate=[Pattern(rules.HOST_RE, "a lowercase host name like api.example.com", code="bad_host")]),
        load_default=list,
        metadata=describe("hosts a computed URL may reach; required when the URL's host is an expression"),
    )
    response = JStr(
        load_default="auto",
        validate=[OneOf(["auto", "json", "text"])],
        metadata=describe("how to read the body; auto = by Content-Type"),
    )
    idempotency = JStr(
        load_default="key",
        validate=[OneOf(["key", "none"])],
        metadata=describe(
            "key: the server deduplicates by Idempotency-Key, so an unknown outcome is retried with the same key; "
            "none: it does not, so a POST/PATCH whose outcome is unknown stops the run for an operator"
        ),
    )


def _unique_in(data: dict[str, Any], items: str, key: str, message: str, code: str) -> None:
    """Each of ``data[items]`` has its own ``key``: a repeat is named at its index and field."""
    seen: set[str] = set()
    errors: dict[int, Any] = {}
    for i, item in enumerate(data.get(items) or []):
        if item[key] in seen:
            errors[i] = {key: [Msg(message.format(item[key]), code)]}
        seen.add(item[key])
    if errors:
        raise ValidationError({items: errors})


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
        metadata=describe("Python statements (a function body); its return value is the output", **{KIND: "code"}),
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
        metadata=describe("output port taken when this case wins"),
    )
    when = expr("first truthy case wins", required=True)


class SwitchConfig(Strict):
    cases = JList(
        JNested(CaseSchema),
        required=True,
        validate=[Length(1, 50, unit="cases")],
        metadata=describe("checked in order; none true -> default"),
    )

    @validates_schema
    def _unique(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique_in(data, "cases", "port", "repeats the port '{}' of an earlier case", "duplicate_port")


class BodySchema(Strict):
    nodes = JList(
        JRaw(),
        required=True,
        validate=[Length(1, MAX_BODY_NODES, unit="nodes")],
        metadata=describe("body nodes", items="node"),
    )
    edges = JList(JRaw(), load_default=list, metadata=describe("edges between body nodes", items="edge"))


class MapConfig(Strict):
    items = expr("a list to iterate over", required=True)
    concurrency = JInt(load_default=1, validate=[Range(1, 64)], metadata=describe("items processed at once"))
    body = JNested(BodySchema, required=True, metadata=describe("sub-graph run once per item; sees item and index"))
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
    timeout_action = JStr(
        load_default="reject",
        validate=[OneOf(["reject", "approve", "fail"])],
        metadata=describe("what a timeout means"),
    )
    approvers = JList(
        JStr(validate=[Length(1, 200)]), load_default=list, metadata=describe("who may decide; empty = anyone")
    )


def _namespace() -> JStr:
    return JStr(
        required=True,
        validate=[Pattern(rules.NAMESPACE_RE, "a namespace like counters")],
        metadata=describe("store namespace"),
    )


class KvGetConfig(Strict):
    namespace = _namespace()
    key = template("key to read", required=True)
    default = JRaw(load_default=None, allow_none=True, metadata=describe("value when the key is not set"))


class KvSetConfig(Strict):
    namespace = _namespace()
    key = template("key to write", required=True)
    value = expr("value to store (JSON)", required=True)
    ttl_seconds = JInt(
        load_default=None, allow_none=True, validate=[Range(1, None)], metadata=describe("expiry; null keeps the value")
    )


class SubflowConfig(Strict):
    workflow = JStr(
        required=True,
        validate=[Pattern(rules.NAME_RE, "a workflow name like order-sync")],
        metadata=describe("name of the workflow to run"),
    )
    input = expr("input of the child run", load_default="input")
    wait = JBool(load_default=True, metadata=describe("wait for the child's output"))


class RespondConfig(Strict):
    status = JInt(load_default=200, validate=[Range(100, 599)], metadata=describe("HTTP status"))
    headers = template_map("response headers (templates)")
    body = expr("response body (JSON); null for none", load_default=None, allow_none=True)


class FailConfig(Strict):
    message = template("error message", required=True)
    code = JStr(
        load_default="workflow_failed",
        validate=[Pattern(rules.CODE_RE, "an error code like invalid_lead")],
        metadata=describe("error code of the failed run"),
    )


# --- the agent node (docs/agents.md) --------------------------------------------------------------------

TOOL_NAME_RE = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"  # OpenAI's rule for function names, starting with a letter
MAX_TOOLS = 32
APPROVAL_WORDS = ("never", "always")


def _base_url_problem(url: str) -> str | None:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        return "must be an absolute http:// or https:// URL, e.g. https://api.openai.com/v1"
    if "{{" in url:
        return "must be a literal URL (the host is granted at compile time)"
    authority = rest.split("/", 1)[0]
    if not authority or "@" in authority:
        return "must name a host and carry no credentials (the key comes from api_key_secret)"
    if "?" in url or "#" in url:
        return "must not have a query or fragment"
    return None


class PricesSchema(Strict):
    input_per_million = JNum(
        required=True, validate=[Range(0, None)], metadata=describe("USD per million input tokens")
    )
    output_per_million = JNum(
        required=True, validate=[Range(0, None)], metadata=describe("USD per million output tokens")
    )


class ModelSchema(Strict):
    base_url = JStr(
        required=True,
        validate=[Func(_base_url_problem, "bad_url")],
        metadata=describe("OpenAI-compatible API base, e.g. https://api.openai.com/v1 or http://localhost:11434/v1"),
    )
    model = JStr(required=True, validate=[Length(1, 200)], metadata=describe("model name, e.g. gpt-4o-mini"))
    api_key_secret = JStr(
        load_default=None,
        allow_none=True,
        validate=[Pattern(rules.SECRET_RE, "a secret name like OPENAI_API_KEY")],
        metadata=describe("secret holding the API key; the host sends it, the workflow never sees it"),
    )
    temperature = JNum(load_default=None, allow_none=True, validate=[Range(0, 2)], metadata=describe("0..2"))
    max_output_tokens = JInt(
        load_default=None, allow_none=True, validate=[Range(1, 1_000_000)], metadata=describe("per turn")
    )
    prices = JNested(
        PricesSchema, load_default=None, allow_none=True, metadata=describe("for the cost estimate; null: no cost")
    )
    stream = JBool(load_default=True, metadata=describe("stream the answer (tokens show live)"))


class ToolHttpSchema(Strict):
    method = JStr(load_default="GET", validate=[OneOf(HTTP_METHODS)], metadata=describe("HTTP method"))
    url = template(
        "http(s) URL with a literal host; {{ args['...'] }} fills in path and query", required=True, scope="tool"
    )
    headers = template_map("request headers (templates)", scope="tool")
    query = template_map("query parameters (templates)", scope="tool")
    body = expr("request body (JSON), e.g. args; null for none", load_default=None, allow_none=True, scope="tool")
    auth = Tagged(
        "type",
        {"bearer": BearerAuth, "basic": BasicAuth, "header": HeaderAuth},
        load_default=None,
        allow_none=True,
        metadata=describe("credential injected by the host from a named secret"),
    )
    timeout_seconds = JNum(load_default=30, validate=[Range(0.1, 300)], metadata=describe("per call"))


class ToolSubflowSchema(Strict):
    workflow = JStr(
        required=True,
        validate=[Pattern(rules.NAME_RE, "a workflow name like order-sync")],
        metadata=describe("deployed workflow the tool runs"),
    )
    input = expr("input of the child run", load_default="args", scope="tool")


class ToolKvSchema(Strict):
    op = JStr(required=True, validate=[OneOf(["get", "set"])], metadata=describe("read or write"))
    namespace = _namespace()
    key = template("key", required=True, scope="tool")
    value = expr("value to store (op set)", load_default=None, allow_none=True, scope="tool")
    ttl_seconds = JInt(load_default=None, allow_none=True, validate=[Range(1, None)], metadata=describe("expiry"))

    @validates_schema
    def _value(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("op") == "set" and data.get("value") is None:
            raise ValidationError({"value": [Msg("is required when op is set", "required")]})
        if data.get("op") == "get" and data.get("value") is not None:
            raise ValidationError({"value": [Msg("is only for op set", "not_allowed")]})


TOOL_KINDS = ("http", "subflow", "kv")


class ToolSchema(Strict):
    name = JStr(
        required=True,
        validate=[Pattern(TOOL_NAME_RE, "a tool name like lookup_order: letters, digits, _ and -")],
        metadata=describe("name the model calls"),
    )
    description = JStr(
        required=True, validate=[Length(1, 2000)], metadata=describe("what the tool does, for the model")
    )
    parameters = JRaw(
        load_default=lambda: {"type": "object", "properties": {}},
        metadata=describe("JSON Schema (an object) of the arguments the model decides"),
    )
    fixed = JDict(
        keys=JStr(validate=[Length(1, 64)]),
        values=JRaw(),
        load_default=dict,
        metadata=describe("arguments you set yourself (strings are templates); the model cannot change them"),
    )
    http = JNested(ToolHttpSchema, load_default=None, allow_none=True, metadata=describe("the tool calls an HTTP API"))
    subflow = JNested(
        ToolSubflowSchema, load_default=None, allow_none=True, metadata=describe("the tool runs a deployed workflow")
    )
    kv = JNested(ToolKvSchema, load_default=None, allow_none=True, metadata=describe("the tool reads or writes kv"))
    approval = JStr(
        load_default="never",
        validate=[Length(1, MAX_TEXT)],
        metadata=describe('"never", "always", or a Python expression over args: true asks a person first'),
    )
    approval_timeout = duration("how long a person has to decide (then: rejected)", load_default="24h")
    max_calls = JInt(
        load_default=None, allow_none=True, validate=[Range(1, 1000)], metadata=describe("per run of the node")
    )

    @validates_schema
    def _one_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        given = [k for k in TOOL_KINDS if data.get(k) is not None]
        if len(given) != 1:
            what = f"{' and '.join(given)} are set" if given else "none is set"
            raise fail(f"needs exactly one of {', '.join(TOOL_KINDS)} (what the tool does); {what}", "one_of")


class HooksSchema(Strict):
    before_tool = expr(
        "before each tool call, sees tool and args: None/True go on, False or a string veto, an object replaces args",
        load_default=None,
        allow_none=True,
        scope="before_tool",
    )
    after_tool = expr(
        "after each tool call, sees tool, args and result: a value other than None replaces the result",
        load_default=None,
        allow_none=True,
        scope="after_tool",
    )


class LimitsSchema(Strict):
    max_turns = JInt(load_default=10, validate=[Range(1, 100)], metadata=describe("model calls per run of the node"))
    max_tool_calls = JInt(load_default=20, validate=[Range(0, 1000)], metadata=describe("tool calls in all"))
    max_tokens = JInt(
        load_default=None, allow_none=True, validate=[Range(1, None)], metadata=describe("input + output tokens in all")
    )
    timeout = duration("wall clock for the whole agent", load_default="10m")


class OutputSchema(Strict):
    type = JStr(
        load_default="text", validate=[OneOf(["text", "json"])], metadata=describe("text, or JSON checked by schema")
    )
    schema = JRaw(load_default=None, allow_none=True, metadata=describe("JSON Schema of the answer (type json)"))
    max_repairs = JInt(load_default=2, validate=[Range(0, 5)], metadata=describe("re-asks on an invalid answer"))

    @validates_schema
    def _schema(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("type") == "json" and data.get("schema") is None:
            raise ValidationError({"schema": [Msg("is required when type is json", "required")]})


class AgentConfig(Strict):
    model = JNested(ModelSchema, required=True, metadata=describe("the model connection"))
    instructions = template("system instructions (template)", load_default="")
    prompt = template("the task (template over upstream data)", required=True)
    tools = JList(
        JNested(ToolSchema),
        load_default=list,
        validate=[Length(0, MAX_TOOLS, unit="tools")],
        metadata=describe("what the agent may do; nothing else is possible"),
    )
    hooks = JNested(
        HooksSchema, load_default=nested_default(HooksSchema), metadata=describe("checks around tool calls")
    )
    limits = JNested(LimitsSchema, load_default=nested_default(LimitsSchema), metadata=describe("budgets"))
    output = JNested(OutputSchema, load_default=nested_default(OutputSchema), metadata=describe("answer format"))

    @validates_schema
    def _unique(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique_in(data, "tools", "name", "repeats the tool name '{}'", "duplicate_tool")
