import { describe, expect, it } from "vitest";
import { HostErr, MockHost, outermostMap, Unwind } from "./host";
import type { DryRunEvent, Mocks, RecordedCall } from "./types";

const doc = {
  nodes: [
    { id: "start", type: "trigger.manual" },
    { id: "fetch", type: "http.request", retry: { max_attempts: 3 } },
    { id: "read", type: "kv.get" },
    { id: "save", type: "kv.set" },
    { id: "ok", type: "approval" },
    { id: "pause", type: "wait" },
    { id: "each", type: "map", config: { body: { nodes: [{ id: "post", type: "http.request" }] } } },
  ],
};

function makeHost(mocks: Mocks, extra: Partial<ConstructorParameters<typeof MockHost>[0]> = {}) {
  const events: DryRunEvent[] = [];
  const calls: RecordedCall[] = [];
  const time = { ms: 0 };
  const host = new MockHost(
    { mocks, document: doc, canAskApproval: false, now: () => time.ms, clock: () => new Date("2026-01-02T03:04:05.000Z"), ...extra },
    { event: (e) => events.push(e), call: (c) => calls.push(c) },
  );
  host.beginExecution();
  return { host, events, calls, time };
}

const http = (host: MockHost, ...nodes: string[]) =>
  JSON.parse(host.call("http.request", JSON.stringify({ requests: nodes.map((node) => ({ method: "GET", url: "https://x/", node })) })))
    .responses as Record<string, unknown>[];

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("did not throw");
}

