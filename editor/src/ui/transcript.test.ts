import { describe, expect, it } from "vitest";
import type { RecordedCall } from "../dryrun/types";
import { reduceTranscript, stepsFromCalls, stepsFromEvents, toolMessage, type ToolItem, type TurnItem } from "./transcript";

const sys = { role: "system", content: "You triage tickets." };
const user = { role: "user", content: "Ticket: where is A1?" };
const asked = { role: "assistant", content: null, tool_calls: [{ id: "c1", name: "lookup_order", arguments: { order_id: "A1" } }] };

// A dry run's record: turn 1 asks for a tool, the tool answers, turn 2 is the final answer.
const calls: RecordedCall[] = [
  { seq: 1, capability: "node.event", node: "triage", request: { event: "started" }, response: {}, source: "recorded" },
  {
    seq: 2,
    capability: "llm.chat",
    node: "triage",
    request: { node: "triage", turn: 1, messages: [sys, user] },
    response: { model: "gpt-4o-mini", message: { role: "assistant", content: null, tool_calls: asked.tool_calls }, finish_reason: "tool_calls", usage: { input_tokens: 100, output_tokens: 20 }, cost_usd: 0.000027 },
    source: "mock",
  },
  {
    seq: 3,
    capability: "http.request",
    node: "triage",
    request: { method: "GET", url: "https://shop/orders/A1", node: "triage", tool: { agent: "triage", name: "lookup_order", call_id: "c1", arguments: { order_id: "A1" } } },
    response: { status: 200, headers: {}, body: { status: "shipped" } },
    source: "mock",
  },
  {
    seq: 4,
    capability: "llm.chat",
    node: "triage",
    request: { node: "triage", turn: 2, messages: [sys, user, asked, { role: "tool", tool_call_id: "c1", content: '{"status": 200, "body": {"status": "shipped"}}' }] },
    response: { model: "gpt-4o-mini", message: { role: "assistant", content: "A1 has shipped.", tool_calls: [] }, finish_reason: "stop", usage: { input_tokens: 150, output_tokens: 8 }, cost_usd: 0.0000273 },
    source: "mock",
  },
  { seq: 5, capability: "http.request", node: "other", request: { method: "GET", url: "https://x/" }, response: { status: 200 }, source: "mock" },
];

describe("transcript of a dry run", () => {
  it("shows the messages sent, each turn, the tool call with its result, and the totals", () => {
    const t = reduceTranscript(stepsFromCalls(calls, "triage"));
    expect(t.items.map((i) => i.kind)).toEqual(["turn", "tool", "turn"]);
    const [t1, tool, t2] = t.items as [TurnItem, ToolItem, TurnItem];
    expect(t1).toMatchObject({ turn: 1, model: "gpt-4o-mini", sent: [sys, user], content: null, toolCalls: [{ id: "c1", name: "lookup_order" }], usage: { input_tokens: 100, output_tokens: 20 } });
    expect(tool).toMatchObject({ call_id: "c1", tool: "lookup_order", arguments: { order_id: "A1" }, status: "ok", result: { status: 200, body: { status: "shipped" } } });
    // turn 2 sent only what was new: the tool result (what the model was told is kept with the call)
    expect(t2).toMatchObject({ turn: 2, content: "A1 has shipped.", toolCalls: [], sent: [{ role: "tool", tool_call_id: "c1" }] });
    expect(tool.told).toContain("shipped");
    expect(t.turns).toBe(2);
    expect(t.total).toEqual({ input_tokens: 250, output_tokens: 28, cost_usd: 0.000027 + 0.0000273 });
  });

  it("a failed model call, a refused and a failed tool call", () => {
    const steps = stepsFromCalls(
      [
        { seq: 1, capability: "llm.chat", node: "a", request: { turn: 1, messages: [user] }, response: { message: { content: null, tool_calls: [{ id: "x", name: "nope" }, { id: "y", name: "lookup" }] }, usage: { input_tokens: 1, output_tokens: 1 } }, source: "mock" },
        { seq: 2, capability: "http.request", node: "a", request: { tool: { name: "nope", call_id: "x" } }, error: { code: "tool_refused", message: "agent a has no tool 'nope'" }, source: "default" },
        { seq: 3, capability: "http.request", node: "a", request: { tool: { name: "lookup", call_id: "y" } }, error: { code: "timeout", message: "took too long" }, source: "mock" },
        { seq: 4, capability: "llm.chat", node: "a", request: { turn: 2, messages: [] }, error: { code: "no_mock", message: "no mock for node a (model turn 2)" }, source: "default" },
      ],
      "a",
    );
    const t = reduceTranscript(steps);
    const tools = t.items.filter((i): i is ToolItem => i.kind === "tool");
    expect(tools.map((x) => [x.call_id, x.status])).toEqual([
      ["x", "refused"],
      ["y", "error"],
    ]);
    expect(tools[0].reason).toContain("has no tool 'nope'");
    const last = t.items[t.items.length - 1] as TurnItem;
    expect(last).toMatchObject({ turn: 2, error: { code: "no_mock" }, usage: undefined });
    expect(t.total.cost_usd).toBeNull(); // no prices: no cost
  });
});

