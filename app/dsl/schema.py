"""The DSL v1 document schemas (marshmallow) and the node type table.

This package's single source of the document shape: the loader validates with it, the JSON Schema export
walks it, and the expression checks find expression/template/code fields through field metadata. Node and
edge lists load as raw lists; the loader (loader.py) loads each item on its own so one broken node does not
hide the others. Per-type config schemas live in configs.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import Schema

from app.dsl import rules
from app.dsl.builders import Strict, describe, nested_default
from app.dsl.configs import (
    AgentConfig,
    ApprovalConfig,
    BranchConfig,
    FailConfig,
    HttpConfig,
    KvGetConfig,
    KvSetConfig,
    ManualConfig,
    MapConfig,
    RespondConfig,
    ScheduleConfig,
    SubflowConfig,
    SwitchConfig,
    TransformConfig,
    WaitConfig,
    WebhookConfig,
)
from app.dsl.fields import Func, JBool, JDict, JInt, JList, JNested, JNum, JRaw, JStr, Length, OneOf, Pattern, Range

DSL_VERSION = "wasmflow/1"
MAX_NODES = 5000
RETRY_ON = ["4xx", "5xx", "429", "timeout", "network", "any"]


# --- document level -----------------------------------------------------------------------------------


class SettingsSchema(Strict):
    timeout_seconds = JInt(
        load_default=300,
        validate=[Range(1, 31_536_000)],
        metadata=describe("wall clock limit of a run, waits excluded"),
    )
    memory_mb = JInt(load_default=256, validate=[Range(16, 4096)], metadata=describe("guest memory cap"))
    error_handler = JStr(
        load_default=None,
        allow_none=True,
        metadata=describe("id of a top-level node that runs when the run fails; it sees `error`"),
    )


class PositionSchema(Strict):
    x = JNum(required=True, metadata=describe("horizontal position in the editor"))
    y = JNum(required=True, metadata=describe("vertical position in the editor"))


class BackoffSchema(Strict):
    initial_seconds = JNum(
        load_default=1, validate=[Range(0, 3600, lo_exclusive=True)], metadata=describe("wait before the first retry")
    )
    multiplier = JNum(
        load_default=2, validate=[Range(1, 10)], metadata=describe("each wait is this many times the previous")
    )
    max_seconds = JNum(
        load_default=300,
        validate=[Range(0, 86400, lo_exclusive=True)],
        metadata=describe("longest wait between attempts"),
    )
    jitter = JBool(load_default=True, metadata=describe("randomize waits so retries do not arrive together"))


class RetrySchema(Strict):
    max_attempts = JInt(load_default=3, validate=[Range(1, 20)], metadata=describe("1 means no retry"))
    backoff = JNested(
        BackoffSchema, load_default=nested_default(BackoffSchema), metadata=describe("waits between attempts")
    )
    retry_on = JList(
        JStr(validate=[OneOf(RETRY_ON)]),
        load_default=lambda: ["5xx", "429", "timeout", "network"],
        validate=[Length(1, None, unit="items")],
        metadata=describe("which failures are retried"),
    )


class NodeSchema(Strict):
    id = JStr(
        required=True,
        validate=[
            Pattern(rules.NODE_ID_RE, "a node id: lowercase letters, digits and _, starting with a letter"),
            Func(rules.node_id_problem, "reserved_name"),
        ],
        metadata=describe("unique across the document; expressions refer to this node's output by it"),
    )
    type = JStr(required=True, metadata=describe("node type"))  # checked against NODE_TYPES by the loader
    title = JStr(
        load_default=None, allow_none=True, validate=[Length(None, 200)], metadata=describe("label in the editor")
    )
    notes = JStr(
        load_default="", validate=[Length(None, 5000)], metadata=describe("editor sticky note; not part of the digest")
    )
    config = JDict(load_default=dict, metadata=describe("per node type"))
    position = JNested(PositionSchema, load_default=None, allow_none=True, metadata=describe("editor only"))
    retry = JNested(
        RetrySchema,
        load_default=None,
        allow_none=True,
        metadata=describe("retry policy; only on http.request, kv.get, kv.set, subflow"),
    )
    on_error = JStr(
        load_default="fail",
        validate=[OneOf(["fail", "continue", "route"])],
        metadata=describe(
            'after retries: fail the run, continue with {"error": ...} as output, or follow the "error" port'
        ),
    )


EdgeSchema = Strict.from_dict(
    {
        "from": JStr(required=True, metadata=describe("id of the source node")),
        "to": JStr(required=True, metadata=describe("id of the target node")),
        "port": JStr(
            load_default="out",
            metadata=describe('output port of the source node: "out", "true", "error", a case port...'),
        ),
    },
    name="EdgeSchema",
)


class DocumentSchema(Strict):
    dsl = JStr(required=True, validate=[OneOf([DSL_VERSION])])
    name = JStr(
        required=True, validate=[Pattern(rules.NAME_RE, "a name like order-sync: lowercase letters, digits and -")]
    )
    title = JStr(
        load_default=None, allow_none=True, validate=[Length(None, 200)], metadata=describe("defaults to name")
    )
    description = JStr(load_default="", validate=[Length(None, 5000)])
    inputs = JDict(load_default=None, allow_none=True, metadata=describe("JSON Schema of the run input"))
    settings = JNested(SettingsSchema, load_default=nested_default(SettingsSchema))
    nodes = JList(JRaw(), required=True, validate=[Length(1, MAX_NODES, unit="nodes")], metadata={"items": "node"})
    edges = JList(JRaw(), load_default=list, metadata={"items": "edge"})


# --- node types ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeType:
    """What the editor palette and the compiler need to know about one node type."""

    name: str
    category: str  # trigger | action | logic | data | flow | ai
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
    NodeType(
        "agent",
        "ai",
        "An AI agent: a model that may call the tools you give it, and nothing else.",
        AgentConfig,
        '{"output", "text", "model", "turns", "tool_calls", "usage", "cost_usd"}',
        calls_outside=True,
    ),
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
