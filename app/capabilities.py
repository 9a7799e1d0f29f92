"""The one table of host functions a workflow component may import.

Everything that crosses the sandbox boundary is declared here once: the WIT world, the generated guest
code, the server host, the browser mock host and the editor palette are all derived from this table.
Each capability is one WIT interface ``wasmflow:host/<interface>`` with a single function
``call: func(request: string) -> result<string, string>``; requests, responses and errors
(``{"code", "message", "retriable"}``) are JSON documents whose shapes are given below as JSON Schema. A component imports only the interfaces its workflow uses,
so its import list *is* its capability set.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

WIT_PACKAGE = "wasmflow:host@1.0.0"


class Effect(enum.Enum):
    """What repeating a call would do; decides how the journal treats it (ARCHITECTURE.md, contract 5)."""

    PURE = "pure"  # no effect outside the run: buffered, committed with the next intent
    IDEMPOTENT_WITH_KEY = "idempotent_with_key"  # carries run_id:seq; retried with the same key after a crash
    NON_IDEMPOTENT = "non_idempotent"  # a crash in flight sends the run to needs_attention


@dataclass(frozen=True)
class Capability:
    name: str  # dotted name used in manifests, journals and the editor: "http.request"
    interface: str  # WIT interface name: "http-request"
    effect: Effect
    summary: str
    request: dict[str, Any]  # JSON Schema of the request document
    response: dict[str, Any]  # JSON Schema of the response document
    journaled: bool = True
    suspends: bool = False  # may unwind the instance (the run becomes `waiting`)
    grant: str | None = None  # manifest field that scopes it: "hosts", "namespaces", "workflows"
    mockable: bool = True  # the editor lets the user pin a response per node
    # a side effect whose calls carry their logical identity ("effect"): all attempts of one effect share one
    # idempotency key (the guest runtime's hostcall.EFFECTS lists the same names)
    keyed_by_effect: bool = False
    # its answer costs money and is not recomputed alike (a model's reply): committed as soon as it arrives,
    # so neither a crash nor a replay asks for it again
    commit_result: bool = False

    @property
    def module(self) -> str:
        """Python name of the interface in componentize-py bindings (``wit_world.imports.<module>``)."""
        return self.interface.replace("-", "_")


_JSON: dict[str, Any] = {}  # any JSON value
_ISO = {"type": "string", "format": "date-time"}

_HTTP_ONE = {
    "type": "object",
    "required": ["method", "url"],
    "properties": {
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
        "url": {"type": "string"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "query": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": _JSON,
        "auth": {
            "type": ["object", "null"],
            "description": "injected by the host: the guest names the secret, never sees its value",
            "properties": {
                "type": {"enum": ["bearer", "basic", "header"]},
                "secret": {"type": "string"},
                "username": {"type": "string"},
                "header": {"type": "string"},
            },
        },
        "timeout_seconds": {"type": "number"},
        "response": {"enum": ["auto", "json", "text"]},
        "node": {"type": "string"},
    },
}
_HTTP_RESULT = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "headers": {"type": "object"},
        "body": _JSON,
    },
}
_HOST_ERROR = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "retriable": {"type": "boolean"}},
}

CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        name="http.request",
        interface="http-request",
        effect=Effect.IDEMPOTENT_WITH_KEY,
        summary="HTTP requests to granted hosts; a batch runs concurrently, each request journaled on its own.",
        request={
            "type": "object",
            "required": ["requests"],
            "properties": {"requests": {"type": "array", "items": _HTTP_ONE}},
        },
        response={
            "type": "object",
            "properties": {
                "responses": {
                    "type": "array",
                    "items": {
                        "oneOf": [
                            {"type": "object", "properties": {"ok": _HTTP_RESULT}},
                            {"type": "object", "properties": {"err": _HOST_ERROR}},
                        ]
                    },
                }
            },
        },
        grant="hosts",
        keyed_by_effect=True,
    ),
    Capability(
        name="kv.get",
        interface="kv-get",
        effect=Effect.PURE,
        summary="Read a value from a key-value namespace of this workflow.",
        request={
            "type": "object",
            "required": ["namespace", "key"],
            "properties": {"namespace": {"type": "string"}, "key": {"type": "string"}, "node": {"type": "string"}},
        },
        response={"type": "object", "properties": {"found": {"type": "boolean"}, "value": _JSON}},
        grant="namespaces",
    ),
    Capability(
        name="kv.set",
        interface="kv-set",
        effect=Effect.IDEMPOTENT_WITH_KEY,
        summary="Write a value to a key-value namespace; committed in the same transaction as its journal record.",
        request={
            "type": "object",
            "required": ["namespace", "key", "value"],
            "properties": {
                "namespace": {"type": "string"},
                "key": {"type": "string"},
                "value": _JSON,
                "ttl_seconds": {"type": ["integer", "null"]},
                "node": {"type": "string"},
            },
        },
        response={"type": "object", "properties": {"key": {"type": "string"}, "value": _JSON}},
        grant="namespaces",
        keyed_by_effect=True,
    ),
    Capability(
        name="clock.now",
        interface="clock-now",
        effect=Effect.PURE,
        summary="The current time, journaled so that a replay sees the same instant.",
        request={"type": "object", "properties": {"node": {"type": "string"}}},
        response={
            "type": "object",
            "required": ["iso", "epoch_ms"],
            "properties": {"iso": _ISO, "epoch_ms": {"type": "integer"}},
        },
    ),
    Capability(
        name="random.bytes",
        interface="random-bytes",
        effect=Effect.PURE,
        summary="Random bytes from the host, journaled; the guest has no entropy of its own.",
        request={
            "type": "object",
            "required": ["n"],
            "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 4096}},
        },
        response={"type": "object", "required": ["hex"], "properties": {"hex": {"type": "string"}}},
    ),
    Capability(
        name="log.write",
        interface="log-write",
        effect=Effect.PURE,
        summary="A log line of the run (secrets redacted by the host).",
        request={
            "type": "object",
            "required": ["level", "message"],
            "properties": {
                "level": {"enum": ["debug", "info", "warning", "error"]},
                "message": {"type": "string"},
                "node": {"type": "string"},
            },
        },
        response={"type": "object"},
        mockable=False,
    ),
    Capability(
        name="node.event",
        interface="node-event",
        effect=Effect.PURE,
        summary="Node lifecycle events (started, finished with output, failed) for the live view and run history.",
        request={
            "type": "object",
            "required": ["node", "event"],
            "properties": {
                "node": {"type": "string"},
                "event": {"enum": ["started", "finished", "failed", "skipped"]},
                "input": _JSON,
                "output": _JSON,
                "error": _JSON,
                "attempt": {"type": "integer"},
            },
        },
        response={"type": "object"},
        mockable=False,
    ),
    Capability(
        name="approval.request",
        interface="approval-request",
        effect=Effect.IDEMPOTENT_WITH_KEY,
        summary="Ask a person to approve or reject; the run waits (holding nothing) until a decision or timeout.",
        request={
            "type": "object",
            "required": ["title"],
            "properties": {
                "title": {"type": "string"},
                "details": {"type": "string"},
                "timeout_seconds": {"type": "integer"},
                "timeout_action": {"enum": ["approve", "reject", "fail"]},
                "approvers": {"type": "array", "items": {"type": "string"}},
                "node": {"type": "string"},
            },
        },
        response={
            "type": "object",
            "required": ["approved", "decision"],
            "properties": {
                "approved": {"type": "boolean"},
                "decision": {"enum": ["approved", "rejected", "timed_out"]},
                "by": {"type": ["string", "null"]},
                "reason": {"type": "string"},
                "decided_at": _ISO,
            },
        },
        suspends=True,
    ),
    Capability(
        name="timer.wait",
        interface="timer-wait",
        effect=Effect.IDEMPOTENT_WITH_KEY,
        summary="Wait for a duration or until an instant; durable, the run holds nothing while it waits.",
        request={
            "type": "object",
            "properties": {"seconds": {"type": "number"}, "until": _ISO, "node": {"type": "string"}},
        },
        response={"type": "object", "required": ["waited_until"], "properties": {"waited_until": _ISO}},
        suspends=True,
    ),
    Capability(
        name="webhook.respond",
        interface="webhook-respond",
        effect=Effect.IDEMPOTENT_WITH_KEY,
        summary="Send the webhook caller its response now; the run goes on. Committed before it becomes visible.",
        request={
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"type": "integer"},
                "headers": {"type": "object"},
                "body": _JSON,
                "node": {"type": "string"},
            },
        },
        response={"type": "object"},
        mockable=False,
        keyed_by_effect=True,
    ),
    Capability(
        name="workflow.call",
        interface="workflow-call",
        effect=Effect.IDEMPOTENT_WITH_KEY,
        summary="Start a deployed workflow as a child run (one child per effect: a retry's child shares its keys) and wait for its output.",
        request={
            "type": "object",
            "required": ["workflow"],
            "properties": {
                "workflow": {"type": "string"},
                "input": _JSON,
                "wait": {"type": "boolean"},
                "node": {"type": "string"},
            },
        },
        response={"type": "object", "properties": {"run_id": {"type": "string"}, "output": _JSON}},
        suspends=True,
        grant="workflows",
        keyed_by_effect=True,
    ),
)

_LLM_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": ["system", "user", "assistant", "tool"]},
        "content": {"type": ["string", "null"]},
        "tool_calls": {"type": "array"},
        "tool_call_id": {"type": "string"},
    },
}
CAPABILITIES += (
    Capability(
        name="llm.chat",
        interface="llm-chat",
        effect=Effect.IDEMPOTENT_WITH_KEY,
        summary="One turn of an agent node's model (OpenAI-compatible chat completions); the host adds the "
        "connection, the API key and the tool table from the manifest, and journals the whole answer.",
        request={
            "type": "object",
            "required": ["node", "messages"],
            "properties": {
                "node": {"type": "string"},
                "turn": {"type": "integer"},
                "messages": {"type": "array", "items": _LLM_MESSAGE},
            },
        },
        response={
            "type": "object",
            "required": ["message", "usage"],
            "properties": {
                "model": {"type": "string"},
                "message": {
                    "type": "object",
                    "properties": {
                        "role": {"const": "assistant"},
                        "content": {"type": ["string", "null"]},
                        "tool_calls": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "name"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "name": {"type": "string"},
                                    "arguments": {"type": "object"},
                                    "arguments_text": {"type": "string"},
                                    "arguments_error": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "finish_reason": {"type": ["string", "null"]},
                "usage": {
                    "type": "object",
                    "properties": {"input_tokens": {"type": "integer"}, "output_tokens": {"type": "integer"}},
                },
                "cost_usd": {"type": ["number", "null"]},
            },
        },
        commit_result=True,
    ),
)

BY_NAME: dict[str, Capability] = {c.name: c for c in CAPABILITIES}
BY_INTERFACE: dict[str, Capability] = {c.interface: c for c in CAPABILITIES}

# Imported by every component: the engine needs node events to show progress, and logs are always allowed.
ALWAYS_GRANTED: tuple[str, ...] = ("node.event", "log.write")


def get(name: str) -> Capability:
    """The capability called ``name``; KeyError names the unknown capability."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown capability {name!r}; known: {', '.join(sorted(BY_NAME))}") from None