describe("transcript of a dry run with a gated tool", () => {
  it("shows the person's decision on the call, then its result", () => {
    const tag = { agent: "a", name: "refund", call_id: "r1", arguments: { amount: 80 } };
    const t = reduceTranscript(
      stepsFromCalls(
        [
          { seq: 1, capability: "llm.chat", node: "a", request: { turn: 1, messages: [user] }, response: { message: { content: null, tool_calls: [{ id: "r1", name: "refund", arguments: { amount: 80 } }] } }, source: "mock" },
          { seq: 2, capability: "approval.request", node: "a", request: { title: "Agent a wants to call refund", tool: tag }, response: { approved: true, decision: "approved", by: "editor", reason: "fine" }, source: "approval" },
          { seq: 3, capability: "http.request", node: "a", request: { method: "POST", tool: tag }, response: { status: 201, body: { refund: "x" } }, source: "mock" },
        ],
        "a",
      ),
    );
    expect(t.items.filter((i) => i.kind === "tool")).toMatchObject([{ call_id: "r1", status: "ok", approval: { status: "approved", by: "editor", reason: "fine" }, result: { status: 201 } }]);
  });
});

describe("transcript of a server run", () => {
  const ev = (seq: number, type: string, data: unknown, node = "triage") => ({ seq, type, node, data });
  it("builds the same conversation from agent.* events, with approvals", () => {
    const events = [
      ev(1, "node.started", {}),
      ev(2, "agent.turn", { turn: 1, model: "m", sent: [sys, user], content: "Checking.", tool_calls: [{ id: "r1", name: "refund", arguments: { amount: 80 } }], finish_reason: "tool_calls", usage: { input_tokens: 50, output_tokens: 9 }, cost_usd: null }),
      ev(3, "approval.requested", { approval: "run:5", title: "Agent triage wants to call refund" }),
      ev(4, "approval.decided", { key: "run:5", decision: "approved", by: "ann", reason: "ok" }),
      ev(5, "agent.tool_call", { tool: "refund", call_id: "r1", arguments: { amount: 80 } }),
      ev(6, "agent.tool_result", { tool: "refund", call_id: "r1", ok: true, result: { status: 201 } }),
      ev(7, "agent.turn", { turn: 2, model: "m", sent: [{ role: "tool", tool_call_id: "r1", content: "{}" }], content: "Refunded.", tool_calls: [], finish_reason: "stop", usage: { input_tokens: 70, output_tokens: 3 }, cost_usd: null }),
      ev(8, "agent.turn", { turn: 1 }, "elsewhere"),
    ];
    const t = reduceTranscript(stepsFromEvents(events, "triage"));
    const tool = t.items.find((i): i is ToolItem => i.kind === "tool")!;
    expect(tool).toMatchObject({ call_id: "r1", status: "ok", approval: { status: "approved", by: "ann", title: "Agent triage wants to call refund" }, result: { status: 201 } });
    expect(t.turns).toBe(2);
    expect(t.total).toEqual({ input_tokens: 120, output_tokens: 12, cost_usd: null });
  });

  it("shows agent.delta text while a turn streams, then the turn as answered", () => {
    const streaming = [ev(1, "agent.delta", { turn: 1, text: "Hel" }), ev(2, "agent.delta", { turn: 1, text: "lo" })];
    const live = reduceTranscript(stepsFromEvents(streaming, "triage"));
    expect(live.items).toMatchObject([{ kind: "turn", turn: 1, streaming: true, content: "Hello" }]);
    expect(live.turns).toBe(0);
    const done = reduceTranscript(stepsFromEvents([...streaming, ev(3, "agent.turn", { turn: 1, sent: [user], content: "Hello!", tool_calls: [], usage: { input_tokens: 5, output_tokens: 2 } })], "triage"));
    expect(done.items).toMatchObject([{ kind: "turn", streaming: false, content: "Hello!", sent: [user] }]);
  });

  it("a call that did nothing (vetoed by a hook, refused, rejected) shows what the model was told", () => {
    const events = [
      ev(1, "agent.turn", { turn: 1, sent: [user], tool_calls: [{ id: "v", name: "refund", arguments: { amount: 5000 } }, { id: "z", name: "hack" }], usage: {} }),
      ev(2, "agent.tool_refused", { tool: "hack", call_id: "z", code: "unknown_tool", reason: "no tool hack" }),
      ev(3, "agent.turn", { turn: 2, sent: [{ role: "tool", tool_call_id: "v", content: '{"error": "vetoed", "message": "refunds over 1000 need a manager"}' }, { role: "tool", tool_call_id: "z", content: '{"error": "refused", "message": "there is no tool named hack"}' }], content: "I cannot.", tool_calls: [] }),
    ];
    const t = reduceTranscript(stepsFromEvents(events, "triage"));
    const tools = Object.fromEntries(t.items.filter((i): i is ToolItem => i.kind === "tool").map((i) => [i.call_id, i]));
    expect(tools.z).toMatchObject({ status: "refused", reason: "no tool hack" });
    expect(tools.v).toMatchObject({ status: "vetoed", reason: "refunds over 1000 need a manager", arguments: { amount: 5000 } });
    expect(t.items.map((i) => i.kind)).toEqual(["turn", "tool", "tool", "turn"]);
  });

  it("a rejected call: the approval, then what the model was told", () => {
    const events = [
      ev(1, "agent.turn", { turn: 1, sent: [user], tool_calls: [{ id: "r1", name: "refund", arguments: { amount: 80 } }], usage: {} }),
      ev(2, "approval.requested", { approval: "k", title: "Agent triage wants to call refund" }),
      ev(3, "approval.decided", { key: "k", decision: "rejected", by: "bob", reason: "no" }),
      ev(4, "agent.turn", { turn: 2, sent: [{ role: "tool", tool_call_id: "r1", content: '{"error": "rejected", "message": "refund was rejected by bob: no. Nothing was done."}' }], content: "Sorry.", tool_calls: [] }),
    ];
    const t = reduceTranscript(stepsFromEvents(events, "triage"));
    expect(t.items.filter((i) => i.kind === "tool")).toMatchObject([{ call_id: "r1", status: "rejected", approval: { status: "rejected", by: "bob" } }]);
  });

  it("a node that starts over (a retry, a map item) shows its last run", () => {
    const turn1 = (text: string) => ev(0, "agent.turn", { turn: 1, sent: [user], content: text, tool_calls: [], usage: { input_tokens: 1, output_tokens: 1 } });
    const t = reduceTranscript(stepsFromEvents([turn1("first"), ev(1, "agent.delta", { turn: 1, text: "sec" }), turn1("second")], "triage"));
    expect(t.restarts).toBe(1);
    expect(t.items).toMatchObject([{ kind: "turn", content: "second", streaming: false }]);
    expect(t.total.input_tokens).toBe(1);
  });

  it("a model call retried after a failure stays one turn", () => {
    const t = reduceTranscript(
      stepsFromCalls(
        [
          { seq: 1, capability: "llm.chat", node: "a", request: { turn: 1, messages: [user] }, error: { code: "rate_limited", message: "slow down", retriable: true }, source: "mock" },
          { seq: 2, capability: "timer.wait", node: "a", request: { seconds: 2 }, response: {}, source: "default" },
          { seq: 3, capability: "llm.chat", node: "a", request: { turn: 1, messages: [user] }, response: { message: { content: "hi" }, usage: { input_tokens: 3, output_tokens: 1 } }, source: "mock" },
        ],
        "a",
      ),
    );
    expect(t.restarts).toBe(0);
    expect(t.items).toMatchObject([{ kind: "turn", turn: 1, content: "hi", error: undefined, retried: { times: 1, error: { code: "rate_limited" } } }]);
  });

  it("reads what a tool message says", () => {
    expect(toolMessage("rejected by ann: no")).toMatchObject({ status: "rejected" });
    expect(toolMessage({ status: "vetoed", reason: "r" })).toEqual({ status: "vetoed", reason: "r" });
    expect(toolMessage('{"error": {"code": "tool_refused", "message": "m"}}')).toEqual({ status: "refused", reason: "m" });
    expect(toolMessage("something")).toMatchObject({ status: "not_run" });
    expect(toolMessage('{"error": "invalid_arguments", "message": "args: bad. Nothing was done."}')).toEqual({ status: "refused", reason: "args: bad. Nothing was done." });
    expect(toolMessage('{"error": "timeout", "message": "took 30 s"}')).toEqual({ status: "error", reason: "took 30 s" });
  });
});
