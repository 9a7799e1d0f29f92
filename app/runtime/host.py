"""The host side of one execution of a run: every guest call passes through ``RunHost.call``.

It enforces the grant (only manifest capabilities are linked), the wall-clock limit and cancellation,
journals each call through the one gate (``Journal.decide``), follows the write-ahead rule (a side effect
commits its intent and everything buffered before it first; pure calls are buffered), and redacts
secrets from everything it hands to the guest or writes down (one choke point: ``self.redact``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app import capabilities
from app.capabilities import Effect, Manifest
from app.engine import runs
from app.runtime import world as w
from app.runtime.committer import Flush, GroupCommitter
from app.runtime.journal import (
    DONE,
    FAILED,
    INTENT,
    AmbiguousSideEffect,
    Decision,
    Journal,
    Record,
    effect_of,
    request_hash,
)
from app.runtime.signals import Cancelled, LimitExceeded, Released
from app.runtime.wasm import HostCallError
from app.store import Database

CANCEL_POLL_SECONDS = 0.25
# Pure calls are buffered until the next intent; a guest that loops on them (print in a while loop makes
# thousands of log.write calls a second) would otherwise grow the buffer, and the host's memory, unbounded.
MAX_BUFFERED_RECORDS = 1000
# Node events and log lines live in the events table; their journal rows keep only the hash.
_NOT_STORED = frozenset({"node.event", "log.write"})


def _nothing(*_args: Any) -> None:
    return None


@dataclass
class World:
    """Everything outside the sandbox a run may touch, shared by all runs of a process."""

    db: Database
    committer: GroupCommitter
    http: Any = None  # app.runtime.http.HttpClient
    secrets: Any = None  # app.runtime.secrets.SecretStore
    llm: Any = None  # app.runtime.llm.LlmClient, made on first use by an agent node (world.llm_chat)
    now: Callable[[], datetime] = runs.utcnow
    responded: Callable[[str, dict], None] = _nothing  # a respond node answered the webhook of run_id
    kick: Callable[[str], None] = _nothing  # a run became runnable (e.g. a child run was created)
    resolve_workflow: Callable[[str], str | None] = _nothing  # workflow name -> digest to start as a child
    listeners: list[Callable[[str, list[dict]], None]] = field(default_factory=list)  # committed events
    running: dict[str, RunHost] = field(default_factory=dict)  # run id -> its host while it executes
    stopping: threading.Event = field(default_factory=threading.Event)  # set: runs hand back at their next call

    def flush_stale(self, age: float) -> None:
        """Commit what executing runs buffered more than ``age`` seconds ago (a long node shows as running)."""
        for host in list(self.running.values()):
            host.flush_if_stale(age)

    def publish(self, run_id: str, events: list[dict]) -> None:
        for listener in list(self.listeners):
            listener(run_id, events)


class RunHost:
    def __init__(
        self,
        *,
        run_id: str,
        workflow_name: str,
        owner: str,
        manifest: Manifest,
        journal: Journal,
        world: World,
        redact: Callable[[Any], Any],
        deadline: float,
        timeout_seconds: float,
        fresh: bool = False,
        secrets: Any = None,
    ):
        """``fresh``: the run was created a moment ago, so the first cancel poll waits one interval (a cancel
        that races a run this young is seen at the next poll, as any later one is). ``secrets``: what this run
        resolves secrets with (its workflow's grants in its workspace; default: the world's store)."""
        self.run_id = run_id
        self.secrets = secrets if secrets is not None else world.secrets
        self.workflow_name = workflow_name
        self.owner = owner
        self.manifest = manifest
        self.journal = journal
        self.world = world
        self.redact = redact
        self.deadline = deadline
        self.timeout_seconds = timeout_seconds
        self.current_node: str | None = None
        self.current_seq = 0  # seq of the call an implementation serves (a child run is keyed by it)
        self.open_nodes: set[tuple] = set()  # (node, map index) of nodes started and not ended
        self.calls = 0
        self._events: list[dict] = []
        self._deferred: list[Callable[[Any], Any]] = []  # writes committed with the next flush (defer())
        self._after_commit: list[Callable[[], Any]] = []  # what defer() holds back until that commit lands
        self._next_cancel_poll = time.monotonic() + CANCEL_POLL_SECONDS if fresh else 0.0
        # the guest's thread and the progress flusher (World.flush_stale) take turns on the buffers
        self._lock = threading.RLock()
        self._pending_since: float | None = None
        self._failed: BaseException | None = None  # a progress flush failed (e.g. the lease was lost)
        self.agents = AgentGate(self)

    # -- what the linker gets ------------------------------------------------------------------------

    def funcs(self) -> dict[str, Callable[[str], str]]:
        """One host function per granted capability, and nothing else (deny by default)."""
        return {name: (lambda request, _n=name: self.call(_n, request)) for name in self.manifest.capabilities}

    # -- helpers for implementations -----------------------------------------------------------------

    def track_node(self, request: dict) -> None:
        """Follow which nodes are running (a limit that stops the run ends them with it)."""
        node, event = request.get("node"), request.get("event")
        place = (node, tuple(request.get("index") or ()))
        if event == "started":
            self.current_node = node
            self.open_nodes.add(place)
            self.agents.started(node)
        elif event in ("finished", "failed", "skipped"):
            self.open_nodes.discard(place)

    def end_open_nodes(self, error: dict) -> None:
        """The run stops while nodes run (time limit, trap): each gets its failed event, so none stays started."""
        for node, index in sorted(self.open_nodes, key=repr):
            data: dict[str, Any] = {"error": {**error, "node": node}, "will_retry": False}
            if index:
                data["index"] = list(index)
            self.emit("node.failed", node=node, data=data)
        self.open_nodes.clear()

    def emit(self, type_: str, *, node: str | None = None, data: Any = None) -> None:
        """Buffer an event; it is written with the journal records at the next commit."""
        self._events.append({"type": type_, "node": node, "data": self.redact(data), "at": self.world.now()})

    def defer(self, write: Callable[[Any], Any], *, then: Callable[[], Any] | None = None) -> None:
        """Run ``write(session)`` in the transaction of the next commit (with the journal records before it),
        and ``then()`` once that commit has landed: whatever ``then`` shows outside is durable first."""
        self._deferred.append(write)
        if then is not None:
            self._after_commit.append(then)

    def only_pure_pending(self) -> bool:
        """Whether everything not yet committed is pure, i.e. recomputed alike by a re-execution: then what
        the run shows outside now is a function of what is durable already."""
        return all(capabilities.get(r.capability).effect is Effect.PURE for r in self.journal.pending)

    def agent_turn(self, node: str, request: dict, result: dict) -> None:
        self.agents.agent_turn(node, request, result)

    def preview(self, value: Any) -> Any:
        value = self.redact(value)  # before cutting: a cut through a secret would hide it from the redactor
        text = json.dumps(value, default=str)
        if len(text) <= w.OUTPUT_PREVIEW_BYTES:
            return value
        return {"preview": text[: w.OUTPUT_PREVIEW_BYTES], "truncated": True, "bytes": len(text)}

    # -- the gate --------------------------------------------------------------------------------------

    def call(self, capability: str, request_json: str) -> str:
        with self._lock:
            try:
                return self._call(capability, request_json)
            finally:
                if self._pending_since is None and (self.journal.pending or self._events or self._deferred):
                    self._pending_since = time.monotonic()

    def flush_if_stale(self, age: float) -> None:
        """Commit the buffer if its oldest entry waits for more than ``age`` seconds and no call is under way.

        Committing pure calls early is always allowed; this only makes a node that computes for a long time
        (no host call to commit its ``node.started``) visible as running."""
        since = self._pending_since
        if since is None or time.monotonic() - since < age or not self._lock.acquire(blocking=False):
            return
        try:
            if self._pending_since is not None and (self.journal.pending or self._events or self._deferred):
                self.flush()
        except Exception as exc:  # noqa: BLE001 - the run's own thread raises it at its next call
            self._failed = exc
        finally:
            self._lock.release()

    def _call(self, capability: str, request_json: str) -> str:
        if self._failed is not None:
            raise self._failed
        self._check_limits()
        if len(self.journal.pending) >= MAX_BUFFERED_RECORDS:
            self.flush()  # committing pure calls early is always allowed; it only bounds the buffer
        self.calls += 1
        request = json.loads(request_json)
        if capability == "http.request":
            return json.dumps(self._http(request))
        seq = self.journal.take_seq()
        node = request.get("node") if isinstance(request, dict) else None
        req_hash = request_hash(capability, request)
        decision, rec = self.journal.decide(seq, capability, req_hash, node=node)
        if decision is Decision.REPLAY:
            if capability == "node.event":
                self.track_node(request)
            elif capability == "llm.chat" and rec.state == DONE:
                self.agents.observe(request, rec.result)  # which tool calls the model asked for
            elif rec.state == DONE:
                self.agents.replayed(request)
            return self._answer(rec)
        cap = capabilities.get(capability)
        effect = cap.effect
        stored = None if capability in _NOT_STORED else self.redact(request)
        key = self.journal.key(seq, effect_of(request) if cap.keyed_by_effect else None)
        self.current_seq = seq
        tool = self.agents.check(capability, request)
        if isinstance(tool, HostCallError):
            self._record(seq, capability, req_hash, node, stored, FAILED, json.loads(tool.to_json()))
            raise tool
        if capability == "kv.set":
            return self._kv_set(seq, req_hash, node, request, stored, tool)
        deferrable = capability == "webhook.respond" and self.only_pure_pending()
        if effect is not Effect.PURE and decision is Decision.LIVE and not deferrable:
            self.journal.add(Record(seq, capability, req_hash, INTENT, node, stored, created_at=self.world.now()))
            self.flush()  # the intent and all before it are durable before the effect happens
        try:
            result = w.IMPLEMENTATIONS[capability](self, request, key)
        except HostCallError as exc:
            self._record(seq, capability, req_hash, node, stored, FAILED, json.loads(exc.to_json()))
            if tool is not None:
                self.agents.result(tool, error=json.loads(exc.to_json()))
            raise
        answer = self._record(seq, capability, req_hash, node, stored, DONE, self.redact(result))
        if tool is not None:
            self.agents.result(tool, result=result)
        if effect is Effect.NON_IDEMPOTENT or cap.commit_result:
            self.flush()  # its result must not be lost: a repeat would repeat the effect (or pay for it again)
        return answer

    def _record(self, seq, capability, req_hash, node, stored, state, result) -> str:
        now = self.world.now()
        self.journal.add(
            Record(seq, capability, req_hash, state, node, stored, result, created_at=now, completed_at=now)
        )
        return json.dumps(result)

    def _answer(self, rec: Record) -> str:
        if rec.state == FAILED:
            doc = rec.result or {}
            raise HostCallError(
                doc.get("code", "error"),
                doc.get("message", ""),
                retriable=bool(doc.get("retriable")),
                details=doc.get("details"),
            )
        return json.dumps(rec.result)

    def _kv_set(self, seq, req_hash, node, request, stored, tool=None) -> str:
        try:
            w.kv_check(self, request)
        except HostCallError as exc:
            self._record(seq, "kv.set", req_hash, node, stored, FAILED, json.loads(exc.to_json()))
            raise
        result = self.redact({"key": request.get("key"), "value": request.get("value")})
        answer = self._record(seq, "kv.set", req_hash, node, stored, DONE, result)
        if tool is not None:
            self.agents.result(tool, result={"key": request.get("key"), "stored": True})
        self.flush(extra=w.kv_write(self, request))  # the write and its record commit together
        return answer

    def _http(self, request: dict) -> dict:
        items = request.get("requests") or []
        seqs = [self.journal.take_seq() for _ in items]
        hashes = [request_hash("http.request", one) for one in items]
        effects = [effect_of(one) for one in items]
        classes = [http_effect(one) for one in items]
        out: list[Any] = [None] * len(items)
        todo: list[int] = []
        live = False
        tools: dict[int, Any] = {}
        for i, one in enumerate(items):
            h = hashes[i]
            decision, rec = self.journal.decide(seqs[i], "http.request", h, node=one.get("node"), effect=classes[i])
            if decision is Decision.REPLAY:
                out[i] = rec.result
                self.agents.replayed(one)
                continue
            tool = self.agents.check("http.request", one)
            if isinstance(tool, HostCallError):  # refused: nothing is sent, the guest gets the reason
                out[i] = {"err": json.loads(tool.to_json())}
                now = self.world.now()
                self.journal.add(
                    Record(
                        seqs[i],
                        "http.request",
                        h,
                        FAILED,
                        one.get("node"),
                        self.redact(one),
                        out[i],
                        created_at=now,
                        completed_at=now,
                    )
                )
                continue
            if tool is not None:
                tools[i] = tool
            todo.append(i)
            if decision is Decision.LIVE:
                live = True
                self.journal.add(
                    Record(
                        seqs[i],
                        "http.request",
                        h,
                        INTENT,
                        one.get("node"),
                        self.redact(one),
                        created_at=self.world.now(),
                    )
                )
        if not todo:
            return {"responses": out}
        if live:
            self.flush()
        keys = {i: self.journal.key(seqs[i], effects[i]) for i in todo}
        if self.world.http is None:
            results = [
                {"err": {"code": "not_configured", "message": "http.request: no HTTP client", "retriable": False}}
                for _ in todo
            ]
        else:
            results = self.world.http.perform(
                [items[i] for i in todo],
                keys=[keys[i] for i in todo],
                hosts=self.manifest.hosts,
                secrets=self.secrets,
                allowed_secrets=self.manifest.secrets,
            )
        now = self.world.now()
        unknown: list[tuple[int, dict]] = []  # ambiguous outcomes of calls that must not be retried blindly
        for i, res in zip(todo, results, strict=True):
            res = self.redact(res)
            one = items[i]
            if "err" in res and res["err"].get("ambiguous") and classes[i] is Effect.NON_IDEMPOTENT:
                unknown.append((i, res["err"]))  # its intent stays open: the journal says "may have happened"
                continue
            if "ok" in res and replayed_by_server(res["ok"]):
                res = {"ok": {**res["ok"], "replayed": True}}
                self.emit(
                    "http.replayed",
                    node=one.get("node"),
                    data={"key": keys[i], "status": res["ok"].get("status"), "effect": effects[i]},
                )
            state = DONE if "ok" in res else FAILED
            if i in tools:
                ok = res.get("ok") or {}
                self.agents.result(
                    tools[i], result={"status": ok.get("status"), "body": ok.get("body")}, error=res.get("err")
                )
            self.journal.add(
                Record(
                    seqs[i],
                    "http.request",
                    hashes[i],
                    state,
                    one.get("node"),
                    self.redact(one),
                    res,
                    created_at=now,
                    completed_at=now,
                )
            )
            out[i] = res
        if any(classes[i] is Effect.NON_IDEMPOTENT for i in todo):
            self.flush()  # a result that cannot be asked for again must not be lost
        if unknown:
            i, err = unknown[0]
            one = items[i]
            raise AmbiguousSideEffect(
                f"{one.get('method')} {one.get('url')} (node {one.get('node') or '-'}, call {seqs[i]}) may or may "
                f"not have been applied ({err.get('code')}: {err.get('message')}), and its node says the server "
                "does not deduplicate by Idempotency-Key (idempotency: none): it is not retried; check the "
                f"server for key {keys[i]}",
                details={
                    "seq": seqs[i],
                    "capability": "http.request",
                    "node": one.get("node"),
                    "key": keys[i],
                    "error": err,
                    "request": self.redact({k: one.get(k) for k in ("method", "url")}),
                },
            )
        return {"responses": out}

    # -- commits -----------------------------------------------------------------------------------------

    def flush(self, extra: Callable[[Any], Any] | None = None) -> Any:
        """Commit pending journal records and events (and ``extra``'s writes) in one group-committed transaction."""
        with self._lock:
            return self._flush(extra)

    def _flush(self, extra: Callable[[Any], Any] | None) -> Any:
        self._pending_since = None
        inserts, updates = self.journal.take_pending()
        events, self._events = self._events, []
        deferred, self._deferred = self._deferred, []
        after, self._after_commit = self._after_commit, []
        if deferred:
            last = extra

            def extra(s: Any) -> Any:
                for write in deferred:
                    write(s)
                return last(s) if last is not None else None

        written = self.world.committer.commit(
            Flush(
                run_id=self.run_id,
                owner=self.owner,
                inserts=[_row(self.run_id, r) for r in inserts],
                updates=[
                    {
                        "run_id": self.run_id,
                        "seq": r.seq,
                        "state": r.state,
                        "result": r.result,
                        "completed_at": r.completed_at,
                    }
                    for r in updates
                ],
                events=events,
                extra=extra,
            )
        )
        for then in after:
            then()
        if events:
            self.world.publish(self.run_id, [{**e, "seq": n} for e, n in zip(events, written.event_seqs, strict=True)])
        return written.extra

    # -- limits ------------------------------------------------------------------------------------------

    def _check_limits(self) -> None:
        if self.world.stopping.is_set():
            raise Released()
        now = time.monotonic()
        if now > self.deadline:
            raise LimitExceeded(
                f"the run exceeded its time limit of {self.timeout_seconds:g} s (settings.timeout_seconds)",
                details={"limit": "timeout_seconds", "value": self.timeout_seconds, "node": self.current_node},
            )
        if now >= self._next_cancel_poll:
            self._next_cancel_poll = now + CANCEL_POLL_SECONDS
            with self.world.db.session() as s:
                if runs.is_cancel_requested(s, self.run_id):
                    raise Cancelled()


class AgentGate:
    """The host's own check of every call an agent node makes (the guest checks too, but is not trusted to).

    An agent node may call the outside only through its tools: each such call carries ``"tool": {"agent",
    "name", "call_id", "arguments"}`` and is performed only if the tool is in the manifest's table of that
    agent, the model asked for exactly that call id and tool in its last answer, the arguments are valid
    against the tool's schema, and the call goes where the tool goes (its method and host, its workflow, its
    namespace). Anything else is refused (``tool_refused``), shown as ``agent.tool_refused``, and not performed.
    """

    # what an agent node calls for itself rather than for a tool
    OWN = frozenset(
        {"llm.chat", "clock.now", "timer.wait", "random.bytes", "node.event", "log.write", "approval.request"}
    )
    TOOL_CAPS = {"http": "http.request", "subflow": "workflow.call", "kv.get": "kv.get", "kv.set": "kv.set"}

    def __init__(self, host: RunHost):
        self.host = host
        self.asked: dict[str, dict[str, str]] = {}  # agent node -> {call id: tool name} of its last answer
        self.totals: dict[str, dict[str, Any]] = {}  # agent node -> tokens and cost so far (events)
        self.used: dict[tuple[str, str], int] = {}  # (agent node, tool) -> calls made in its current attempt
        self._validators: dict[tuple[str, str], Any] = {}

    def started(self, node: Any) -> None:
        """An attempt of ``node`` starts: its tools' budgets start again (as the guest's do)."""
        for key in [k for k in self.used if k[0] == node]:
            del self.used[key]

    def replayed(self, request: Any) -> None:
        """A tool call answered from the journal still counts against its tool's budget."""
        if (
            isinstance(request, dict)
            and isinstance(request.get("tool"), dict)
            and request.get("node") in self.host.manifest.agents
        ):
            key = (request["node"], request["tool"].get("name"))
            self.used[key] = self.used.get(key, 0) + 1

    def observe(self, request: dict, result: dict) -> None:
        """Note what the model asked for in an answer (live or replayed from the journal)."""
        node = request.get("node")
        calls = ((result or {}).get("message") or {}).get("tool_calls") or []
        self.asked[node] = {c.get("id"): c.get("name") for c in calls if isinstance(c, dict)}

    def agent_turn(self, node: str, request: dict, result: dict) -> None:
        """A live answer: remember its tool calls, report the turn, refuse at once what names no tool."""
        self.observe(request, result)
        table = (self.host.manifest.agents.get(node) or {}).get("tools") or {}
        usage = result.get("usage") or {}
        total = self.totals.setdefault(node, {"input_tokens": 0, "output_tokens": 0, "cost_usd": None})
        total["input_tokens"] += int(usage.get("input_tokens") or 0)
        total["output_tokens"] += int(usage.get("output_tokens") or 0)
        if result.get("cost_usd") is not None:
            total["cost_usd"] = (total["cost_usd"] or 0) + result["cost_usd"]
        message = result.get("message") or {}
        calls = message.get("tool_calls") or []
        self.host.emit(
            "agent.turn",
            node=node,
            data={
                "turn": request.get("turn"),
                "model": result.get("model"),
                "sent": _new_messages(request.get("messages") or []),
                "content": w.cut(self.host, message.get("content")),
                "tool_calls": [
                    {"id": c.get("id"), "name": c.get("name"), "arguments": c.get("arguments", c.get("arguments_text"))}
                    for c in calls
                ],
                "finish_reason": result.get("finish_reason"),
                "usage": {k: usage.get(k) for k in ("input_tokens", "output_tokens")},
                "cost_usd": result.get("cost_usd"),
                "total": dict(total),
            },
        )
        for c in calls:
            name = c.get("name")
            if name not in table:
                self._refused(
                    node,
                    name,
                    c.get("id"),
                    f"the model asked for {name!r}, which is not a tool of this agent "
                    f"(its tools: {', '.join(sorted(table)) or 'none'})",
                )
                continue
            # checked here, before the guest's hooks and approval expressions see them: those may assume the
            # schema holds (a string where a number belongs must not reach `args['amount'] > 50`)
            problem = c.get("arguments_error") or self._invalid(node, name, table[name], c.get("arguments"))
            if problem:
                c["arguments_error"] = problem  # journaled with the answer: a replay sees the same verdict
                self._refused(node, name, c.get("id"), problem, code="invalid_arguments")

    def check(self, capability: str, request: Any) -> dict | HostCallError | None:
        """None: not an agent's tool call (nothing to check); the tag when the call may go ahead; else the
        refusal, already reported."""
        agents = self.host.manifest.agents
        node = request.get("node") if isinstance(request, dict) else None
        if not agents or node not in agents:
            return None
        tag = request.get("tool")
        if capability in self.OWN:
            return None
        if not isinstance(tag, dict):
            return self._refused(node, None, None, f"agent {node} may call {capability} only through one of its tools")
        name, call_id, args = tag.get("name"), tag.get("call_id"), tag.get("arguments")
        table = agents[node].get("tools") or {}
        tool = table.get(name)
        if tool is None:
            return self._refused(node, name, call_id, f"{name!r} is not a tool of agent {node}")
        if self.asked.get(node, {}).get(call_id) != name:
            return self._refused(node, name, call_id, f"the model did not ask for call {call_id!r} of {name!r}")
        problem = self._invalid(node, name, tool, args)
        if problem:
            return self._refused(node, name, call_id, problem, code="invalid_arguments")
        wrong = self._wrong_target(capability, request, tool)
        if wrong:
            return self._refused(node, name, call_id, f"tool {name!r} {wrong}")
        used = self.used.get((node, name), 0)
        in_one_place = sum(1 for n, _i in self.host.open_nodes if n == node) <= 1  # a map runs items at once
        if tool.get("max_calls") is not None and in_one_place and used >= tool["max_calls"]:
            return self._refused(
                node,
                name,
                call_id,
                f"tool {name!r} may be called {tool['max_calls']} times per run of the node",
                code="budget_spent",
            )
        self.used[(node, name)] = used + 1
        self.host.emit(
            "agent.tool_call", node=node, data={"tool": name, "call_id": call_id, "arguments": self.host.preview(args)}
        )
        return {"node": node, "tool": name, "call_id": call_id}

    def result(self, tag: dict, *, result: Any = None, error: Any = None) -> None:
        data: dict[str, Any] = {"tool": tag["tool"], "call_id": tag["call_id"], "ok": error is None}
        if error is None:
            data["result"] = self.host.preview(result)
        else:
            data["error"] = w.cut_error(self.host, error)
        self.host.emit("agent.tool_result", node=tag["node"], data=data)

    def _invalid(self, node: str, name: str, tool: dict, args: Any) -> str | None:
        from jsonschema import Draft202012Validator

        key = (node, name)
        if key not in self._validators:
            self._validators[key] = Draft202012Validator(tool.get("parameters") or {"type": "object"})
        if not isinstance(args, dict):
            return f"the arguments of {name!r} must be an object"
        found = []
        for error in self._validators[key].iter_errors(args):
            where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            found.append(f"args{where}: {error.message}")
        if not found:
            return None
        found.sort()
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        return f"the arguments of {name!r} are not valid: {'; '.join(found[:3])}{more}"

    @staticmethod
    def _wrong_target(capability: str, request: dict, tool: dict) -> str | None:
        kind = tool.get("kind")
        if AgentGate.TOOL_CAPS.get(kind) != capability:
            return f"is a {kind} tool; it cannot make a {capability} call"
        if kind == "http":
            from urllib.parse import urlsplit

            method = str(request.get("method", "")).upper()
            if method != tool.get("method"):
                return f"may only send {tool.get('method')}, not {method}"
            try:
                host = (urlsplit(str(request.get("url", ""))).hostname or "").lower()
            except ValueError:
                host = ""
            if host not in (tool.get("hosts") or ()):
                return f"may only reach {', '.join(tool.get('hosts') or ())}, not {host or 'that URL'}"
            auth = request.get("auth") if isinstance(request.get("auth"), dict) else {}
            if auth.get("secret") != tool.get("secret"):
                return f"may only use {'secret ' + repr(tool['secret']) if tool.get('secret') else 'no secret'}"
        elif kind == "subflow" and request.get("workflow") != tool.get("workflow"):
            return f"may only run workflow {tool.get('workflow')}, not {request.get('workflow')}"
        elif kind in ("kv.get", "kv.set") and request.get("namespace") != tool.get("namespace"):
            return f"may only use namespace {tool.get('namespace')}, not {request.get('namespace')}"
        return None

    def _refused(self, node: str, name: Any, call_id: Any, reason: str, *, code: str = "tool_refused") -> HostCallError:
        self.host.emit(
            "agent.tool_refused", node=node, data={"tool": name, "call_id": call_id, "code": code, "reason": reason}
        )
        return HostCallError("tool_refused", f"refused, nothing was done: {reason}", details={"reason": code})


def _new_messages(messages: list) -> list:
    """The messages of a turn that the previous turn's event did not show: all up to the first answer on
    turn 1, else those after the last assistant message (tool results, a re-ask)."""
    last = max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"), default=-1)
    return messages[last + 1 :]


NON_IDEMPOTENT_METHODS = frozenset({"POST", "PATCH"})


def http_effect(request: Any) -> Effect:
    """The effect class of one HTTP request: idempotent with its key, unless the node says the server does
    not deduplicate by ``Idempotency-Key`` (``idempotency: none``) and the method is not idempotent itself."""
    if (
        isinstance(request, dict)
        and request.get("idempotency") == "none"
        and request.get("method") in NON_IDEMPOTENT_METHODS
    ):
        return Effect.NON_IDEMPOTENT
    return Effect.IDEMPOTENT_WITH_KEY


def replayed_by_server(response: dict) -> bool:
    """Whether the server answered from its idempotency cache (``Idempotent-Replayed: true``, as Stripe does)."""
    headers = response.get("headers") or {}
    return str(headers.get("idempotent-replayed", "")).strip().lower() == "true"


def _row(run_id: str, r: Record) -> dict:
    return {
        "run_id": run_id,
        "seq": r.seq,
        "capability": r.capability,
        "request_hash": r.request_hash,
        "node": r.node,
        "state": r.state,
        "request": r.request,
        "result": r.result,
        "created_at": r.created_at,
        "completed_at": r.completed_at,
    }
