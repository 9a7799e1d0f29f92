import { describe, expect, it } from "vitest";
import { buildAgentMocks, exampleArgs, newTurn, parseAgentMocks, toolInfos } from "./agentMocks";
import { mocksFromRun } from "./fixtures";
import { MockHost } from "./host";

const config = {
  tools: [
    { name: "lookup_order", http: { method: "GET", url: "u" }, parameters: { type: "object", properties: { order_id: { type: "string" }, qty: { type: "integer" } } } },
    { name: "remember", kv: { op: "set", namespace: "n", key: "k", value: "v" } },
    { name: "refund", http: { method: "POST", url: "u" }, approval: "args['amount'] > 50" },
    { name: "check", subflow: { workflow: "fraud" } },
  ],
};
const tools = toolInfos(config);

describe("scripted turns of an agent", () => {
  it("knows each tool's capability and gate, and starts arguments from its parameters", () => {
    expect(tools.map((t) => [t.name, t.capability, t.gated])).toEqual([
      ["lookup_order", "http.request", false],
      ["remember", "kv.set", false],
      ["refund", "http.request", true],
      ["check", "workflow.call", false],
    ]);
    expect(exampleArgs(config.tools[0].parameters)).toEqual({ order_id: "", qty: 0 });
    expect(newTurn(tools, "tool", 1).calls).toMatchObject([{ id: "call_1_1", name: "lookup_order", args: '{"order_id":"","qty":0}', answer: { kind: "http", status: "200" } }]);
  });

  it("turns a tool-call turn, its answers and a final answer into the node's mock list, and back", () => {
    const draft = {
      prelude: [],
      turns: [
        {
          text: "",
          calls: [
            { id: "c1", name: "lookup_order", args: '{"order_id": "A1"}', answer: { kind: "http" as const, status: "200", body: '{"total": 21}' }, approval: "approve" as const },
            { id: "c2", name: "refund", args: '{"amount": 80}', answer: { kind: "http" as const, status: "201", body: "" }, approval: "reject" as const },
            { id: "c3", name: "remember", args: "{}", answer: { kind: "none" as const }, approval: "approve" as const },
          ],
          inTokens: "120",
          outTokens: "30",
          error: null,
          extra: [],
        },
        { text: "Total is 21.", calls: [], inTokens: "200", outTokens: "9", error: null, extra: [] },
      ],
    };
    const { mocks, problems } = buildAgentMocks(draft, tools);
    expect(problems).toEqual([]);
    expect(mocks).toEqual([
      {
        kind: "ok",
        capability: "llm.chat",
        value: {
          message: {
            role: "assistant",
            content: null,
            tool_calls: [
              { id: "c1", name: "lookup_order", arguments: { order_id: "A1" } },
              { id: "c2", name: "refund", arguments: { amount: 80 } },
              { id: "c3", name: "remember", arguments: {} },
            ],
          },
          usage: { input_tokens: 120, output_tokens: 30 },
        },
      },
      { kind: "ok", capability: "http.request", value: { status: 200, headers: { "content-type": "application/json" }, body: { total: 21 } } },
      { kind: "ok", capability: "approval.request", value: { approved: false, decision: "rejected", by: "dry-run" } },
      { kind: "ok", capability: "llm.chat", value: { message: { role: "assistant", content: "Total is 21.", tool_calls: [] }, usage: { input_tokens: 200, output_tokens: 9 } } },
    ]);
    const back = parseAgentMocks(mocks, tools);
    expect(back.turns.map((t) => [t.text, t.inTokens, t.outTokens, t.calls.map((c) => [c.id, c.name, c.approval, c.answer.kind])])).toEqual([
      [
        "",
        "120",
        "30",
        [
          ["c1", "lookup_order", "approve", "http"],
          ["c2", "refund", "reject", "http"],
          ["c3", "remember", "approve", "none"],
        ],
      ],
      ["Total is 21.", "200", "9", []],
    ]);
    expect(back.turns[0].calls[0].answer).toEqual({ kind: "http", status: "200", body: '{\n  "total": 21\n}' });
    expect(buildAgentMocks(back, tools).mocks).toEqual(mocks);
  });

  it("says what keeps the form from being a mock list", () => {
    const bad = {
      prelude: [],
      turns: [
        { text: "", calls: [], inTokens: "x", outTokens: "", error: null, extra: [] },
        { text: "", calls: [{ id: "c", name: "lookup_order", args: "{nope", answer: { kind: "http" as const, status: "99", body: "" }, approval: "approve" as const }], inTokens: "", outTokens: "", error: null, extra: [] },
      ],
    };
    expect(buildAgentMocks(bad, tools).problems).toEqual([
      "turn 1: give the model's answer, a tool call, or both",
      "turn 1: tokens in: a whole number of tokens",
      expect.stringMatching(/^turn 2, call 1 \(lookup_order\): arguments: not JSON/),
      "turn 2, call 1 (lookup_order): status is an HTTP status 100..599",
    ]);
  });

  it("reads a server run's journal (Use as mocks) as turns, and the dry run answers the same", () => {
    const run = {
      id: "r1",
      journal: [
        { seq: 1, capability: "node.event", node: "triage", state: "done", result: {} },
        { seq: 2, capability: "llm.chat", node: "triage", state: "done", request: { node: "triage", turn: 1 }, result: { model: "gpt-4o-mini", message: { role: "assistant", content: null, tool_calls: [{ id: "call_abc", name: "check", arguments: { id: 1 } }] }, finish_reason: "tool_calls", usage: { input_tokens: 40, output_tokens: 12 }, cost_usd: 0.00001 } },
        { seq: 3, capability: "workflow.call", node: "triage", state: "done", request: { workflow: "fraud" }, result: { run_id: "child", output: { ok: true } } },
        { seq: 4, capability: "llm.chat", node: "triage", state: "done", request: { node: "triage", turn: 2 }, result: { model: "gpt-4o-mini", message: { role: "assistant", content: "fine", tool_calls: [] }, finish_reason: "stop", usage: { input_tokens: 60, output_tokens: 2 }, cost_usd: 0.00002 } },
      ],
    };
    const mocks = mocksFromRun(run);
    const draft = parseAgentMocks(mocks.triage as never, tools);
    expect(draft.turns).toMatchObject([
      { calls: [{ id: "call_abc", name: "check", args: '{"id":1}', answer: { kind: "value", text: '{\n  "ok": true\n}' } }], inTokens: "40", rest: { model: "gpt-4o-mini", cost_usd: 0.00001 } },
      { text: "fine", calls: [] },
    ]);
    // editing nothing keeps the recorded answers as they were
    expect(buildAgentMocks(draft, tools).mocks[0]).toEqual({ ...(mocks.triage as object[])[0], value: { ...((mocks.triage as { value: object }[])[0].value), message: { role: "assistant", content: null, tool_calls: [{ id: "call_abc", name: "check", arguments: { id: 1 } }] } } });
    const host = new MockHost({ mocks, document: { nodes: [{ id: "triage", type: "agent", config }] }, canAskApproval: false }, { event: () => {}, call: () => {} });
    host.beginExecution();
    const chat1 = JSON.parse(host.call("llm.chat", JSON.stringify({ node: "triage", turn: 1, messages: [] })));
    expect(chat1).toMatchObject({ cost_usd: 0.00001, message: { tool_calls: [{ id: "call_abc" }] } });
    const child = JSON.parse(host.call("workflow.call", JSON.stringify({ node: "triage", workflow: "fraud", tool: { agent: "triage", name: "check", call_id: "call_abc", arguments: { id: 1 } } })));
    expect(child).toEqual({ run_id: "child", output: { ok: true } });
  });
});
