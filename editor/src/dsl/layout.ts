// Node geometry and auto-layout (dagre, left to right). Map bodies are laid out first so a map's box is known
// before its own graph is placed. Body positions are relative to the map box, as React Flow children are.
import dagre from "@dagrejs/dagre";
import { bodyOf, portsOf } from "./graph";
import type { DslDocument, DslEdge, DslNode, DslPosition } from "./types";

export const NODE_W = 220;
export const PORT_ROW = 20;
/** Where a map's body starts inside the map box (header above, padding left). */
export const BODY_OFFSET = { x: 24, y: 64 };
const BODY_PAD = 24;
const MIN_MAP = { w: 300, h: 150 };

export function nodeHeight(node: DslNode): number {
  const ports = portsOf(node).length;
  return Math.max(64, 28 + ports * PORT_ROW) + toolsHeight(node);
}

/** An agent's tools hang under it as chips (ui/nodes.tsx AgentNodeView): about two to a row. */
export function toolsHeight(node: DslNode): number {
  if (node.type !== "agent") return 0;
  const tools = (node.config as { tools?: unknown[] } | undefined)?.tools;
  const n = Array.isArray(tools) ? tools.length : 0;
  return n ? 10 + Math.ceil(n / 2) * 26 : 0;
}

/** Size of a node; for a map, the box around its body at the given child positions. */
export function nodeSize(node: DslNode, childPos?: (n: DslNode) => DslPosition): { w: number; h: number } {
  const body = bodyOf(node);
  if (!body) return { w: NODE_W, h: nodeHeight(node) };
  let w = MIN_MAP.w;
  let h = MIN_MAP.h;
  for (const child of body.nodes) {
    const p = childPos ? childPos(child) : (child.position ?? { x: 0, y: 0 });
    const s = nodeSize(child, childPos);
    w = Math.max(w, BODY_OFFSET.x + p.x + s.w + BODY_PAD);
    h = Math.max(h, BODY_OFFSET.y + p.y + s.h + BODY_PAD);
  }
  return { w, h };
}

function layoutGraph(nodes: DslNode[], edges: DslEdge[], size: (n: DslNode) => { w: number; h: number }): Map<string, DslPosition> {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 36, ranksep: 70, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set<string>();
  for (const n of nodes) {
    const s = size(n);
    g.setNode(n.id, { width: s.w, height: s.h });
    ids.add(n.id);
  }
  edges.forEach((e, i) => {
    if (ids.has(e.from) && ids.has(e.to)) g.setEdge(e.from, e.to, {}, `e${i}`);
  });
  dagre.layout(g);
  const out = new Map<string, DslPosition>();
  for (const n of nodes) {
    const v = g.node(n.id) as { x: number; y: number; width: number; height: number };
    out.set(n.id, { x: Math.round(v.x - v.width / 2), y: Math.round(v.y - v.height / 2) });
  }
  return out;
}

/** Positions for every node (bodies relative to their map), from scratch. */
export function autoLayout(doc: DslDocument): Map<string, DslPosition> {
  const out = new Map<string, DslPosition>();
  const place = (nodes: DslNode[], edges: DslEdge[]) => {
    for (const n of nodes) {
      const body = bodyOf(n);
      if (body && body.nodes.length) place(body.nodes, body.edges);
    }
    const pos = layoutGraph(nodes, edges, (n) => nodeSize(n, (c) => out.get(c.id) ?? { x: 0, y: 0 }));
    pos.forEach((p, id) => out.set(id, p));
  };
  place(doc.nodes, doc.edges ?? []);
  return out;
}

/** Positions for the nodes that have none (position null or absent): the auto layout's, so they do not pile
 * up at the origin. These are display positions only; the document keeps null until the user moves a node. */
export function missingPositions(doc: DslDocument): Map<string, DslPosition> {
  let missing = false;
  const check = (nodes: DslNode[]) => {
    for (const n of nodes) {
      if (!n.position) missing = true;
      const body = bodyOf(n);
      if (body) check(body.nodes);
    }
  };
  check(doc.nodes);
  if (!missing) return new Map();
  const all = autoLayout(doc);
  const out = new Map<string, DslPosition>();
  const pick = (nodes: DslNode[]) => {
    for (const n of nodes) {
      if (!n.position) out.set(n.id, all.get(n.id) ?? { x: 0, y: 0 });
      const body = bodyOf(n);
      if (body) pick(body.nodes);
    }
  };
  pick(doc.nodes);
  return out;
}

/** Whether two top-level node boxes overlap (e.g. a document written by hand, where a map's box covers the
 * next node): the editor then offers the auto layout. Nodes are heights-estimated; 300+ nodes are not checked. */
export function hasOverlaps(doc: DslDocument, display: Map<string, DslPosition> = new Map()): boolean {
  const nodes = doc.nodes;
  if (nodes.length > 300) return false;
  const boxes = nodes.map((n) => {
    const p = n.position ?? display.get(n.id) ?? { x: 0, y: 0 };
    const s = nodeSize(n, (c) => c.position ?? display.get(c.id) ?? { x: 0, y: 0 });
    return { x: p.x, y: p.y, w: s.w, h: s.h };
  });
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i];
      const b = boxes[j];
      if (a.x < b.x + b.w - 8 && b.x < a.x + a.w - 8 && a.y < b.y + b.h - 8 && b.y < a.y + a.h - 8) return true;
    }
  return false;
}
