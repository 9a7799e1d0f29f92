import py from "../../../app/capabilities.py?raw";
import { describe, expect, it } from "vitest";
import { normalizeChat } from "./agent";
import { CAPABILITIES, HostErr, MockHost } from "./host";
import type { Mocks, RecordedCall } from "./types";

// An agent with an HTTP tool, a kv.get tool and a gated refund tool (build/agent-spec.md).
const doc = {
  nodes: [
    { id: "start", type: "trigger.manual" },
    {
      id: "triage",
      type: "agent",
      config: {
        model: { base_url: "https://api.openai.com/v1", model: "gpt-4o-mini", prices: { input_per_million: 0.15, output_per_million: 0.6 } },
        prompt: "Ticket: {{ input }}",
        tools: [
          { name: "lookup_order", description: "d", parameters: { type: "object", properties: { order_id: { type: "string" } }, required: ["order_id"] }, http: { method: "GET", url: "https://shop.example.com/orders/{{ args['order_id'] }}" } },
          { name: "notes", description: "d", kv: { op: "get", namespace: "notes", key: "{{ args['id'] }}" } },
          { name: "refund", description: "d", http: { method: "POST", url: "https://shop.example.com/refunds" }, approval: "always" },
        ],
      },
    },
  ],
};

const turn = (content: string | null, calls: { id?: string; name: string; arguments?: unknown }[] = [], usage = { input_tokens: 10, output_tokens: 3 }) => ({
  kind: "ok" as const,
  capability: "llm.chat",
  value: { message: { content, tool_calls: calls }, usage },
});

function makeHost(mocks: Mocks, canAskApproval = false) {
  const calls: RecordedCall[] = [];
  const host = new MockHost({ mocks, document: doc, canAskApproval }, { event: () => {}, call: (c) => calls.push(c) });
  host.beginExecution();
  const chat = (n: number) => JSON.parse(host.call("llm.chat", JSON.stringify({ node: "triage", turn: n, messages: [{ role: "user", content: "hi" }] })));
  const http = (one: Record<string, unknown>) => JSON.parse(host.call("http.request", JSON.stringify({ requests: [{ node: "triage", ...one }] }))).responses[0];
  const tag = (name: string, call_id: string, args: unknown = {}) => ({ agent: "triage", name, call_id, arguments: args });
  return { host, calls, chat, http, tag };
}

