"""Per-type node behaviours called by generated node functions.

Generated code renders the node's templates and expressions (user text lives there, compiled as Python),
then delegates here: these generators yield the capability calls and shape the node output.
"""

from __future__ import annotations

from .errors import NodeError, RunFailure
from .hostcall import Call


def status_expected(status, expect: list) -> bool:
    """Whether ``status`` is in ``expect``: ints match exactly, "2xx".."5xx" match their class."""
    if not expect:
        return True
    for want in expect:
        if isinstance(want, int) and status == want:
            return True
        if isinstance(want, str) and isinstance(status, int) and len(want) == 3 and want.endswith("xx"):
            if str(status)[:1] == want[0]:
                return True
    return False


def http_request(
    node: str,
    *,
    method: str,
    url: str,
    headers: dict,
    query: dict,
    body=None,
    auth: dict | None = None,
    timeout_seconds: float = 30,
    response: str = "auto",
    expect_status: list = ("2xx",),
    idempotency: str = "key",
):
    """``http.request``: one request (sent as a batch of one, or batched with a map's concurrent items).

    ``auth`` names a secret; the host injects its value, the guest never sees it. ``idempotency: "none"``
    says the server ignores ``Idempotency-Key``: the host then never retries a POST/PATCH whose outcome is
    unknown (the run goes to needs_attention instead).
    """
    request = {
        "method": method,
        "url": url,
        "headers": headers,
        "query": query,
        "body": body,
        "auth": auth,
        "timeout_seconds": timeout_seconds,
        "response": response,
        "node": node,
    }
    if idempotency != "key":
        request["idempotency"] = idempotency
    resp = yield Call("http.request", request)
    status = resp.get("status")
    output = {"status": status, "headers": resp.get("headers") or {}, "body": resp.get("body")}
    if resp.get("replayed"):
        output["replayed"] = True  # the server answered from its idempotency cache (Idempotent-Replayed)
    if resp.get("replayed") and not status_expected(status, list(expect_status)):
        # Retrying with the same key would get the same stored answer again: say so instead of retrying.
        raise NodeError(
            "idempotent_replay",
            f"{method} {url} answered HTTP {status} from its idempotency cache (Idempotent-Replayed: true): "
            "the server stored this failure for the request's Idempotency-Key and repeats it, so the node is "
            "not retried",
            details={"status": status, "headers": output["headers"], "body": output["body"], "replayed": True},
        )
    if not status_expected(status, list(expect_status)):
        wanted = ", ".join(str(s) for s in expect_status)
        raise NodeError(
            "unexpected_status",
            f"{method} {url} answered HTTP {status}; expected {wanted}",
            retriable=isinstance(status, int) and (status >= 500 or status == 429),
            details={"status": status, "headers": output["headers"], "body": output["body"]},
            outside=True,
        )
    return output


def kv_get(node: str, *, namespace: str, key: str, default=None):
    """``kv.get``: the stored value, or ``default`` when the key is absent."""
    resp = yield Call("kv.get", {"namespace": namespace, "key": key, "node": node})
    return resp.get("value") if resp.get("found") else default


def kv_set(node: str, *, namespace: str, key: str, value, ttl_seconds: int | None = None):
    """``kv.set``: output {"key", "value"}."""
    request = {"namespace": namespace, "key": key, "value": value, "ttl_seconds": ttl_seconds, "node": node}
    yield Call("kv.set", request)
    return {"key": key, "value": value}


def wait(node: str, *, seconds: float | None = None, until: str | None = None):
    """``wait``: a durable timer for ``seconds`` or until an ISO instant; output {"waited_until"}."""
    request: dict = {"node": node}
    if until is not None:
        if not until:
            raise NodeError("bad_wait", "wait 'until' rendered to an empty string")
        request["until"] = until
    else:
        request["seconds"] = seconds
    resp = yield Call("timer.wait", request)
    return {"waited_until": resp.get("waited_until")}


def approval(
    node: str,
    *,
    title: str,
    details: str = "",
    timeout_seconds: int,
    timeout_action: str = "reject",
    approvers: list = (),
):
    """``approval``: ask a person and wait for the decision; a timeout with action "fail" fails the node."""
    resp = yield Call(
        "approval.request",
        {
            "title": title,
            "details": details,
            "timeout_seconds": timeout_seconds,
            "timeout_action": timeout_action,
            "approvers": list(approvers),
            "node": node,
        },
    )
    decision = resp.get("decision")
    if decision == "timed_out" and timeout_action == "fail":
        raise NodeError("approval_timed_out", f"approval {title!r} got no decision in time", details=resp)
    approved = resp.get("approved")
    if decision == "timed_out" and approved is None:
        approved = timeout_action == "approve"
    return {
        "approved": bool(approved),
        "decision": decision,
        "by": resp.get("by"),
        "reason": resp.get("reason", ""),
        "decided_at": resp.get("decided_at"),
    }


def subflow(node: str, *, workflow: str, input=None, wait: bool = True):
    """``subflow``: start a child run; output is its output (or {"run_id"} when not waiting)."""
    resp = yield Call("workflow.call", {"workflow": workflow, "input": input, "wait": wait, "node": node})
    return resp.get("output") if wait else {"run_id": resp.get("run_id")}


def respond(node: str, *, status: int = 200, headers: dict | None = None, body=None):
    """``respond``: send the webhook response now (the run goes on); output is what was sent."""
    response = {"status": status, "headers": dict(headers or {}), "body": body}
    yield Call("webhook.respond", dict(response, node=node))
    return response


def fail(node: str, *, code: str, message: str):
    """``fail``: end the run with a structured error (no on_error mode catches it)."""
    raise RunFailure({"code": code, "message": message, "node": node, "retriable": False, "details": {}})