describe("mock host", () => {
  it("answers an http request from the node's mock", () => {
    const { host, calls } = makeHost({ fetch: { kind: "ok", value: { status: 200, headers: {}, body: { a: 1 } } } });
    expect(http(host, "fetch")).toEqual([{ ok: { status: 200, headers: {}, body: { a: 1 } } }]);
    expect(calls).toMatchObject([{ seq: 1, capability: "http.request", node: "fetch", source: "mock", response: { status: 200 } }]);
  });

  it("fails a node without a mock with 'no mock for node X' on that node", () => {
    const { host, calls } = makeHost({});
    const [answer] = http(host, "fetch");
    expect(answer).toMatchObject({ err: { code: "no_mock" } });
    expect((answer.err as { message: string }).message).toContain("no mock for node fetch");
    const err = thrown(() => host.call("kv.get", JSON.stringify({ namespace: "n", key: "k", node: "read" })));
    expect(err).toBeInstanceOf(HostErr);
    expect(JSON.parse((err as HostErr).payload)).toMatchObject({ code: "no_mock", message: expect.stringContaining("no mock for node read") });
    expect(Object.prototype.hasOwnProperty.call(err, "payload")).toBe(true); // the jco err convention
    expect(calls.map((c) => c.error?.code)).toEqual(["no_mock", "no_mock"]);
  });

  it("throws error mocks as host errors", () => {
    const { host } = makeHost({
      read: { kind: "error", error: { code: "unavailable", message: "kv down", retriable: true } },
      fetch: { kind: "error", error: { code: "timeout", message: "took too long" } },
    });
    const err = thrown(() => host.call("kv.get", JSON.stringify({ namespace: "n", key: "k", node: "read" })));
    expect(JSON.parse((err as HostErr).payload)).toEqual({ code: "unavailable", message: "kv down", retriable: true });
    expect(http(host, "fetch")).toEqual([{ err: { code: "timeout", message: "took too long", retriable: false } }]);
  });

  it("consumes a list in order, one entry per call, then says which call has none", () => {
    const { host } = makeHost({
      post: [
        { kind: "ok", value: { status: 201 } },
        { kind: "ok", value: { status: 409 } },
      ],
    });
    // a map sends its items' requests as one batch: each request takes the next entry
    expect(http(host, "post", "post")).toEqual([{ ok: { status: 201 } }, { ok: { status: 409 } }]);
    const [third] = http(host, "post");
    expect((third.err as { message: string }).message).toContain("no mock for node post (call 3)");
  });

  it("a single mock answers every call", () => {
    const { host } = makeHost({ fetch: { kind: "ok", value: { status: 200 } } });
    expect(http(host, "fetch", "fetch")).toEqual([{ ok: { status: 200 } }, { ok: { status: 200 } }]);
  });

  it("untagged entries answer the node's own capability only; a retry's wait does not eat them", () => {
    const { host } = makeHost({ fetch: [{ kind: "ok", value: { status: 503 } }, { kind: "ok", value: { status: 200 } }] });
    expect(http(host, "fetch")).toEqual([{ ok: { status: 503 } }]);
    const waited = JSON.parse(host.call("timer.wait", JSON.stringify({ seconds: 2, node: "fetch" })));
    expect(waited).toEqual({ waited_until: "2026-01-02T03:04:07.000Z" }); // instant, now + 2 s
    expect(http(host, "fetch")).toEqual([{ ok: { status: 200 } }]);
  });

  it("tagged entries answer their capability (fixtures from a run)", () => {
    const { host } = makeHost({
      pause: [{ kind: "ok", value: { waited_until: "2030-01-01T00:00:00Z" }, capability: "timer.wait" }],
      _run: [{ kind: "ok", value: { hex: "00000000" }, capability: "random.bytes" }],
    });
    expect(JSON.parse(host.call("timer.wait", JSON.stringify({ seconds: 60, node: "pause" })))).toEqual({ waited_until: "2030-01-01T00:00:00Z" });
    expect(JSON.parse(host.call("random.bytes", JSON.stringify({ n: 4 })))).toEqual({ hex: "00000000" });
    expect(JSON.parse(host.call("random.bytes", JSON.stringify({ n: 4 }))).hex).toMatch(/^[0-9a-f]{8}$/); // then crypto
  });

  it("records kv.set, logs and webhook responses without a mock", () => {
    const { host, calls } = makeHost({});
    expect(JSON.parse(host.call("kv.set", JSON.stringify({ namespace: "n", key: "k", value: 3, node: "save" })))).toEqual({ key: "k", value: 3 });
    host.call("log.write", JSON.stringify({ level: "info", message: "hi", node: "save" }));
    expect(calls.map((c) => [c.capability, c.source])).toEqual([
      ["kv.set", "default"],
      ["log.write", "recorded"],
    ]);
  });

  it("turns node events into a stream with durations, and stops after stopAfter", () => {
    const { host, events, time } = makeHost({}, { stopAfter: "fetch" });
    host.call("node.event", JSON.stringify({ node: "fetch", event: "started", input: { from: ["start"] }, attempt: 1 }));
    time.ms = 10;
    host.call("node.event", JSON.stringify({ node: "fetch", event: "failed", error: { code: "x", message: "m" }, attempt: 1, will_retry: true }));
    host.call("node.event", JSON.stringify({ node: "fetch", event: "started", input: { from: ["start"] }, attempt: 2 }));
    time.ms = 35;
    const stop = thrown(() => host.call("node.event", JSON.stringify({ node: "fetch", event: "finished", output: { status: 200 }, attempt: 2 })));
    expect(stop).toBeInstanceOf(Unwind);
    expect((stop as Unwind).reason).toBe("stop");
    expect(events.map((e) => [e.status, e.attempt, e.willRetry])).toEqual([
      ["started", 1, undefined],
      ["failed", 1, true],
      ["started", 2, undefined],
      ["succeeded", 2, undefined],
    ]);
    expect(events[1]).toMatchObject({ error: { code: "x" }, duration_ms: 10, at_ms: 10 });
    expect(events[3]).toMatchObject({ output: { status: 200 }, duration_ms: 25, at_ms: 35 });
  });

  it("stopAfter a node in a map body stops after the whole map, so the node ran for every item", () => {
    const { host, events } = makeHost({ post: [{ kind: "ok", value: { status: 201 } }, { kind: "ok", value: { status: 202 } }] }, { stopAfter: "post" });
    const ev = (node: string, event: string, index?: number[]) => host.call("node.event", JSON.stringify({ node, event, attempt: 1, ...(index ? { index } : {}) }));
    ev("each", "started");
    for (const i of [0, 1]) {
      ev("post", "started", [i]);
      http(host, "post");
      ev("post", "finished", [i]); // no stop after the first item
    }
    const stop = thrown(() => ev("each", "finished"));
    expect(stop).toBeInstanceOf(Unwind);
    expect(host.stoppedAfter).toBe("post");
    expect(events.filter((e) => e.node === "post" && e.status === "succeeded").map((e) => e.index)).toEqual([[0], [1]]);
  });

  it("finds the top-level map that holds a body node, at any depth", () => {
    const nested = { nodes: [{ id: "a", type: "transform" }, { id: "m", type: "map", config: { body: { nodes: [{ id: "inner", type: "map", config: { body: { nodes: [{ id: "leaf", type: "transform" }] } } }] } } }] };
    expect(outermostMap(nested, "leaf")).toBe("m");
    expect(outermostMap(nested, "inner")).toBe("m");
    expect(outermostMap(nested, "m")).toBeNull();
    expect(outermostMap(nested, "a")).toBeNull();
    expect(outermostMap(null, "leaf")).toBeNull();
  });

  it("an approval without a mock unwinds; the re-execution replays earlier calls and gets the decision", () => {
    const { host, calls, events } = makeHost({ fetch: [{ kind: "ok", value: { status: 200 } }] }, { canAskApproval: true });
    const first = () => {
      host.call("node.event", JSON.stringify({ node: "fetch", event: "started", attempt: 1 }));
      const r = http(host, "fetch");
      host.call("node.event", JSON.stringify({ node: "fetch", event: "finished", output: r[0].ok, attempt: 1 }));
      return JSON.parse(host.call("approval.request", JSON.stringify({ title: "t", node: "ok" })));
    };
    const unwind = thrown(first) as Unwind;
    expect(unwind.reason).toBe("approval");
    host.decisions.set(unwind.seq, { approved: true, by: "me" });
    host.beginExecution();
    expect(first()).toMatchObject({ approved: true, decision: "approved", by: "me" });
    // earlier calls are not reported twice; the mock list entry stays consumed
    expect(calls.map((c) => c.seq)).toEqual([1, 2, 3, 4]);
    expect(calls[3]).toMatchObject({ capability: "approval.request", source: "approval" });
    expect(events.filter((e) => e.node === "fetch").map((e) => e.status)).toEqual(["started", "succeeded"]);
    host.beginExecution();
    expect(first()).toMatchObject({ approved: true }); // a third execution replays everything
  });

  it("approval mocks fill the decision document", () => {
    const { host } = makeHost({ ok: { kind: "ok", value: { approved: false, reason: "no" } } });
    expect(JSON.parse(host.call("approval.request", JSON.stringify({ title: "t", node: "ok" })))).toEqual({
      approved: false,
      decision: "rejected",
      by: null,
      reason: "no",
      decided_at: "2026-01-02T03:04:05.000Z",
    });
  });

  it("replays an earlier dry run while calls match, then falls back to mocks", () => {
    const earlier: RecordedCall[] = [
      { seq: 1, capability: "kv.get", node: "read", request: { namespace: "n", key: "k", node: "read" }, response: { found: true, value: 7 }, source: "mock" },
      { seq: 2, capability: "http.request", node: "fetch", request: { method: "GET", url: "https://x/", node: "fetch" }, response: { status: 500 }, source: "mock" },
    ];
    const { host, calls } = makeHost({ fetch: { kind: "ok", value: { status: 200 } } }, { replay: earlier });
    expect(JSON.parse(host.call("kv.get", JSON.stringify({ namespace: "n", key: "k", node: "read" })))).toEqual({ found: true, value: 7 });
    // a different request: replay stops, the mock answers
    const changed = JSON.parse(host.call("http.request", JSON.stringify({ requests: [{ method: "GET", url: "https://y/", node: "fetch" }] })));
    expect(changed.responses).toEqual([{ ok: { status: 200 } }]);
    expect(calls.map((c) => c.source)).toEqual(["replay", "mock"]);
  });
});
