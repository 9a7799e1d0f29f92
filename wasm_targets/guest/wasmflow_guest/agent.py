"""The agent node's loop, inside the guest: model turns through ``llm.chat``, tool calls through the ordinary
capabilities, hooks and approvals around each tool call, budgets, and a checked structured answer.

Everything here is deterministic given the host's answers: a replay feeds the journaled model turns back and
the same tool calls come out with the same effect ids, so nothing outside happens twice. The host adds the
connection, the key and the tool table to each turn and checks every tool call against the manifest itself;
what this loop refuses (an unknown tool, spent budgets, a veto) it refuses before asking the host anything.
"""

from __future__ import annotations

import json

from .errors import HostError, NodeError
from .hostcall import Call
from .jsonshape import problems

LLM_RETRIES = 3  # a retriable model error (429, 5xx, timeout) is retried this often, the conversation kept
MAX_BACKOFF_SECONDS = 60
MAX_TOOL_RESULT_CHARS = 32_000  # what the model gets of one tool result


class Tool:
    """One tool as the generated module declares it: ``request(args)`` renders the capability request."""

    __slots__ = ("name", "kind", "request", "fixed", "approval", "approval_timeout_seconds", "max_calls")

    def __init__(self, name, kind, request, *, fixed, approval="never", approval_timeout_seconds=86400, max_calls=None):
        self.name = name
        self.kind = kind  # "http" | "subflow" | "kv.get" | "kv.set"
        self.request = request
        self.fixed = fixed
        self.approval = approval  # "never" | "always" | callable(args) -> truthy
        self.approval_timeout_seconds = approval_timeout_seconds
        self.max_calls = max_calls


class _Run:
    """The state of one agent execution: what the node's output and a limit's error details report."""

    def __init__(self, node: str):
        self.node = node
        self.turns = 0
        self.calls: list = []  # {"tool", "call_id", "arguments", "status"}
        self.per_tool: dict = {}
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost = None
        self.model = None
        self.text = None
        self.paused_ms = 0  # time spent waiting for a person: not the agent's to count against its timeout
        self.timed = False

    def usage(self) -> dict:
        total = self.tokens_in + self.tokens_out
        return {"input_tokens": self.tokens_in, "output_tokens": self.tokens_out, "total_tokens": total}

    def partial(self) -> dict:
        return {
            "turns": self.turns,
            "tool_calls": self.calls,
            "usage": self.usage(),
            "cost_usd": self.cost,
            "last_text": self.text,
        }

    def limit(self, name: str, value, message: str) -> NodeError:
        return NodeError(
            "agent_limit",
            f"agent {self.node!r} stopped: {message} (limits.{name} = {value})",
            details={"limit": name, "value": value, "partial": self.partial()},
        )


def agent(
    node: str, *, instructions: str, prompt: str, tools: list, before_tool, after_tool, limits: dict, output: dict
):
    """``agent``: ask the model, run the tools it asks for (each one checked), until it answers."""
    run = _Run(node)
    table = {t.name: t for t in tools}
    timeout = limits.get("timeout_seconds")
    started = (yield Call("clock.now", {"node": node}))["epoch_ms"] if timeout else None
    run.timed = bool(timeout)
    schema = output.get("schema") if output.get("type") == "json" else None
    system = instructions or ""
    if schema is not None:
        system = (system + "\n\n" if system else "") + (
            "Answer with one JSON value only (no prose, no code fence) that matches this JSON Schema:\n"
            + json.dumps(schema, sort_keys=True)
        )
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    repairs = 0
    while True:
        if run.turns >= limits.get("max_turns", 10):
            raise run.limit("max_turns", limits.get("max_turns", 10), f"{run.turns} model turns without a final answer")
        if timeout:
            now = (yield Call("clock.now", {"node": node}))["epoch_ms"]
            busy = now - started - run.paused_ms
            if busy > timeout * 1000:
                raise run.limit(
                    "timeout", f"{timeout}s", f"the agent ran for {busy / 1000:.1f} s (approval waits not counted)"
                )
        run.turns += 1
        answer = yield from _turn(node, run.turns, messages)
        usage = answer.get("usage") or {}
        run.tokens_in += int(usage.get("input_tokens") or 0)
        run.tokens_out += int(usage.get("output_tokens") or 0)
        if answer.get("cost_usd") is not None:
            run.cost = (run.cost or 0) + answer["cost_usd"]
        run.model = answer.get("model") or run.model
        message = answer.get("message") or {}
        calls = message.get("tool_calls") or []
        run.text = message.get("content")
        max_tokens = limits.get("max_tokens")
        if max_tokens and run.tokens_in + run.tokens_out > max_tokens:
            raise run.limit("max_tokens", max_tokens, f"{run.tokens_in + run.tokens_out} tokens used")
        messages.append(_assistant(message))
        if not calls:
            text = message.get("content") or ""
            if schema is None:
                return _result(run, text, text)
            value, why = _parse(text, schema)
            if why is None:
                return _result(run, value, text)
            if repairs >= output.get("max_repairs", 2):
                raise NodeError(
                    "invalid_output",
                    f"agent {node!r}: the answer does not match config.output.schema after {repairs} re-asks: "
                    + "; ".join(why),
                    details={"problems": why, "answer": text, "partial": run.partial()},
                )
            repairs += 1
            messages.append(
                {
                    "role": "user",
                    "content": "That answer is not valid: " + "; ".join(why) + ". Answer again with the JSON only.",
                }
            )
            continue
        for i, call in enumerate(calls):
            content = yield from _tool_call(run, table, call, i, limits, before_tool, after_tool)
            messages.append({"role": "tool", "tool_call_id": call.get("id", ""), "content": content})


