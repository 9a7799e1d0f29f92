// Derives React Flow nodes and edges from the document. The document stays the only source of truth; this
// is a view of it. A per-editor cache hands back the same node object when nothing about a node changed, so
// React Flow and the memoised node components skip unchanged nodes (a drag re-renders only what moves).
import type { Edge, Node } from "@xyflow/react";
import { bodyOf, edgeKey, edgePort, portsOf } from "./graph";
import { BODY_OFFSET, nodeSize } from "./layout";
import type { DslDocument, DslEdge, DslNode, DslPosition, Problem } from "./types";

export type NodeStatus = "pending" | "running" | "succeeded" | "failed" | "waiting" | "skipped";

/** Run state shown on a node (dry run or a server run). */
export interface NodeDecoration {
  status: NodeStatus;
  duration_ms?: number | null;
  error?: string | null;
  /** a one-line preview of the output */
  output?: string;
  attempts?: number;
  /** answers the server gave from its idempotency cache (Idempotent-Replayed) for this node's calls */
  replayed?: { key?: string; status?: number }[];
  /** the result is of an older digest than the draft's (the draft was edited since that run) */
  stale?: boolean;
  /** an agent node: its model turns, tokens and cost ("2 turns · 374 tokens · $0.0011") */
  usage?: string;
}

export interface WfNodeData extends Record<string, unknown> {
  node: DslNode;
  ports: string[];
  parent: string | null;
  problems: Problem[] | undefined;
  deco: NodeDecoration | undefined;
  isHandler: boolean;
  width?: number;
  height?: number;
}

export type WfNode = Node<WfNodeData>;

export interface FlowInputs {
  doc: DslDocument;
  display: Map<string, DslPosition>; // positions for nodes whose document position is null
  selected: Set<string>;
  selectedEdges: Set<string>;
  problems: Map<string, Problem[]>;
  decorations: Map<string, NodeDecoration>;
  /** sizes React Flow measured (controlled flows must hand them back, or the minimap cannot draw nodes) */
  measured?: Map<string, { width: number; height: number }>;
}

interface CacheEntry {
  measured: { width: number; height: number } | undefined;
  node: DslNode;
  selected: boolean;
  problems: Problem[] | undefined;
  deco: NodeDecoration | undefined;
  isHandler: boolean;
  x: number;
  y: number;
  w: number;
  h: number;
  rf: WfNode;
}

export function createFlowCache() {
  const cache = new Map<string, CacheEntry>();
  return function toFlow(inp: FlowInputs): { nodes: WfNode[]; edges: Edge[] } {
    const nodes: WfNode[] = [];
    const edges: Edge[] = [];
    const seen = new Set<string>();
    const handler = inp.doc.settings?.error_handler ?? null;
    const posOf = (n: DslNode): DslPosition => n.position ?? inp.display.get(n.id) ?? { x: 0, y: 0 };
    const walk = (list: DslNode[], graphEdges: DslEdge[], parent: string | null) => {
      for (const n of list) {
        if (!n || typeof n.id !== "string") continue;
        if (seen.has(n.id)) continue; // a duplicate id: the server reports it; React Flow cannot show both
        seen.add(n.id);
        const p = posOf(n);
        const x = parent ? p.x + BODY_OFFSET.x : p.x;
        const y = parent ? p.y + BODY_OFFSET.y : p.y;
        const body = bodyOf(n);
        const size = body ? nodeSize(n, posOf) : { w: 0, h: 0 };
        const selected = inp.selected.has(n.id);
        const problems = inp.problems.get(n.id);
        const deco = inp.decorations.get(n.id);
        const isHandler = handler === n.id;
        const measured = inp.measured?.get(n.id);
        const prev = cache.get(n.id);
        let rf: WfNode;
        if (
          prev &&
          prev.node === n &&
          prev.selected === selected &&
          prev.problems === problems &&
          prev.deco === deco &&
          prev.isHandler === isHandler &&
          prev.x === x &&
          prev.y === y &&
          prev.w === size.w &&
          prev.h === size.h &&
          prev.measured === measured &&
          (prev.rf.parentId ?? null) === parent
        ) {
          rf = prev.rf;
        } else {
          const data: WfNodeData =
            prev && prev.node === n && prev.problems === problems && prev.deco === deco && prev.isHandler === isHandler && prev.w === size.w && prev.h === size.h
              ? prev.rf.data
              : { node: n, ports: portsOf(n), parent, problems, deco, isHandler, width: body ? size.w : undefined, height: body ? size.h : undefined };
          rf = {
            id: n.id,
            type: body ? "map" : n.type === "agent" ? "agent" : "wf",
            position: { x, y },
            data,
            selected,
            ...(parent ? { parentId: parent } : {}),
            ...(body ? { style: { width: size.w, height: size.h }, width: size.w, height: size.h } : {}),
            ...(measured ? { measured } : {}),
          };
          cache.set(n.id, { measured, node: n, selected, problems, deco, isHandler, x, y, w: size.w, h: size.h, rf });
        }
        nodes.push(rf);
        for (const e of graphEdges) {
          if (e.from !== n.id) continue;
          const id = edgeKey(parent, e);
          const port = edgePort(e);
          // The path a run took: both ends ran (a skipped or untouched target means this edge was not taken).
          const a = inp.decorations.get(e.from)?.status;
          const b = inp.decorations.get(e.to)?.status;
          const taken = !!a && !!b && a !== "skipped" && a !== "pending" && b !== "skipped" && b !== "pending";
          edges.push({
            id,
            source: e.from,
            target: e.to,
            sourceHandle: port,
            targetHandle: "in",
            selected: inp.selectedEdges.has(id),
            label: port === "out" ? undefined : port,
            className: `wf-edge${port === "error" ? " wf-edge-error" : ""}${taken ? " wf-edge-taken" : ""}`,
            animated: taken && b === "running",
            data: { parent },
            ...(parent ? { zIndex: 1 } : {}),
          });
        }
        if (body) walk(body.nodes, body.edges, n.id);
      }
    };
    walk(inp.doc.nodes, inp.doc.edges ?? [], null);
    for (const id of [...cache.keys()]) if (!seen.has(id)) cache.delete(id);
    return { nodes, edges };
  };
}
