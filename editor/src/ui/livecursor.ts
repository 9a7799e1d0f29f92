// Where the Runs tab's live WebSocket starts (docs/operations.md "Live events"): the list is loaded by REST,
// then the stream subscribes after the newest event already reflected in it, so the workflow's history is
// not replayed. The server's streams take `after=<cursor>` (a workflow stream's cursor is the global event
// id) but have no "from now": the id of the newest run's last event is read from that run's own stream
// (`?run=<id>&after=<seq - 1>`: one event), which every event that follows it exceeds. The cursor reached is
// kept per workflow for the page's life, so reopening the tab resumes where it was.
import type { RunSummary } from "../lib/api";
import { runIdOf } from "../lib/api";

const kept = new Map<string, number>();

/** The cursor this page last reached on the workflow's stream (0: none yet). */
export function keptCursor(workflow: string): number {
  return kept.get(workflow) ?? 0;
}

export function keepCursor(workflow: string, cursor: number): void {
  if (cursor > (kept.get(workflow) ?? 0)) kept.set(workflow, cursor);
}

export function forgetCursors(): void {
  kept.clear();
}

export type SocketLike = { onmessage: ((m: { data: unknown }) => void) | null; onclose: ((e?: unknown) => void) | null; onerror: ((e?: unknown) => void) | null; close: () => void };

/** The workflow stream's URL path and query (the host and scheme are the page's). */
export function streamPath(q: { workflow?: string; run?: string; after: number }): string {
  const p = new URLSearchParams();
  if (q.run !== undefined) p.set("run", q.run);
  else p.set("workflow", q.workflow ?? "");
  p.set("after", String(Math.max(0, Math.floor(q.after))));
  return `/api/ws?${p}`;
}

/** The global id of the last event of `runId` (whose last seq is `lastSeq`), read from its run stream; 0 when
 * it cannot be told (then the caller replays from 0: slower, never wrong). */
export function lastEventId(runId: string, lastSeq: number, open: (path: string) => SocketLike, timeoutMs = 10_000): Promise<number> {
  if (!(lastSeq > 0)) return Promise.resolve(0);
  return new Promise((resolve) => {
    let best = 0;
    let done = false;
    const ws = open(streamPath({ run: runId, after: lastSeq - 1 }));
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        // already closed
      }
      resolve(best);
    };
    const timer = setTimeout(finish, timeoutMs);
    ws.onmessage = (m) => {
      let msg: { type?: string; id?: unknown };
      try {
        msg = JSON.parse(String(m.data)) as typeof msg;
      } catch {
        return;
      }
      if (typeof msg.id === "number" && msg.id > best) best = msg.id;
      if (msg.type === "stream.live" || msg.type === "stream.error") finish();
    };
    ws.onclose = finish;
    ws.onerror = finish;
  });
}

/** Where the workflow stream starts: the cursor kept from earlier in this page, else after the last event of
 * the newest listed run that has events (the first three are tried; a just-queued run may have none yet). The
 * list shown was loaded before, so nothing it lacks is skipped: what follows the cursor is streamed. */
export async function startCursor(
  workflow: string,
  newestFirst: readonly RunSummary[],
  lastSeqOf: (runId: string) => Promise<number>,
  open: (path: string) => SocketLike,
): Promise<number> {
  const k = keptCursor(workflow);
  if (k > 0) return k;
  for (const r of newestFirst.slice(0, 3)) {
    try {
      const id = runIdOf(r);
      const seq = await lastSeqOf(id);
      if (!(seq > 0)) continue;
      const at = await lastEventId(id, seq, open);
      if (at > 0) return at;
    } catch {
      // try the next one
    }
  }
  return 0;
}