def _turn(node: str, turn: int, messages: list):
    """One ``llm.chat`` call; a retriable failure waits (a durable timer) and asks again, same conversation."""
    attempt = 0
    while True:
        try:
            return (yield Call("llm.chat", {"node": node, "turn": turn, "messages": messages}))
        except HostError as exc:
            attempt += 1
            if not exc.retriable or attempt > LLM_RETRIES:
                raise NodeError(
                    exc.code,
                    f"agent {node!r}, turn {turn}: {exc.message}",
                    retriable=exc.retriable,
                    details=exc.details,
                    outside=True,
                ) from None
            after = (exc.details or {}).get("retry_after_seconds")
            seconds = min(after if isinstance(after, int | float) and after > 0 else 2**attempt, MAX_BACKOFF_SECONDS)
            yield Call("timer.wait", {"seconds": seconds, "node": node})


def _assistant(message: dict) -> dict:
    out = {"role": "assistant", "content": message.get("content")}
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {
                "id": c.get("id", ""),
                "name": c.get("name", ""),
                "arguments": c.get("arguments", c.get("arguments_text", "")),
            }
            for c in message["tool_calls"]
        ]
    return out


def _parse(text: str, schema: dict):
    body = text.strip()
    if body.startswith("```"):  # a fence despite the instructions: take what is inside
        body = body.strip("`")
        body = body[body.find("\n") + 1 :] if "\n" in body else body
    try:
        value = json.loads(body)
    except ValueError as exc:
        return None, [f"it is not JSON ({exc})"]
    found = problems(value, schema)
    return (value, None) if not found else (None, found)


def _result(run: _Run, value, text: str) -> dict:
    return {
        "output": value,
        "text": text,
        "model": run.model,
        "turns": run.turns,
        "tool_calls": run.calls,
        "usage": run.usage(),
        "cost_usd": run.cost,
    }


def _say(status: str, message: str) -> str:
    return json.dumps({"error": status, "message": message})


