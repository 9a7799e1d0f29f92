"""The world side of each capability except HTTP: what a host call does when it is performed live.

Each implementation is ``fn(host, request, key) -> response`` where ``host`` is the calling ``RunHost``
(its run, manifest and event buffer) and ``key`` is the call's idempotency key (``run_id:seq``, or for a side
effect ``<key base>:<effect id>``, the same for all its attempts; see ``Journal.key``). Calls
that wait are idempotent by key: performing one again finds its ``Wait`` row instead of creating another.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from app.engine import runs
from app.engine.runs import as_utc, utcnow
from app.runtime.journal import child_key_base
from app.runtime.secrets import missing_message
from app.runtime.signals import Suspend
from app.runtime.wasm import HostCallError
from app.store.models import ApprovalDecision, KvEntry, Run, Wait
from app.workspaces import of_workflow

if TYPE_CHECKING:
    from app.runtime.host import RunHost

OUTPUT_PREVIEW_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 64 * 1024  # a 20 MB print() or error message must not become a 20 MB row and live-view message
DELTA_SECONDS = 0.5  # how often streamed model text is written as an agent.delta event
_LLM_LOCK = threading.Lock()


def iso(dt: datetime) -> str:
    return as_utc(dt).isoformat().replace("+00:00", "Z")


def _denied(capability: str, what: str, value: str, granted) -> HostCallError:
    return HostCallError(
        "capability_denied",
        f"{capability}: {what} {value!r} is not granted to this workflow (granted: {', '.join(granted) or 'none'})",
    )


def clock_now(host: RunHost, request: dict, key: str) -> dict:
    now = host.world.now()
    return {"iso": iso(now), "epoch_ms": int(now.timestamp() * 1000)}


def random_bytes(host: RunHost, request: dict, key: str) -> dict:
    n = int(request.get("n", 16))
    if not 1 <= n <= 4096:
        raise HostCallError("invalid_request", f"random.bytes: n must be 1..4096, not {n}")
    return {"hex": os.urandom(n).hex()}


def cut(host: RunHost, text: Any) -> Any:
    """``text`` (if a long string) redacted and cut to MAX_MESSAGE_CHARS, saying how long it was. Redacted
    first: a cut through a secret would leave a prefix that the redactor no longer recognizes."""
    if not isinstance(text, str) or len(text) <= MAX_MESSAGE_CHARS:
        return text
    return f"{host.redact(text)[:MAX_MESSAGE_CHARS]} ... [truncated: {len(text):,} characters]"


def cut_error(host: RunHost, error: Any) -> Any:
    """An error document with its message cut and its details previewed (an HTTP error carries the body)."""
    if not isinstance(error, dict):
        return error
    out = {**error, "message": cut(host, error.get("message"))}
    if "details" in out:
        out["details"] = host.preview(out["details"])
    return out


def log_write(host: RunHost, request: dict, key: str) -> dict:
    message = cut(host, request.get("message", ""))
    host.emit("log", node=request.get("node"), data={"level": request.get("level", "info"), "message": message})
    return {}


def node_event(host: RunHost, request: dict, key: str) -> dict:
    event = request.get("event")
    data = {k: v for k, v in request.items() if k not in ("node", "event")}
    for field in ("input", "output"):
        if field in data:
            data[field] = host.preview(data[field])
    if "error" in data:
        data["error"] = cut_error(host, data["error"])
    host.track_node(request)
    host.emit(f"node.{event}", node=request.get("node"), data=data)
    return {}


def kv_get(host: RunHost, request: dict, key: str) -> dict:
    ns = request.get("namespace", "")
    if ns not in host.manifest.namespaces:
        raise _denied("kv.get", "namespace", ns, host.manifest.namespaces)
    with host.world.db.session() as s:
        row = s.get(KvEntry, (host.workflow_name, ns, request.get("key", "")))
        if row is None or (row.expires_at is not None and as_utc(row.expires_at) <= host.world.now()):
            return {"found": False, "value": None}
        return {"found": True, "value": row.value}


def kv_check(host: RunHost, request: dict) -> None:
    ns = request.get("namespace", "")
    if ns not in host.manifest.namespaces:
        raise _denied("kv.set", "namespace", ns, host.manifest.namespaces)


def kv_write(host: RunHost, request: dict):
    """The kv.set write, run inside the same transaction as its journal record (exactly once)."""
    now = host.world.now()
    ttl = request.get("ttl_seconds")
    values = {
        "workflow_name": host.workflow_name,
        "namespace": request["namespace"],
        "key": request["key"],
        "value": request.get("value"),
        "expires_at": now + timedelta(seconds=ttl) if ttl else None,
        "updated_at": now,
    }

    def work(s) -> None:
        row = s.get(KvEntry, (values["workflow_name"], values["namespace"], values["key"]))
        if row is None:
            s.add(KvEntry(**values))
        else:
            row.value, row.expires_at, row.updated_at = values["value"], values["expires_at"], now

    return work


def _wait_row(
    host: RunHost,
    key: str,
    *,
    kind: str,
    node: str | None,
    wake_at: datetime | None,
    detail: dict,
    event: dict | None = None,
) -> Wait:
    """The Wait row for ``key``, created (with its event) on the first perform only."""
    with host.world.db.session() as s:
        row = s.get(Wait, key)
        if row is None:
            run_id, seq = key.rsplit(":", 1)
            row = Wait(
                key=key,
                run_id=run_id,
                seq=int(seq),
                kind=kind,
                node=node,
                wake_at=wake_at,
                detail=detail,
                status="pending",
                created_at=host.world.now(),
            )
            s.add(row)
            if event:
                s.flush()
                runs.append_events(s, run_id, [event])
        s.flush()
        s.expunge(row)
        return row


def timer_wait(host: RunHost, request: dict, key: str) -> dict:
    now = host.world.now()
    if request.get("until"):
        target = datetime.fromisoformat(request["until"].replace("Z", "+00:00"))
        if target.tzinfo is None:
            raise HostCallError("invalid_request", f"timer.wait: until {request['until']!r} has no time zone")
    else:
        target = now + timedelta(seconds=float(request.get("seconds") or 0))
    row = _wait_row(host, key, kind="timer", node=request.get("node"), wake_at=target, detail={"until": iso(target)})
    wake_at = as_utc(row.wake_at)
    if wake_at <= now:
        return {"waited_until": iso(wake_at)}
    raise Suspend(wake_at=wake_at, waiting_for={"kind": "timer", "node": request.get("node"), "key": key})


def approval_request(host: RunHost, request: dict, key: str) -> dict:
    now = host.world.now()
    timeout = request.get("timeout_seconds")
    deadline = now + timedelta(seconds=timeout) if timeout else None
    detail = {k: request.get(k) for k in ("title", "details", "timeout_seconds", "timeout_action", "approvers")}
    row = _wait_row(
        host,
        key,
        kind="approval",
        node=request.get("node"),
        wake_at=deadline,
        detail=detail,
        event={"type": "approval.requested", "node": request.get("node"), "data": {"approval": key, **detail}},
    )
    if row.status == "done":
        return row.result
    deadline = as_utc(row.wake_at)
    if deadline is not None and deadline <= now:
        action = row.detail.get("timeout_action") or "reject"
        result = {
            "approved": action == "approve",
            "decision": "timed_out",
            "by": None,
            "reason": f"no decision within {row.detail.get('timeout_seconds')} s; timeout action {action}",
            "decided_at": iso(now),
        }
        with host.world.db.session() as s:
            if settle_pending(s, key, result=result, event_type="approval.timed_out", event_data={"action": action}):
                s.add(
                    ApprovalDecision(
                        approval_key=key,
                        run_id=row.run_id,
                        node=row.node,
                        decision="timed_out",
                        by=None,
                        reason=result["reason"],
                        decided_at=now,
                    )
                )
                return result
            settled = s.get(Wait, key).result  # a person decided first: that decision stands
        return settled
    raise Suspend(wake_at=deadline, waiting_for={"kind": "approval", "node": request.get("node"), "approval": key})


def settle_pending(s, key: str, *, result: Any, event_type: str, event_data: dict | None = None) -> bool:
    """In the caller's transaction: settle ``key`` if still pending (write first, so one of racing deciders
    wins), with its event, and make its run due. False if it was already settled."""
    done = s.execute(
        sa.update(Wait)
        .where(Wait.key == key, Wait.status == "pending")
        .values(status="done", result=result, resolved_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        return False
    run_id, node = s.execute(sa.select(Wait.run_id, Wait.node).where(Wait.key == key)).one()
    runs.append_events(s, run_id, [{"type": event_type, "node": node, "data": {"key": key, **(event_data or {})}}])
    runs.wake(s, run_id)
    return True


_STORE_RESPONSE = (
    Run.__table__.update().where(Run.__table__.c.id == sa.bindparam("rid")).values(response=sa.bindparam("response"))
)


def webhook_respond(host: RunHost, request: dict, key: str) -> dict:
    """Answer the webhook caller, never before the response is durable. When all the run did before is pure
    (recomputed alike after a crash), the response is stored with the run's next commit (for a respond node
    at the end, the one that finishes the run) and the caller is answered when it lands; otherwise it is
    committed here and now."""
    response = {k: request.get(k) for k in ("status", "headers", "body")}
    run_id = host.run_id

    def store(s) -> None:
        s.connection().execute(_STORE_RESPONSE, {"rid": run_id, "response": response})

    if host.only_pure_pending():
        host.defer(store, then=lambda: host.world.responded(run_id, response))
        host.emit("webhook.responded", node=request.get("node"), data={"status": response["status"]})
        return {}
    with host.world.db.session() as s:
        store(s)
        runs.append_events(
            s,
            run_id,
            [{"type": "webhook.responded", "node": request.get("node"), "data": {"status": response["status"]}}],
        )
    host.world.responded(run_id, response)
    return {}


def workflow_call(host: RunHost, request: dict, key: str) -> dict:
    name = request.get("workflow", "")
    if name not in host.manifest.workflows:
        raise _denied("workflow.call", "workflow", name, host.manifest.workflows)
    run_id, seq = host.run_id, host.current_seq
    with host.world.db.session() as s:
        child = s.execute(sa.select(Run).where(Run.parent_run_id == run_id, Run.parent_seq == seq)).scalar()
        if child is None:
            digest = host.world.resolve_workflow(name)
            if digest is not None and of_workflow(host.world.db, name) != of_workflow(
                host.world.db, host.workflow_name
            ):
                digest = None  # another workspace's workflow is not there for this one (app.workspaces)
            if digest is None:
                raise HostCallError("not_found", f"workflow.call: no compiled workflow named {name!r}")
            # Each attempt of this call starts its own child, but all of them key their effects alike: a
            # retried child does not repeat what an earlier child already did outside.
            child_id = runs.create_run(
                s,
                workflow_name=name,
                digest=digest,
                input=request.get("input"),
                parent_run_id=run_id,
                parent_seq=seq,
                key_base=child_key_base(key),
            )
            status, output, error = runs.QUEUED, None, None
        else:
            child_id, status, output, error = child.id, child.status, child.output, child.error
    host.world.kick(child_id)
    if not request.get("wait", True):
        return {"run_id": child_id, "output": None}
    if status == runs.SUCCEEDED:
        return {"run_id": child_id, "output": output}
    if status in (runs.FAILED, runs.CANCELLED):
        raise HostCallError(
            "child_failed", f"child run {child_id} of {name} {status}: {(error or {}).get('message', '')}"
        )
    raise Suspend(wake_at=None, waiting_for={"kind": "child", "node": request.get("node"), "child_run": child_id})


def _llm_client(host: RunHost):
    """The process's model client, made on first use (most processes never run an agent)."""
    world = host.world
    with _LLM_LOCK:
        if world.llm is None:
            from app.runtime.http import HttpPolicy
            from app.runtime.llm import LlmClient

            world.llm = LlmClient(HttpPolicy.from_env())
        return world.llm


