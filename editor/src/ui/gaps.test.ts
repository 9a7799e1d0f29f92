// Issue 17's remaining first-day gaps: stale results and compile status, what a node received, the run in
// the URL, the live stream's starting cursor, menus kept on screen.
import { describe, expect, it } from "vitest";
import type { DslDocument } from "../dsl/types";
import { forgetCursors, keepCursor, keptCursor, lastEventId, startCursor, streamPath, type SocketLike } from "./livecursor";
import { callsOf, httpRequestOf, receivedOf } from "./received";
import { hashWithRun, runOfHash } from "./runs";
import { compileStatusText, isStale, programKey } from "./staleness";
import { clampToViewport } from "./viewport";

const doc = (expr: string, x = 0, notes?: string): DslDocument =>
  ({ dsl: "wasmflow/1", name: "w", nodes: [{ id: "start", type: "trigger.manual", config: {}, position: { x, y: 0 } }, { id: "t", type: "transform", config: { expression: expr }, position: null, ...(notes ? { notes } : {}) }], edges: [{ from: "start", to: "t" }] }) as unknown as DslDocument;

describe("stale results", () => {
  it("ignores positions and notes, sees config changes", () => {
    expect(programKey(doc("1", 0))).toBe(programKey(doc("1", 300, "a note")));
    expect(programKey(doc("1"))).not.toBe(programKey(doc("2")));
  });
  it("is stale at once after a program edit, before the new digest is known", () => {
    const run = { runDigest: "aaa", runKey: programKey(doc("1")) };
    expect(isStale({ ...run, draftDigest: "aaa", saved: true, docKey: run.runKey })).toBe(false);
    expect(isStale({ ...run, draftDigest: "aaa", saved: false, docKey: programKey(doc("2")) })).toBe(true);
    // a drag is not an edit of the program
    expect(isStale({ ...run, draftDigest: "aaa", saved: false, docKey: programKey(doc("1", 500)) })).toBe(false);
    // saved: the digest decides (an invalid draft has none)
    expect(isStale({ ...run, draftDigest: "bbb", saved: true, docKey: run.runKey })).toBe(true);
    expect(isStale({ ...run, draftDigest: null, saved: true })).toBe(true);
    expect(isStale({ runDigest: undefined, draftDigest: "bbb", saved: true })).toBe(false);
  });
  it("says the compile stage and the time", () => {
    expect(compileStatusText("saving", 0.2)).toBe("Saving the draft… 0 s");
    expect(compileStatusText("compiling", 7.6)).toBe("Compiling on the server… 8 s");
    expect(compileStatusText("compiling", 12, { state: "building", step: "componentize-py" })).toBe("Compiling: building the shared runtime (once per toolchain): componentize-py · 12 s");
    expect(compileStatusText("compiling", 3, { state: "ready" })).toBe("Compiling on the server… 3 s");
  });
});

describe("what a node received", () => {
  const calls = [
    { capability: "node.event", node: "post", request: null },
    { capability: "http.request", node: "post", request: { method: "post", url: "https://api.test/orders", headers: { authorization: "Bearer x" }, body: { n: 2 }, node: "post" } },
    { capability: "http.request", node: "other", request: { method: "GET", url: "https://x" } },
    { capability: "log.write", node: "post", request: { message: "hi" } },
  ];
  it("keeps the node's own calls, not bookkeeping", () => {
    const mine = callsOf(calls, "post");
    expect(mine).toHaveLength(1);
    expect(httpRequestOf(mine[0])).toEqual({ method: "POST", url: "https://api.test/orders", headers: { authorization: "Bearer x" }, body: { n: 2 } });
    expect(httpRequestOf({ capability: "kv.get", request: { key: "k" } })).toBeNull();
  });
  it("replaces {from} by the upstream outputs", () => {
    const outputs: Record<string, unknown> = { a: { total: 3 }, b: [1] };
    const r = receivedOf({ from: ["a", "b", "c"] }, (id) => outputs[id], []);
    expect(r.from).toEqual(["a", "b", "c"]);
    expect(r.upstream).toEqual({ a: { total: 3 }, b: [1] });
    expect(r.rest).toBeNull();
    expect(receivedOf({ from: ["a"], item: 4 }, (id) => outputs[id], []).rest).toEqual({ item: 4 });
  });
  it("shows another input as it was", () => {
    const r = receivedOf({ n: 1 }, () => undefined, []);
    expect(r.from).toBeNull();
    expect(r.raw).toEqual({ n: 1 });
  });
});

describe("the open run in the URL", () => {
  it("sets, replaces and removes ?run=", () => {
    expect(hashWithRun("#/w/order-sync", "r1")).toBe("#/w/order-sync?run=r1");
    expect(hashWithRun("#/w/order-sync?run=r1", "r2")).toBe("#/w/order-sync?run=r2");
    expect(hashWithRun("#/w/order-sync?run=r1", null)).toBe("#/w/order-sync");
    expect(hashWithRun("#/w/a?x=1&run=r1", null)).toBe("#/w/a?x=1");
    expect(runOfHash(hashWithRun("#/w/a", "r9"))).toBe("r9");
  });
});

function fakeSocket(messages: unknown[], opened: string[]) {
  return (path: string): SocketLike => {
    opened.push(path);
    const ws: SocketLike = { onmessage: null, onclose: null, onerror: null, close: () => {} };
    queueMicrotask(() => {
      for (const m of messages) ws.onmessage?.({ data: JSON.stringify(m) });
    });
    return ws;
  };
}

describe("the live stream starts from now", () => {
  it("reads the newest run's last event id from its own stream", async () => {
    const opened: string[] = [];
    const id = await lastEventId("r1", 7, fakeSocket([{ id: 812, seq: 7, cursor: 7, type: "run.finished" }, { type: "stream.live", cursor: 7 }], opened));
    expect(id).toBe(812);
    expect(opened).toEqual(["/api/ws?run=r1&after=6"]);
  });
  it("skips runs without events, keeps the cursor per workflow", async () => {
    forgetCursors();
    const opened: string[] = [];
    const seqs: Record<string, number> = { new: 0, old: 3 };
    const c = await startCursor("w", [{ id: "new", workflow: "w", status: "queued" }, { id: "old", workflow: "w", status: "succeeded" }], async (r) => seqs[r], fakeSocket([{ id: 40, type: "x" }, { type: "stream.live" }], opened));
    expect(c).toBe(40);
    expect(opened).toEqual(["/api/ws?run=old&after=2"]);
    keepCursor("w", 55);
    keepCursor("w", 50); // never goes back
    expect(keptCursor("w")).toBe(55);
    expect(await startCursor("w", [], async () => 0, fakeSocket([], opened))).toBe(55);
    expect(await startCursor("empty", [], async () => 0, fakeSocket([], opened))).toBe(0);
    expect(streamPath({ workflow: "a b", after: 55 })).toBe("/api/ws?workflow=a+b&after=55");
  });
});

describe("menus stay on screen", () => {
  it("clamps into the window", () => {
    expect(clampToViewport(1250, 780, 200, 300, 1280, 800)).toEqual({ x: 1072, y: 492 });
    expect(clampToViewport(10, 10, 200, 300, 1280, 800)).toEqual({ x: 10, y: 10 });
    expect(clampToViewport(-5, 100, 200, 900, 1280, 800)).toEqual({ x: 8, y: 8 });
  });
});
