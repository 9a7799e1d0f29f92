import { describe, expect, it } from "vitest";
import { startDryRun } from "./index";
import { WorkerPool } from "./pool";
import type { FromWorker, ToWorker } from "./protocol";

class FakeWorker {
  onmessage: ((ev: MessageEvent<FromWorker>) => void) | null = null;
  onerror: ((ev: ErrorEvent) => void) | null = null;
  received: ToWorker[] = [];
  terminated = false;
  constructor(public n: number) {}
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

function setup() {
  const made: FakeWorker[] = [];
  const make = () => {
    const w = new FakeWorker(made.length + 1);
    made.push(w);
    return w as unknown as Worker;
  };
  const pool = new WorkerPool();
  const run = (digest: string, timeoutSeconds?: number) => startDryRun({ digest, input: null, mocks: {}, timeoutSeconds }, make, pool);
  return { made, pool, run };
}

describe("WorkerPool", () => {
  it("hands the idle worker of the same digest back; another digest ends it", () => {
    const pool = new WorkerPool<FakeWorker>();
    let n = 0;
    const make = () => new FakeWorker(++n);
    const a = pool.take("d1", make);
    pool.give("d1", a);
    expect(pool.take("d1", make)).toBe(a);
    pool.give("d1", a);
    const b = pool.take("d2", make);
    expect(b).not.toBe(a);
    expect(a.terminated).toBe(true);
    expect(pool.idleDigest).toBeNull();
  });

  it("ends an idle worker after the idle limit", async () => {
    const pool = new WorkerPool<FakeWorker>(20);
    const a = new FakeWorker(1);
    pool.give("d1", a);
    await new Promise((r) => setTimeout(r, 60));
    expect(a.terminated).toBe(true);
    expect(pool.idleDigest).toBeNull();
  });
});

describe("startDryRun with a pool", () => {
  it("reuses the worker of a finished run of the same digest, with a new start message", async () => {
    const { made, run } = setup();
    const first = run("d1");
    made[0].send({ type: "done", status: "succeeded", output: 1, nodeOutputs: {} });
    expect((await first.done).status).toBe("succeeded");
    expect(made[0].terminated).toBe(false);
    expect(made[0].onmessage).toBeNull(); // the finished run no longer listens

    const second = run("d1");
    expect(made).toHaveLength(1);
    expect(made[0].received.map((m) => m.type)).toEqual(["start", "start"]);
    made[0].send({ type: "done", status: "failed", error: { code: "boom", message: "x" } });
    expect((await second.done).status).toBe("failed");
    expect(made[0].terminated).toBe(false);
  });

  it("never reuses a worker that was cancelled, timed out or crashed", async () => {
    const { made, run } = setup();
    const cancelled = run("d1");
    cancelled.cancel();
    await cancelled.done;
    expect(made[0].terminated).toBe(true);

    const runaway = run("d1", 0.03); // a looping guest never answers: terminated at the limit
    expect(made).toHaveLength(2);
    expect((await runaway.done).status).toBe("timed_out");
    expect(made[1].terminated).toBe(true);

    const crashed = run("d1");
    made[2].send({ type: "done", status: "crashed", error: { code: "dry_run_crashed", message: "no bundle" } });
    await crashed.done;
    expect(made[2].terminated).toBe(true);
    run("d1");
    expect(made).toHaveLength(4);
  });

  it("a run of another digest ends the idle worker and starts its own", async () => {
    const { made, run, pool } = setup();
    const a = run("d1");
    made[0].send({ type: "done", status: "stopped" });
    await a.done;
    expect(pool.idleDigest).toBe("d1");
    run("d2");
    expect(made).toHaveLength(2);
    expect(made[0].terminated).toBe(true);
  });
});
