import { describe, expect, it } from "vitest";
import { mocksFromRun } from "./fixtures";
import { MockHost } from "./host";

// The shape of GET /api/runs/<id>?journal=1 (app/engine/queries.py): a map of two items, a retried request
// (a transport error, the backoff's jitter and wait, then a response), kv and an approval.
const run = {
  id: "run-1",
  journal: [
    { seq: 1, capability: "node.event", node: "start", state: "done", request: null, result: {} },
    { seq: 2, capability: "kv.get", node: "read", state: "done", request: { namespace: "n", key: "k", node: "read" }, result: { found: true, value: 3 } },
    { seq: 3, capability: "http.request", node: "post", state: "done", request: { method: "POST", url: "https://a/1", node: "post" }, result: { ok: { status: 201, headers: {}, body: { id: 1 } } } },
    { seq: 4, capability: "http.request", node: "post", state: "failed", request: { method: "POST", url: "https://a/2", node: "post" }, result: { err: { code: "timeout", message: "timed out", retriable: true } } },
    { seq: 5, capability: "random.bytes", node: null, state: "done", request: { n: 4 }, result: { hex: "80000000" } },
    { seq: 6, capability: "timer.wait", node: "post", state: "done", request: { seconds: 1, node: "post" }, result: { waited_until: "2026-01-01T00:00:01Z" } },
    { seq: 7, capability: "http.request", node: "post", state: "done", request: { method: "POST", url: "https://a/2", node: "post" }, result: { ok: { status: 201, headers: {}, body: { id: 2 } } } },
    { seq: 8, capability: "kv.set", node: "save", state: "failed", request: {}, result: { code: "capability_denied", message: "kv.set: namespace 'x' is not granted" } },
    { seq: 9, capability: "log.write", node: "save", state: "done", request: null, result: {} },
    { seq: 10, capability: "approval.request", node: "ok", state: "done", request: { title: "t" }, result: { approved: true, decision: "approved", by: "a@b", reason: "", decided_at: "2026-01-01T00:00:02Z" } },
    { seq: 11, capability: "timer.wait", node: "pause", state: "intent", request: { seconds: 60, node: "pause" }, result: null },
  ],
};

describe("mocksFromRun", () => {
  it("turns each journaled call of a node into one tagged entry, in order", () => {
    const mocks = mocksFromRun(run);
    expect(Object.keys(mocks).sort()).toEqual(["_run", "ok", "post", "read", "save"]);
    expect(mocks.read).toEqual([{ kind: "ok", value: { found: true, value: 3 }, capability: "kv.get" }]);
    expect(mocks.post).toEqual([
      { kind: "ok", value: { status: 201, headers: {}, body: { id: 1 } }, capability: "http.request" },
      { kind: "error", error: { code: "timeout", message: "timed out", retriable: true }, capability: "http.request" },
      { kind: "ok", value: { waited_until: "2026-01-01T00:00:01Z" }, capability: "timer.wait" },
      { kind: "ok", value: { status: 201, headers: {}, body: { id: 2 } }, capability: "http.request" },
    ]);
    expect(mocks._run).toEqual([{ kind: "ok", value: { hex: "80000000" }, capability: "random.bytes" }]);
    expect(mocks.save).toEqual([
      { kind: "error", error: { code: "capability_denied", message: "kv.set: namespace 'x' is not granted" }, capability: "kv.set" },
    ]);
    expect(mocks.ok).toMatchObject([{ kind: "ok", value: { approved: true, by: "a@b" }, capability: "approval.request" }]);
    expect(mocks.pause).toBeUndefined(); // an intent without its result is no fixture
  });

  it("answers the same calls the same way when a dry run makes them", () => {
    const host = new MockHost({ mocks: mocksFromRun(run), canAskApproval: false }, { event: () => {}, call: () => {} });
    host.beginExecution();
    const post = (url: string) =>
      JSON.parse(host.call("http.request", JSON.stringify({ requests: [{ method: "POST", url, node: "post" }] }))).responses[0];
    expect(post("https://a/1")).toEqual({ ok: { status: 201, headers: {}, body: { id: 1 } } });
    expect(post("https://a/2")).toMatchObject({ err: { code: "timeout" } });
    expect(JSON.parse(host.call("random.bytes", '{"n":4}'))).toEqual({ hex: "80000000" });
    expect(JSON.parse(host.call("timer.wait", '{"seconds":1,"node":"post"}'))).toEqual({ waited_until: "2026-01-01T00:00:01Z" });
    expect(post("https://a/2")).toEqual({ ok: { status: 201, headers: {}, body: { id: 2 } } });
    expect(JSON.parse(host.call("approval.request", '{"title":"t","node":"ok"}'))).toMatchObject({ approved: true, decision: "approved" });
  });

  it("refuses a run without its journal, saying how to get it", () => {
    expect(() => mocksFromRun({ id: "r9" })).toThrow("run r9 has no journal (fetch it with ?journal=1)");
  });
});
