"""The one door to the host: capability calls through the componentize-py bindings, and the trampoline that
drives node generators.

Node code never calls the host directly: it yields a ``Call`` (or a map yields a ``Gather`` of many) and
``execute`` performs it. That indirection is what lets a map interleave item bodies and send their
concurrent HTTP requests as one ``http.request`` batch.

Requests the guest sends (JSON; every request of a node carries "node"; responses as in app/capabilities.py):
  http.request     {"requests": [{"method","url","headers","query","body","auth","timeout_seconds","response",
                   "node"}]} -> {"responses": [{"ok": {"status","headers","body"}} | {"err": {code,message,retriable}}]}
                   (auth is {"type","secret"[,"username"|"header"]}: a secret NAME, the host injects the value)
  kv.get           {"namespace","key","node"} -> {"found","value"}
  kv.set           {"namespace","key","value","ttl_seconds","node"} -> anything
  timer.wait       {"seconds","node"} | {"until","node"} -> {"waited_until"}
  random.bytes     {"n": 4} -> {"hex"}  (retry jitter)
  approval.request {"title","details","timeout_seconds","timeout_action","approvers","node"}
                   -> {"approved","decision","by","reason","decided_at"}
  workflow.call    {"workflow","input","wait","node"} -> {"run_id","output"}
  webhook.respond  {"status","headers","body","node"} -> anything
  Side effects (EFFECTS below) also carry "effect": "<node>[@<map path>][!handler]#<n>", the logical identity
  of the node's n-th call, the same in every attempt: the host keys the call's idempotency by it.
  node.event       {"node","event": started|finished|failed|skipped, "attempt", "input"|"output"|"error",
                   "will_retry" (failed; with "output" and "on_error" when continue/route handled it),
                   "index": [map item indices] (inside map bodies)} -> anything
  log.write        {"level": "info", "message", "node"} -> anything  (print() inside workflow code)
Errors: Err(value) with value the JSON {"code","message","retriable"[,"status"][,"details"]}.
"""

from __future__ import annotations

import importlib
import json

from .errors import HostError

HTTP = "http.request"
# Capabilities whose calls are side effects keyed by their logical identity ("effect" in the request): every
# attempt of one effect carries one idempotency key. Equal to the capabilities with ``keyed_by_effect`` in
# app/capabilities.py (a test checks it); the guest cannot import the host's table.
EFFECTS = frozenset({"http.request", "kv.set", "workflow.call", "webhook.respond"})


class Call:
    """One capability call a generator waits on; it is resumed with the response dict or a thrown HostError."""

    __slots__ = ("capability", "request")

    def __init__(self, capability: str, request: dict):
        self.capability = capability
        self.request = request  # for http.request: ONE request; batching wraps it

    def __repr__(self) -> str:
        return f"Call({self.capability!r}, {self.request!r})"


class Gather:
    """Several calls issued together; resumed with a list of outcomes (response dict or HostError instance)."""

    __slots__ = ("calls",)

    def __init__(self, calls: list):
        self.calls = calls


def module_name(capability: str) -> str:
    """``http.request`` -> ``http_request``: the bindings module of the capability's WIT interface ``http-request``."""
    return capability.replace(".", "_").replace("-", "_")


def _decode_error(value) -> HostError:
    if isinstance(value, str):
        try:
            data = json.loads(value)
        except ValueError:
            data = {"code": "host_error", "message": value}
    elif hasattr(value, "code"):  # a WIT record, should the world ever use one
        data = {
            "code": value.code,
            "message": getattr(value, "message", ""),
            "retriable": getattr(value, "retriable", False),
        }
    else:
        data = {"code": "host_error", "message": repr(value)}
    if not isinstance(data, dict):
        data = {"code": "host_error", "message": str(data)}
    details = dict(data.get("details") or {})
    if "status" in data:
        details.setdefault("status", data["status"])
    return HostError(
        str(data.get("code", "host_error")), str(data.get("message", "")), bool(data.get("retriable")), details=details
    )


def call_host(capability: str, request: dict) -> dict:
    """Send one capability call; returns the decoded JSON response or raises HostError.

    The bindings module is imported lazily (the generated module imports the ones it uses at build time,
    so this is a sys.modules hit): a component never touches an interface it does not import.
    """
    module = importlib.import_module("wit_world.imports." + module_name(capability))
    err_type = importlib.import_module("componentize_py_types").Err
    try:
        raw = module.call(json.dumps(request, separators=(",", ":"), ensure_ascii=False))
    except err_type as exc:
        raise _decode_error(exc.value) from None
    return json.loads(raw) if raw else {}


_current = {"node": None}  # the node whose code runs now (for print -> log.write)


def set_current_node(node: str | None) -> None:
    _current["node"] = node


def log(message: str, level: str = "info") -> None:
    """A run log line via ``log.write`` (always granted), sent at once: used by the sandbox's ``print``."""
    request = {"level": level, "message": message}
    if _current["node"] is not None:
        request["node"] = _current["node"]
    call_host("log.write", request)


def _http_outcome(item):
    if isinstance(item, dict) and "ok" in item:
        return item["ok"]
    if isinstance(item, dict) and "err" in item:
        return _decode_error(json.dumps(item["err"]))
    return HostError("bad_host_response", f"http.request answered {item!r}")


def http_batch(requests: list) -> list:
    """One ``http.request`` host call for ``requests``; one outcome (response dict or HostError) per request."""
    try:
        resp = call_host(HTTP, {"requests": requests})
    except HostError as exc:
        return [exc] * len(requests)
    answers = resp.get("responses") or []
    if len(answers) != len(requests):
        err = HostError("bad_host_response", f"http.request answered {len(answers)} responses to {len(requests)}")
        return [err] * len(requests)
    return [_http_outcome(a) for a in answers]


def perform(call: Call) -> dict:
    """Perform one call; raises HostError."""
    if call.capability == HTTP:
        outcome = http_batch([call.request])[0]
        if isinstance(outcome, HostError):
            raise outcome
        return outcome
    return call_host(call.capability, call.request)


def perform_many(calls: list) -> list:
    """Perform calls issued together: all HTTP requests as one batch (at the place of the first), the rest one
    at a time in list order. Returns one outcome per call (response dict or HostError instance)."""
    outcomes: list = [None] * len(calls)
    http_idx = [i for i, c in enumerate(calls) if c.capability == HTTP]
    for i, call in enumerate(calls):
        if call.capability == HTTP:
            if i == http_idx[0]:
                for j, outcome in zip(http_idx, http_batch([calls[j].request for j in http_idx]), strict=True):
                    outcomes[j] = outcome
            continue
        try:
            outcomes[i] = call_host(call.capability, call.request)
        except HostError as exc:
            outcomes[i] = exc
    return outcomes


def execute(gen):
    """Drive a generator that yields Call/Gather until it returns; returns its value."""
    value, error = None, None
    while True:
        try:
            request = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        if isinstance(request, Gather):
            value = perform_many(request.calls)
        elif isinstance(request, Call):
            try:
                value = perform(request)
            except HostError as exc:
                error = exc
        else:
            error = TypeError(f"a node yielded {request!r}; node code must yield host calls only")
