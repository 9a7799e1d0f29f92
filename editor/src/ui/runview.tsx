// A server run as the canvas shows it: node states from GET /api/runs/<id>, decorations, the timeline bars.
// Shared by the Runs tab (ServerRuns.tsx) and the editor; the mapping is unit-tested (runview.test.ts).
import type { NodeDecoration, NodeStatus } from "../dsl/flow";
import { runIdOf, shortRunId, type RunDetail } from "../lib/api";
import { formatMs } from "./format";
import type { CallLike } from "./received";
import type { NodeRunInfo } from "./Inspector";
import { answerOf, reduceTranscript, stepsFromEvents, usageLine } from "./transcript";

/** What the canvas shows of a run: a dry run in the tab or a server run. */
export type RunView = {
  source: "dry" | "server";
  label: string;
  nodes: Map<string, NodeRunInfo>;
  decorations: Map<string, NodeDecoration>;
  digest?: string;
  /** the host calls of the run (a dry run's record, a server run's journal): what each node sent */
  calls?: readonly CallLike[];
  /** programKey of the document a dry run ran (staleness.ts) */
  docKey?: string;
};

/** Server node states -> canvas states. */
export function serverStatus(s: string): NodeStatus {
  switch (s) {
    case "started":
    case "running":
      return "running";
    case "finished":
    case "succeeded":
      return "succeeded";
    case "failed":
      return "failed";
    case "waiting":
      return "waiting";
    case "skipped":
      return "skipped";
    default:
      return "pending";
  }
}

export type ServerNode = { node: string; status: string; started_at?: string | null; finished_at?: string | null; input?: unknown; output?: unknown; error?: unknown; duration_ms?: number | null; attempts?: number; replayed?: { key?: string; status?: number }[] };

/** The run's nodes as canvas state; nodes with a pending approval show as waiting (the server's node view
 * says "started" for them until the decision). */
/** The run's events with those that arrived live over the WebSocket since the detail was fetched (by seq). */
export function mergeEvents(stored: RunEvent[] | undefined, live: RunEvent[] = []): RunEvent[] {
  const list = [...(stored ?? [])];
  const seen = new Set(list.map((e) => e.seq).filter((s) => s !== undefined));
  for (const e of live) if (e.seq === undefined || !seen.has(e.seq)) list.push(e);
  return list.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
}

export type RunEvent = { type: string; node?: string | null; data?: unknown; seq?: number; at?: string };

export function serverRunView(detail: RunDetail, waitingOn: string[] = [], liveEvents: RunEvent[] = []): RunView {
  const list = (Array.isArray(detail.nodes) ? detail.nodes : Object.entries(detail.nodes ?? {}).map(([node, n]) => ({ node, ...n }))) as ServerNode[];
  const nodes = new Map<string, NodeRunInfo>();
  const decorations = new Map<string, NodeDecoration>();
  for (const n of list) {
    let status = serverStatus(n.status);
    if (status === "running" && waitingOn.includes(n.node)) status = "waiting";
    nodes.set(n.node, { status, input: n.input, output: n.output, error: n.error, duration_ms: n.duration_ms, attempts: n.attempts, replayed: n.replayed });
    const err = n.error as { message?: string } | undefined;
    decorations.set(n.node, { status, duration_ms: n.duration_ms, error: err?.message ?? null, output: status === "succeeded" && n.output !== undefined ? previewOf(answerOf(n.output)) : undefined, replayed: n.replayed });
  }
  // agent nodes: the conversation from their agent.* events (agent.delta shows an answer while it streams)
  const events = mergeEvents(detail.events as RunEvent[] | undefined, liveEvents);
  const agents = new Set(events.filter((e) => e.node && e.type.startsWith("agent.")).map((e) => e.node as string));
  for (const id of agents) {
    const transcript = reduceTranscript(stepsFromEvents(events, id));
    nodes.set(id, { ...(nodes.get(id) ?? { status: "running" }), transcript });
    const deco = decorations.get(id);
    if (deco) decorations.set(id, { ...deco, usage: usageLine(transcript) });
  }
  return { source: "server", label: `Run ${shortRunId(runIdOf(detail))} · ${detail.status}`, nodes, decorations, calls: detail.journal };
}

export function previewOf(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + "…" : s;
}

export function Timeline({ items }: { items: { node: string; start: number; end: number | null; status: NodeStatus }[] }) {
  if (!items.length) return null;
  const t0 = Math.min(...items.map((i) => i.start));
  const t1 = Math.max(...items.map((i) => i.end ?? Date.now()));
  const span = Math.max(1, t1 - t0);
  return (
    <div className="wf-timeline" data-testid="timeline">
      {items.map((i) => (
        <div className="wf-tl-row" key={i.node}>
          <span className="wf-tl-label wf-mono">{i.node}</span>
          <div className="wf-tl-track">
            <div
              className={`wf-tl-bar wf-status-${i.status}`}
              style={{ left: `${((i.start - t0) / span) * 100}%`, width: `${Math.max(0.8, (((i.end ?? t1) - i.start) / span) * 100)}%` }}
              title={`${i.node}: ${i.status}${i.end ? ` · ${formatMs(i.end - i.start)}` : ""}`}
            />
          </div>
          <span className="wf-tl-dur">{i.end ? formatMs(i.end - i.start) : "…"}</span>
        </div>
      ))}
    </div>
  );
}