def _tool_call(run: _Run, table: dict, call: dict, index: int, limits: dict, before_tool, after_tool):
    """Run one tool call the model asked for; returns the tool message's content (the result or why not)."""
    name, call_id = call.get("name", ""), call.get("id", "")
    record = {"tool": name, "call_id": call_id, "arguments": call.get("arguments"), "status": "ok"}
    run.calls.append(record)
    tool = table.get(name)
    if tool is None:
        record["status"] = "refused"
        known = ", ".join(sorted(table)) or "none"
        return _say("refused", f"there is no tool named {name!r}; the tools are: {known}. Nothing was done.")
    if "arguments_error" in call:  # not JSON, or (checked by the host) not valid against the tool's schema
        record["status"] = "refused"
        return _say("invalid_arguments", f"{call['arguments_error']}. Nothing was done.")
    done = sum(run.per_tool.values())
    if done >= limits.get("max_tool_calls", 20):
        record["status"] = "refused"
        raise run.limit("max_tool_calls", limits.get("max_tool_calls", 20), f"the model asked for tool call {done + 1}")
    if tool.max_calls is not None and run.per_tool.get(name, 0) >= tool.max_calls:
        record["status"] = "refused"
        return _say("budget_spent", f"{name} may be called at most {tool.max_calls} times; answer without it")
    args = call.get("arguments") or {}
    if before_tool is not None:
        verdict = _hook(run.node, "before_tool", before_tool, name, args)
        if verdict is False or isinstance(verdict, str):
            record["status"] = "vetoed"
            why = verdict if isinstance(verdict, str) else "a check of this workflow does not allow this call"
            return _say("vetoed", f"{name} was not called: {why}")
        if isinstance(verdict, dict):
            args = verdict
            record["arguments"] = args
    run.per_tool[name] = run.per_tool.get(name, 0) + 1
    tag = {"agent": run.node, "name": name, "call_id": call_id, "arguments": args}
    # the effect's identity: turn, position and the model's call id (a node retry has a new conversation whose
    # calls must not share keys with the old one's)
    safe_id = "".join(ch for ch in str(call_id) if ch.isascii() and (ch.isalnum() or ch in "_-"))[:48]
    label = f"t{run.turns}.{index}" + (f"~{safe_id}" if safe_id else "")
    merged = {**args, **tool.fixed()}
    if _needs_approval(run.node, tool, merged):
        asked = (yield Call("clock.now", {"node": run.node}))["epoch_ms"] if run.timed else 0
        decision = yield Call(
            "approval.request",
            {
                "title": f"Agent {run.node} wants to call {name}",
                "details": json.dumps(merged, indent=2, sort_keys=True),  # what would be sent, fixed ones too
                "timeout_seconds": tool.approval_timeout_seconds,
                "timeout_action": "reject",
                "approvers": [],
                "node": run.node,
                "tool": tag,
            },
        )
        if run.timed:
            run.paused_ms += (yield Call("clock.now", {"node": run.node}))["epoch_ms"] - asked
        if not decision.get("approved"):
            record["status"] = "rejected"
            by = decision.get("by") or ("the timeout" if decision.get("decision") == "timed_out" else "a person")
            reason = decision.get("reason") or ""
            return _say(
                "rejected", f"{name} was rejected by {by}" + (f": {reason}" if reason else "") + ". Nothing was done."
            )
    try:
        result = yield from _perform(run.node, tool, merged, tag, label)
    except HostError as exc:
        record["status"] = "refused" if exc.code == "tool_refused" else "error"
        return _say(exc.code, exc.message)
    if after_tool is not None:
        shaped = _hook(run.node, "after_tool", after_tool, name, args, result)
        if shaped is not None:
            result = shaped
    text = json.dumps(result, ensure_ascii=False, sort_keys=True)
    if len(text) > MAX_TOOL_RESULT_CHARS:
        text = text[:MAX_TOOL_RESULT_CHARS] + f" ... [cut: {len(text):,} characters]"
    return text


def _needs_approval(node: str, tool: Tool, args: dict) -> bool:
    if tool.approval == "never":
        return False
    if tool.approval == "always":
        return True
    try:
        return bool(tool.approval(args))
    except Exception as exc:  # noqa: BLE001 - a bug in the workflow's expression, reported as such
        raise NodeError(
            "hook_failed", f"agent {node!r}: the approval expression of tool {tool.name!r} failed: {exc!r}"
        ) from None


def _hook(node: str, which: str, fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001
        raise NodeError("hook_failed", f"agent {node!r}: hooks.{which} failed on tool {args[0]!r}: {exc!r}") from None


def _perform(node: str, tool: Tool, args: dict, tag: dict, label: str):
    try:
        request = tool.request(args)
    except Exception as exc:  # noqa: BLE001
        raise NodeError(
            "tool_template_failed", f"agent {node!r}: tool {tool.name!r} could not be built: {exc!r}"
        ) from None
    request = {**request, "node": node, "tool": tag, "effect_label": label}
    if tool.kind == "http":
        request.setdefault("response", "auto")
        resp = yield Call("http.request", request)
        return {"status": resp.get("status"), "body": resp.get("body")}
    if tool.kind == "subflow":
        resp = yield Call("workflow.call", {**request, "wait": True})
        return resp.get("output")
    if tool.kind == "kv.get":
        resp = yield Call("kv.get", request)
        return {"found": bool(resp.get("found")), "value": resp.get("value")}
    yield Call("kv.set", request)
    return {"key": request["key"], "stored": True}