def llm_chat(host: RunHost, request: dict, key: str) -> dict:
    """One model turn of an agent node: the connection, key and tools come from the manifest, never from the
    guest. The answer is journaled whole (a replay never asks the model again) and reported as events."""
    node = request.get("node")
    agent = host.manifest.agents.get(node) if isinstance(node, str) else None
    if agent is None:
        raise HostCallError("capability_denied", f"llm.chat: node {node!r} is not an agent node of this workflow")
    api_key = None
    secret = agent.get("api_key_secret")
    if secret:
        if secret not in host.manifest.secrets:
            raise _denied("llm.chat", "secret", secret, host.manifest.secrets)
        api_key = host.secrets.value(secret) if host.secrets is not None else None
        if api_key is None:
            raise HostCallError("secret_missing", f"llm.chat (agent {node}): {missing_message(host.secrets, secret)}")
    tools = [
        {"name": name, "description": t.get("description", ""), "parameters": t.get("parameters") or {}}
        for name, t in (agent.get("tools") or {}).items()
    ]
    body = {
        "base_url": agent["base_url"],
        "model": agent["model"],
        "messages": request.get("messages") or [],
        "stream": bool(agent.get("stream", True)),
    }
    if tools:
        body["tools"] = tools
    if agent.get("max_output_tokens"):
        body["max_tokens"] = agent["max_output_tokens"]
    if agent.get("temperature") is not None:
        body["temperature"] = agent["temperature"]
    turn = request.get("turn")
    stream = _DeltaWriter(host, node, turn)
    answer = _llm_client(host).chat(body, api_key=api_key, granted_hosts=host.manifest.hosts, on_delta=stream.push)
    stream.close()
    if "err" in answer:
        err = answer["err"]
        raise HostCallError(
            err.get("code", "llm_error"),
            f"llm.chat (agent {node}): {err.get('message', '')}",
            retriable=bool(err.get("retriable")),
            details=err.get("details"),
        )
    from app.runtime.llm import estimate_cost

    result = dict(answer["ok"])
    usage = result.get("usage") or {}
    result["cost_usd"] = None if usage.get("usage_reported") is False else estimate_cost(usage, agent.get("prices"))
    host.agent_turn(node, request, result)
    return result


