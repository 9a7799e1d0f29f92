import { describe, expect, it } from "vitest";
import { startDryRun } from "./index";
import type { FromWorker, ToWorker } from "./protocol";

/** A stand-in for the dry-run worker: the test plays the worker's side of the protocol. */
class FakeWorker {
  onmessage: ((ev: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((ev: ErrorEvent) => void) | null = null;
  received: ToWorker[] = [];
  terminated = false;
  postMessage(m: ToWorker) {
    this.received.push(m);
  }
  terminate() {
    this.terminated = true;
  }
  send(m: FromWorker) {
    this.onmessage?.({ data: m } as MessageEvent<FromWorker>);
  }
}

function start(opts: Partial<Parameters<typeof startDryRun>[0]> = {}) {
  const worker = new FakeWorker();
  const handle = startDryRun({ digest: "d1", input: { a: 1 }, mocks: {}, ...opts }, () => worker as unknown as Worker);
  return { worker, handle };
}

describe("startDryRun", () => {
  it("sends the start message and streams events; the result sums up nodes and calls", async () => {
    const seen: string[] = [];
    const { worker, handle } = start({ onEvent: (e) => seen.push(`${e.node}:${e.status}`), stopAfter: "x" });
    expect(worker.received[0]).toMatchObject({ type: "start", digest: "d1", input: { a: 1 }, stopAfter: "x", canAskApproval: false });
    worker.send({ type: "event", event: { type: "node", node: "x", status: "started", input: { from: [] }, at_ms: 1 } });
    worker.send({ type: "call", call: { seq: 1, capability: "kv.set", node: "x", request: { namespace: "n", key: "k", value: 2 }, response: {}, source: "default" } });
    worker.send({ type: "event", event: { type: "node", node: "x", status: "succeeded", output: 5, duration_ms: 3, at_ms: 4 } });
    worker.send({ type: "done", status: "stopped" });
    const result = await handle.done;
    expect(seen).toEqual(["x:started", "x:succeeded"]);
    expect(result).toMatchObject({ status: "stopped", digest: "d1", kvWrites: [{ node: "x", namespace: "n", key: "k", value: 2 }] });
    expect(result.nodes.x).toEqual({ node: "x", status: "succeeded", input: { from: [] }, output: 5, duration_ms: 3, attempts: 1 });
    expect(worker.terminated).toBe(true);
  });

  it("terminates a runaway guest after the limit", async () => {
    const { worker, handle } = start({ timeoutSeconds: 0.05 });
    const result = await handle.done;
    expect(result.status).toBe("timed_out");
    expect(result.error?.message).toContain("dry run stopped after 0.05 s");
    expect(worker.terminated).toBe(true);
  });

  it("cancel ends the run at once", async () => {
    const { worker, handle } = start();
    handle.cancel();
    expect((await handle.done).status).toBe("cancelled");
    expect(worker.terminated).toBe(true);
  });

  it("asks onApproval and answers the worker; the time limit does not run while the page decides", async () => {
    let decide!: (d: { approved: boolean }) => void;
    const { worker, handle } = start({
      timeoutSeconds: 0.05,
      onApproval: () => new Promise((resolve) => (decide = resolve)),
    });
    expect(worker.received[0]).toMatchObject({ canAskApproval: true });
    worker.send({ type: "approval", id: 7, request: { node: "ok", title: "t" } });
    await new Promise((r) => setTimeout(r, 120)); // longer than the limit: paused
    decide({ approved: true });
    await new Promise((r) => setTimeout(r, 0));
    expect(worker.received[1]).toEqual({ type: "approval", id: 7, decision: { approved: true } });
    worker.send({ type: "done", status: "succeeded", output: 1, nodeOutputs: {} });
    expect(await handle.done).toMatchObject({ status: "succeeded", output: 1 });
  });
});
