// Keeps the dry-run worker of the last digest alive between runs in a tab. A worker holds the compiled core
// modules of its digest (~13 MB of wasm, ~1.5 s to fetch and compile); a new worker per "Test run" paid that
// every time. One idle worker is kept: a run of another digest, cancel, a timeout or a crash ends it (those
// never come back to the pool), and an idle worker is ended after `idleMs` to give its memory back.

export interface PooledWorker {
  terminate(): void;
}

export class WorkerPool<W extends PooledWorker = Worker> {
  private idle: { digest: string; worker: W; timer: ReturnType<typeof setTimeout> } | null = null;

  constructor(private idleMs = 10 * 60_000) {}

  /** The idle worker of `digest` if there is one, else a new one (an idle worker of another digest ends). */
  take(digest: string, make: () => W): W {
    const idle = this.idle;
    if (idle && idle.digest === digest) {
      clearTimeout(idle.timer);
      this.idle = null;
      return idle.worker;
    }
    this.clear();
    return make();
  }

  /** Keep a worker that finished a run cleanly (the guest returned) for the next run of `digest`. */
  give(digest: string, worker: W): void {
    this.clear();
    const timer = setTimeout(() => {
      if (this.idle?.worker === worker) this.clear();
    }, this.idleMs);
    this.idle = { digest, worker, timer };
  }

  /** End the idle worker, if any. */
  clear(): void {
    if (!this.idle) return;
    clearTimeout(this.idle.timer);
    this.idle.worker.terminate();
    this.idle = null;
  }

  get idleDigest(): string | null {
    return this.idle?.digest ?? null;
  }
}