class _DeltaWriter:
    """Streamed answer text as ``agent.delta`` events, written in their own small transaction every
    DELTA_SECONDS while a turn streams (any process's live view shows them; the turn's event has it all)."""

    def __init__(self, host: RunHost, node: str, turn: Any):
        self.host, self.node, self.turn = host, node, turn
        self.parts: list[str] = []
        self.last = time.monotonic()
        self.written = False  # a turn answered within DELTA_SECONDS writes none: its agent.turn has the text

    def push(self, text: str) -> None:
        self.parts.append(text)
        if time.monotonic() - self.last >= DELTA_SECONDS:
            self._write()

    def close(self) -> None:
        if self.written:
            self._write()  # the rest, so the deltas of a turn add up to its text

    def _write(self) -> None:
        self.last = time.monotonic()
        self.written = True
        if not self.parts:
            return
        text, self.parts = "".join(self.parts), []
        event = {"type": "agent.delta", "node": self.node, "data": {"turn": self.turn, "text": self.host.redact(text)}}
        with self.host.world.db.session() as s:
            runs.append_events(s, self.host.run_id, [event])


IMPLEMENTATIONS = {
    "clock.now": clock_now,
    "random.bytes": random_bytes,
    "log.write": log_write,
    "node.event": node_event,
    "kv.get": kv_get,
    "timer.wait": timer_wait,
    "approval.request": approval_request,
    "webhook.respond": webhook_respond,
    "workflow.call": workflow_call,
    "llm.chat": llm_chat,
}
