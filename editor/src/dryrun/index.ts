// startDryRun: run a compiled workflow (by digest) in a Web Worker with mocked host functions.
// See README.md for the host semantics; types.ts for the shapes.
import type { FromWorker, StartMessage, ToWorker } from "./protocol";
import { WorkerPool } from "./pool";
import { reduceNodes, summarizeCalls } from "./reduce";
import type { DryRunEvent, DryRunHandle, DryRunOptions, DryRunResult, DryRunStatus, HostErrorDoc, RecordedCall } from "./types";

export * from "./types";
export { mocksFromRun } from "./fixtures";
export { reduceNodes } from "./reduce";
export { WorkerPool } from "./pool";

export const DEFAULT_TIMEOUT_SECONDS = 60;

/** Make the worker (a seam for tests; Vite bundles worker.ts from this URL). */
export function createWorker(): Worker {
  return new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
}

/** The tab's pool: the worker of the last digest stays alive with its compiled modules (pool.ts). */
export const sharedPool = new WorkerPool();

// The shared runtime this tab's worker has loaded last: a worker holding it runs any program artifact
// without fetching or compiling the runtime again, so it is pooled by runtime, not by digest. (Reusing it
// for a per-workflow component is harmless: the worker loads that bundle instead.)
let lastRuntime: string | null = null;
const poolKey = (digest: string) => (lastRuntime ? `runtime:${lastRuntime}` : digest);

/** `pool` defaults to the tab's shared pool for real workers and to none for a test's `makeWorker`. */
export function startDryRun(
  options: DryRunOptions,
  makeWorker: () => Worker = createWorker,
  pool: WorkerPool | null = makeWorker === createWorker ? sharedPool : null,
): DryRunHandle {
  const t0 = performance.now();
  const events: DryRunEvent[] = [];
  const calls: RecordedCall[] = [];
  let key = poolKey(options.digest);
  const worker = pool ? pool.take(key, makeWorker) : makeWorker();
  const limitMs = 1000 * (options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS);
  let finished = false;
  let resolveDone!: (r: DryRunResult) => void;
  const done = new Promise<DryRunResult>((resolve) => (resolveDone = resolve));

  // The runaway limit counts guest time only: it is paused while the page decides an approval.
  let timer: ReturnType<typeof setTimeout> | null = null;
  let spentMs = 0;
  let runningSince = 0;
  const resume = () => {
    runningSince = performance.now();
    timer = setTimeout(
      () => finish("timed_out", { error: { code: "timeout", message: `dry run stopped after ${limitMs / 1000} s (runaway guest)` } }),
      Math.max(0, limitMs - spentMs),
    );
  };
  const pause = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    spentMs += performance.now() - runningSince;
  };

  function finish(
    status: DryRunStatus,
    extra: { output?: unknown; error?: HostErrorDoc & { node?: string | null }; nodeOutputs?: Record<string, unknown> } = {},
  ) {
    if (finished) return;
    finished = true;
    if (timer !== null) clearTimeout(timer);
    worker.onmessage = null;
    worker.onerror = null;
    // A worker whose guest returned is idle and clean: keep it (and its compiled modules) for the next run.
    // Cancelled, timed-out (maybe still looping) and crashed workers end here.
    if (pool && (status === "succeeded" || status === "failed" || status === "stopped")) pool.give(key, worker);
    else worker.terminate();
    const result: DryRunResult = {
      status,
      digest: options.digest,
      ...extra,
      nodes: reduceNodes(events),
      events,
      calls,
      ...summarizeCalls(calls),
      duration_ms: Math.round(performance.now() - t0),
    };
    resolveDone(result);
  }

  worker.onmessage = (ev: MessageEvent<FromWorker>) => {
    const msg = ev.data;
    if (finished) return;
    switch (msg.type) {
      case "event":
        events.push(msg.event);
        options.onEvent?.(msg.event);
        return;
      case "call":
        calls[msg.call.seq - 1] = msg.call;
        options.onCall?.(msg.call);
        return;
      case "loaded":
        if (msg.runtime) {
          lastRuntime = msg.runtime;
          key = poolKey(options.digest);
        }
        return;
      case "approval": {
        pause();
        const ask = options.onApproval;
        if (!ask) return finish("crashed", { error: { code: "no_approval", message: "no onApproval to ask" } });
        ask(msg.request).then(
          (decision) => {
            if (finished) return;
            resume();
            const answer: ToWorker = { type: "approval", id: msg.id, decision };
            worker.postMessage(answer);
          },
          (e: unknown) => finish("crashed", { error: { code: "approval_failed", message: `onApproval failed: ${String(e)}` } }),
        );
        return;
      }
      case "done":
        return finish(msg.status, { output: msg.output, error: msg.error, nodeOutputs: msg.nodeOutputs });
    }
  };
  worker.onerror = (e: ErrorEvent) => {
    e.preventDefault?.();
    finish("crashed", { error: { code: "dry_run_crashed", message: e.message || "the dry-run worker failed" } });
  };

  const start: StartMessage = {
    type: "start",
    digest: options.digest,
    document: options.document ?? null,
    input: options.input,
    mocks: options.mocks,
    stopAfter: options.stopAfter,
    replay: options.replay,
    canAskApproval: Boolean(options.onApproval),
    baseUrl: options.baseUrl ?? "",
  };
  worker.postMessage(start);
  resume();
  return {
    cancel: () => finish("cancelled", { error: { code: "cancelled", message: "dry run cancelled" } }),
    done,
  };
}