describe("mock host: agent nodes", () => {
  it("answers llm.chat from the node's scripted turns, in order, filling in the response document", () => {
    const { chat } = makeHost({
      triage: [turn(null, [{ id: "call_1", name: "lookup_order", arguments: { order_id: "A1" } }], { input_tokens: 100, output_tokens: 20 }), turn("It shipped.")],
    });
    expect(chat(1)).toEqual({
      model: "gpt-4o-mini",
      message: { role: "assistant", content: null, tool_calls: [{ id: "call_1", name: "lookup_order", arguments: { order_id: "A1" } }] },
      finish_reason: "tool_calls",
      usage: { input_tokens: 100, output_tokens: 20 },
      cost_usd: (100 * 0.15 + 20 * 0.6) / 1e6,
    });
    expect(chat(2)).toMatchObject({ message: { content: "It shipped.", tool_calls: [] }, finish_reason: "stop" });
    const third = (() => {
      try {
        chat(3);
      } catch (e) {
        return e;
      }
    })();
    expect(third).toBeInstanceOf(HostErr);
    expect(JSON.parse((third as HostErr).payload)).toMatchObject({ code: "no_mock", message: expect.stringContaining("no mock for node triage (model turn 3)") });
  });

  it("answers the tool calls from the same list, each capability in order, untagged entries being turns", () => {
    const { chat, http, host, tag, calls } = makeHost({
      triage: [
        { kind: "ok", value: { message: { content: null, tool_calls: [{ id: "c1", name: "lookup_order", arguments: { order_id: "A1" } }, { id: "c2", name: "notes", arguments: { id: "A1" } }] } } },
        { kind: "ok", capability: "http.request", value: { status: 200, headers: {}, body: { total: 21 } } },
        { kind: "ok", capability: "kv.get", value: { found: true, value: "VIP" } },
        { kind: "ok", value: { message: { content: "done" } } },
      ],
    });
    expect(chat(1).message.tool_calls.map((c: { id: string }) => c.id)).toEqual(["c1", "c2"]);
    expect(http({ method: "GET", url: "https://shop.example.com/orders/A1", tool: tag("lookup_order", "c1", { order_id: "A1" }) })).toEqual({ ok: { status: 200, headers: {}, body: { total: 21 } } });
    expect(JSON.parse(host.call("kv.get", JSON.stringify({ node: "triage", namespace: "notes", key: "A1", tool: tag("notes", "c2") })))).toEqual({ found: true, value: "VIP" });
    expect(chat(2).message.content).toBe("done");
    expect(calls.map((c) => [c.capability, c.source])).toEqual([
      ["llm.chat", "mock"],
      ["http.request", "mock"],
      ["kv.get", "mock"],
      ["llm.chat", "mock"],
    ]);
  });

  it("refuses what the server host refuses: untagged calls, unknown tools, other capabilities or methods, call ids not asked for", () => {
    const { chat, http, host, tag } = makeHost({
      triage: [turn(null, [{ id: "c1", name: "lookup_order", arguments: { order_id: "A1" } }]), { kind: "ok", capability: "http.request", value: { status: 200 } }],
    });
    chat(1);
    const args = { order_id: "A1" };
    const refused = (r: { err?: { code: string; message: string } }) => (expect(r.err?.code).toBe("tool_refused"), r.err!.message);
    expect(refused(http({ method: "GET", url: "https://shop.example.com/orders/A1" }))).toContain("may call http.request only through one of its tools");
    expect(refused(http({ method: "GET", url: "https://x/", tool: tag("delete_all", "c1") }))).toContain("'delete_all' is not a tool of agent triage");
    expect(refused(http({ method: "GET", url: "https://x/", tool: tag("lookup_order", "c9", args) }))).toContain("the model did not ask for call 'c9' of 'lookup_order'");
    expect(refused(http({ method: "DELETE", url: "https://x/", tool: tag("lookup_order", "c1", args) }))).toContain("may only send GET, not DELETE");
    const kv = (() => {
      try {
        host.call("kv.get", JSON.stringify({ node: "triage", namespace: "notes", key: "k", tool: tag("lookup_order", "c1", args) }));
      } catch (e) {
        return JSON.parse((e as HostErr).payload);
      }
    })();
    expect(kv).toMatchObject({ code: "tool_refused", message: expect.stringContaining("does not call kv.get (it calls http.request)") });
    expect(refused(http({ method: "GET", url: "https://x/", tool: tag("lookup_order", "c1", { order_id: 7 }) }))).toContain("args.order_id: 7 is not of type 'string'");
    // the refusals used no mock: the real call still gets its answer
    expect(http({ method: "GET", url: "https://x/", tool: tag("lookup_order", "c1", args) })).toEqual({ ok: { status: 200 } });
  });

  it("asks for a gated tool's approval from the list, or the person when none is scripted", () => {
    const { chat, host, tag } = makeHost({ triage: [turn(null, [{ id: "r1", name: "refund", arguments: { amount: 80 } }])] }, true);
    chat(1);
    const ask = () => host.call("approval.request", JSON.stringify({ node: "triage", title: "refund?", tool: tag("refund", "r1") }));
    expect(ask).toThrow(/waits for approval/);
    const scripted = makeHost({ triage: [turn(null, [{ id: "r1", name: "refund" }]), { kind: "ok", capability: "approval.request", value: { approved: false, reason: "too much" } }] });
    scripted.chat(1);
    expect(JSON.parse(scripted.host.call("approval.request", JSON.stringify({ node: "triage", title: "refund?", tool: scripted.tag("refund", "r1") })))).toMatchObject({
      approved: false,
      decision: "rejected",
      reason: "too much",
    });
  });

  it("marks a call whose arguments do not fit the tool's parameters, as the server host does", () => {
    const { chat } = makeHost({ triage: [turn(null, [{ id: "c1", name: "lookup_order", arguments: { id: "A1" } }, { id: "c2", name: "invented", arguments: {} }])] });
    expect(chat(1).message.tool_calls).toEqual([
      { id: "c1", name: "lookup_order", arguments: { id: "A1" }, arguments_error: "the arguments of 'lookup_order' are not valid: args: 'order_id' is a required property" },
      { id: "c2", name: "invented", arguments: {} },
    ]);
  });

  it("fills in call ids and a cost only where the scripted turn leaves them out", () => {
    expect(normalizeChat({ message: { tool_calls: [{ name: "x" }] } }, undefined, 2)).toMatchObject({
      model: "mock",
      message: { content: null, tool_calls: [{ id: "call_2_1", name: "x", arguments: {} }] },
      usage: { input_tokens: 0, output_tokens: 0 },
      cost_usd: null,
    });
    expect(normalizeChat({ model: "m", message: { content: "a" }, cost_usd: 0.5, finish_reason: "length" }, undefined, 1)).toMatchObject({ model: "m", cost_usd: 0.5, finish_reason: "length" });
  });
});

describe("capabilities", () => {
  it("the mock host answers every capability of app/capabilities.py", () => {
    const names = [...py.matchAll(/Capability\(\s*name="([a-z]+\.[a-z]+)"/g)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(10);
    expect([...CAPABILITIES].sort()).toEqual([...new Set(names)].sort());
  });
});