@dataclass(frozen=True)
class Manifest:
    """What a compiled workflow may do: computed at compile time, stored with the artifact, granted at run time."""

    capabilities: tuple[str, ...]  # sorted capability names the component imports
    hosts: tuple[str, ...] = ()  # HTTP hostnames (lower case) the workflow may reach
    secrets: tuple[str, ...] = ()  # secret names the host may inject into requests
    namespaces: tuple[str, ...] = ()  # kv namespaces of this workflow
    workflows: tuple[str, ...] = ()  # child workflows it may start
    # agent node id -> its model connection and tool table (see app/compiler/manifest.py); the host serves
    # llm.chat from it and checks every tool call against it
    agents: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)  # timeout_seconds, memory_mb from the DSL settings
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "capabilities": list(self.capabilities),
            "hosts": list(self.hosts),
            "secrets": list(self.secrets),
            "namespaces": list(self.namespaces),
            "workflows": list(self.workflows),
            "limits": dict(self.limits),
            **({"agents": self.agents} if self.agents else {}),
            **({"extra": self.extra} if self.extra else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            capabilities=tuple(data.get("capabilities", ())),
            hosts=tuple(data.get("hosts", ())),
            secrets=tuple(data.get("secrets", ())),
            namespaces=tuple(data.get("namespaces", ())),
            workflows=tuple(data.get("workflows", ())),
            agents=dict(data.get("agents", {})),
            limits=dict(data.get("limits", {})),
            extra=dict(data.get("extra", {})),
        )


def describe() -> list[dict[str, Any]]:
    """The table as JSON, for the API and the editor palette."""
    return [
        {
            "name": c.name,
            "interface": c.interface,
            "effect": c.effect.value,
            "summary": c.summary,
            "journaled": c.journaled,
            "suspends": c.suspends,
            "grant": c.grant,
            "mockable": c.mockable,
            "commit_result": c.commit_result,
            "request": c.request,
            "response": c.response,
        }
        for c in CAPABILITIES
    ]
