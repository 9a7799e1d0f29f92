// Replay/fork in the runs panel (docs/api.md "Replay and fork"): which nodes a run can be replayed from, the
// node picked by default, and the lineage lines of a run. Pure, so the rules are unit-tested.
import type { ReplayOf, RunDetail, RunSummary } from "../lib/api";

type NodeRow = { node: string; status: string };

/** The server's node view as a list (it answers a list; older answers were keyed by node). */
export function runNodeRows(detail: Pick<RunDetail, "nodes">): NodeRow[] {
  const n = detail.nodes as unknown;
  if (Array.isArray(n)) return n as NodeRow[];
  return Object.entries((n ?? {}) as Record<string, { status: string }>).map(([node, v]) => ({ node, status: v.status }));
}

/** Nodes that started in the run, in the server's order: the server refuses a node that never started
 * (409 node_not_run), so skipped and pending nodes are not offered. */
export function replayableNodes(detail: Pick<RunDetail, "nodes">): string[] {
  const seen = new Set<string>();
  for (const r of runNodeRows(detail)) {
    if (r.status === "skipped" || r.status === "pending" || r.status === "queued") continue;
    seen.add(r.node);
  }
  return [...seen];
}

/** The node "Replay from here" starts from: the node selected on the canvas if the run reached it, else the
 * previous pick if still offered, else the last node the run reached (usually the one to fix). */
export function defaultReplayNode(nodes: string[], selectedId: string | null, previous: string | null): string {
  if (selectedId && nodes.includes(selectedId)) return selectedId;
  if (previous && nodes.includes(previous)) return previous;
  return nodes[nodes.length - 1] ?? "";
}

/** A run is replayable once it stopped: the server refuses queued and running runs (409 run_active). */
export function canReplay(status: string): boolean {
  return status !== "queued" && status !== "running";
}

export interface LineageView {
  parent: ReplayOf | null;
  children: (ReplayOf & { created_at?: string })[];
}

/** The lineage of a run detail; the summary's `replay_of` stands in while an older server has no `lineage`. */
export function lineageOf(detail: RunDetail): LineageView {
  const lin = detail.lineage;
  return { parent: lin?.replay_of ?? detail.replay_of ?? null, children: lin?.replays ?? [] };
}

/** The short mark of a replay row in the run list: "↻ <from_node>" with the parent's short id in its title. */
export function replayMark(r: RunSummary): { text: string; title: string } | null {
  if (!r.replay_of) return null;
  return { text: `↻ ${r.replay_of.from_node}`, title: `replay of ${r.replay_of.run_id} from ${r.replay_of.from_node}` };
}
