// Pure operations on the DSL document: lookup, ports, edits and connection rules. Every edit returns a new
// document (structural sharing), which is what makes undo/redo, autosave and memoised rendering cheap.
import type { DslDocument, DslEdge, DslNode, JsonObject } from "./types";

/** Where a node lives: its JSON pointer, and the map whose body holds it (null: top level). */
export interface NodeLocation {
  node: DslNode;
  pointer: string;
  parent: string | null;
  index: number;
}

const RESERVED = new Set(["input", "item", "index", "error", "env", "secrets", "ctx"]);
const PY_KEYWORDS = new Set(
  ("False None True and as assert async await break case class continue def del elif else except finally for " +
    "from global if import in is lambda match nonlocal not or pass raise return try type while with yield _").split(" "),
);

export function isTrigger(type: string): boolean {
  return type.startsWith("trigger.");
}

/** The body ({nodes, edges}) of a map node, or null for other types. */
export function bodyOf(node: DslNode): { nodes: DslNode[]; edges: DslEdge[] } | null {
  if (node.type !== "map") return null;
  const body = (node.config as JsonObject | undefined)?.body as unknown as
    | { nodes?: DslNode[]; edges?: DslEdge[] }
    | undefined;
  if (!body || typeof body !== "object") return { nodes: [], edges: [] };
  return { nodes: Array.isArray(body.nodes) ? body.nodes : [], edges: Array.isArray(body.edges) ? body.edges : [] };
}

/** Every node of the document, map bodies included, keyed by id (the first one wins on duplicates). */
export function indexNodes(doc: DslDocument): Map<string, NodeLocation> {
  const out = new Map<string, NodeLocation>();
  const walk = (nodes: DslNode[], base: string, parent: string | null) => {
    nodes.forEach((node, index) => {
      if (!node || typeof node !== "object") return;
      const pointer = `${base}/${index}`;
      if (!out.has(node.id)) out.set(node.id, { node, pointer, parent, index });
      const body = bodyOf(node);
      if (body) walk(body.nodes, `${pointer}/config/body/nodes`, node.id);
    });
  };
  walk(Array.isArray(doc.nodes) ? doc.nodes : [], "/nodes", null);
  return out;
}

/** Output ports of a node (docs/dsl.md "Edges and ports"), `error` included when on_error is route. */
export function portsOf(node: DslNode): string[] {
  let ports: string[];
  switch (node.type) {
    case "branch":
      ports = ["true", "false"];
      break;
    case "switch": {
      const cases = (node.config?.cases as unknown as { port?: string }[] | undefined) ?? [];
      ports = [...cases.map((c) => (c && typeof c.port === "string" ? c.port : "")).filter(Boolean), "default"];
      break;
    }
    case "fail":
      ports = [];
      break;
    default:
      ports = ["out"];
  }
  if (node.on_error === "route") ports.push("error");
  return ports;
}

export function edgePort(edge: DslEdge): string {
  return edge.port ?? "out";
}

/** The edge list of a graph: the top level (parent null) or a map's body. */
export function edgesOf(doc: DslDocument, parent: string | null): DslEdge[] {
  if (parent === null) return doc.edges ?? [];
  const loc = indexNodes(doc).get(parent);
  return loc ? (bodyOf(loc.node)?.edges ?? []) : [];
}

export function nodesOf(doc: DslDocument, parent: string | null): DslNode[] {
  if (parent === null) return doc.nodes;
  const loc = indexNodes(doc).get(parent);
  return loc ? (bodyOf(loc.node)?.nodes ?? []) : [];
}

/** Stable React Flow id of an edge: graph, source, port and target (a DSL edge has no id of its own). */
export function edgeKey(parent: string | null, edge: DslEdge): string {
  return `${parent ?? ""}|${edge.from}|${edgePort(edge)}|${edge.to}`;
}

export function parseEdgeKey(key: string): { parent: string | null; from: string; port: string; to: string } {
  const [parent, from, port, to] = key.split("|");
  return { parent: parent || null, from, port, to };
}

// ---- immutable edits ----

function mapNodes(nodes: DslNode[], fn: (n: DslNode) => DslNode): DslNode[] {
  let changed = false;
  const out = nodes.map((n) => {
    let next = fn(n);
    const body = bodyOf(next);
    if (body && next.config && (next.config as JsonObject).body !== undefined) {
      const inner = mapNodes(body.nodes, fn);
      if (inner !== body.nodes) next = withBody(next, { ...body, nodes: inner }, true);
    }
    if (next !== n) changed = true;
    return next;
  });
  return changed ? out : nodes;
}

function withBody(node: DslNode, body: { nodes: DslNode[]; edges: DslEdge[] }, keepEdgesKey: boolean): DslNode {
  const old = (node.config?.body ?? {}) as unknown as Record<string, unknown>;
  const next: Record<string, unknown> = { ...old, nodes: body.nodes };
  if (keepEdgesKey ? "edges" in old || body.edges.length > 0 : true) next.edges = body.edges;
  return { ...node, config: { ...(node.config ?? {}), body: next as unknown as JsonObject } };
}

/** Replace one node (anywhere, bodies included) by fn(node). */
export function updateNode(doc: DslDocument, id: string, fn: (n: DslNode) => DslNode): DslDocument {
  const nodes = mapNodes(doc.nodes, (n) => (n.id === id ? fn(n) : n));
  return nodes === doc.nodes ? doc : { ...doc, nodes };
}

/** Set many node positions at once (one drag frame moves every selected node). */
export function setPositions(doc: DslDocument, positions: Map<string, { x: number; y: number }>): DslDocument {
  if (positions.size === 0) return doc;
  const nodes = mapNodes(doc.nodes, (n) => {
    const p = positions.get(n.id);
    if (!p) return n;
    const x = Math.round(p.x);
    const y = Math.round(p.y);
    if (n.position && n.position.x === x && n.position.y === y) return n;
    return { ...n, position: { x, y } };
  });
  return nodes === doc.nodes ? doc : { ...doc, nodes };
}

function updateGraph(
  doc: DslDocument,
  parent: string | null,
  fn: (g: { nodes: DslNode[]; edges: DslEdge[] }) => { nodes: DslNode[]; edges: DslEdge[] },
): DslDocument {
  if (parent === null) {
    const g = fn({ nodes: doc.nodes, edges: doc.edges ?? [] });
    const next: DslDocument = { ...doc, nodes: g.nodes };
    if ("edges" in doc || g.edges.length > 0) next.edges = g.edges;
    return next;
  }
  return updateNode(doc, parent, (m) => withBody(m, fn(bodyOf(m) ?? { nodes: [], edges: [] }), false));
}

export function addNode(doc: DslDocument, node: DslNode, parent: string | null = null): DslDocument {
  return updateGraph(doc, parent, (g) => ({ nodes: [...g.nodes, node], edges: g.edges }));
}

export function addEdge(doc: DslDocument, parent: string | null, edge: DslEdge): DslDocument {
  return updateGraph(doc, parent, (g) => ({ nodes: g.nodes, edges: [...g.edges, edge] }));
}

/** Remove nodes (with their map bodies) and edges; edges touching a removed node go too. */
export function removeElements(doc: DslDocument, nodeIds: Iterable<string>, edgeKeys: Iterable<string> = []): DslDocument {
  const ids = new Set(nodeIds);
  const keys = new Set(edgeKeys);
  if (ids.size === 0 && keys.size === 0) return doc;
  const pruneEdges = (edges: DslEdge[], parent: string | null) =>
    edges.filter((e) => !ids.has(e.from) && !ids.has(e.to) && !keys.has(edgeKey(parent, e)));
  const prune = (nodes: DslNode[]): DslNode[] =>
    nodes
      .filter((n) => !ids.has(n.id))
      .map((n) => {
        const body = bodyOf(n);
        if (!body || !n.config || (n.config as JsonObject).body === undefined) return n;
        const nodes2 = prune(body.nodes);
        const edges2 = pruneEdges(body.edges, n.id);
        if (nodes2.length === body.nodes.length && edges2.length === body.edges.length && nodes2.every((x, i) => x === body.nodes[i]))
          return n;
        return withBody(n, { nodes: nodes2, edges: edges2 }, true);
      });
  const next: DslDocument = { ...doc, nodes: prune(doc.nodes) };
  if (doc.edges) next.edges = pruneEdges(doc.edges, null);
  const handler = doc.settings?.error_handler;
  if (handler && ids.has(handler)) next.settings = { ...doc.settings, error_handler: null };
  return next;
}

/** Rename a node id, and every edge and error_handler that names it (expressions are left to the user). */
export function renameNode(doc: DslDocument, from: string, to: string): DslDocument {
  const loc = indexNodes(doc).get(from);
  if (!loc) return doc;
  let next = updateNode(doc, from, (n) => ({ ...n, id: to }));
  const fix = (edges: DslEdge[]) =>
    edges.map((e) => (e.from === from || e.to === from ? { ...e, from: e.from === from ? to : e.from, to: e.to === from ? to : e.to } : e));
  next = updateGraph(next, loc.parent, (g) => ({ nodes: g.nodes, edges: fix(g.edges) }));
  if (next.settings?.error_handler === from) next = { ...next, settings: { ...next.settings, error_handler: to } };
  return next;
}

/** A node id derived from the type that no node uses yet: `http_request`, `http_request_2`, ... */
export function freshId(doc: DslDocument, base: string, taken: Set<string> = new Set()): string {
  const used = new Set([...indexNodes(doc).keys(), ...taken]);
  let stem = base.toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^[^a-z]+/, "").replace(/_+$/, "").slice(0, 56) || "node";
  if (RESERVED.has(stem) || PY_KEYWORDS.has(stem)) stem = `${stem}_node`;
  if (!used.has(stem)) return stem;
  for (let i = 2; ; i++) if (!used.has(`${stem}_${i}`)) return `${stem}_${i}`;
}

export function idProblem(doc: DslDocument, id: string, self?: string): string | null {
  if (!/^[a-z][a-z0-9_]{0,63}$/.test(id)) return "ids are lower-case letters, digits and _, starting with a letter";
  if (RESERVED.has(id) || PY_KEYWORDS.has(id)) return `'${id}' is a reserved name`;
  if (id !== self && indexNodes(doc).has(id)) return `id '${id}' is already used by another node`;
  return null;
}

// ---- connection rules (docs/dsl.md "Edges and ports") ----

export interface ConnectionAttempt {
  source: string;
  sourceHandle?: string | null;
  target: string;
}

/** Why a new edge would be invalid, or null when it may be drawn. The server checks the same rules. */
export function connectionProblem(doc: DslDocument, c: ConnectionAttempt): string | null {
  const index = indexNodes(doc);
  const src = index.get(c.source);
  const dst = index.get(c.target);
  if (!src || !dst) return "unknown node";
  const port = c.sourceHandle || "out";
  if (c.source === c.target) return "a node cannot connect to itself";
  if (isTrigger(dst.node.type)) return `nothing may point into the trigger '${c.target}'`;
  if (doc.settings?.error_handler && doc.settings.error_handler === c.target)
    return `nothing may point into the error handler '${c.target}'`;
  if (src.parent !== dst.parent) {
    const where = (p: string | null) => (p ? `the body of map '${p}'` : "the top level");
    return `edges connect nodes of the same graph: '${c.source}' is in ${where(src.parent)}, '${c.target}' in ${where(dst.parent)}`;
  }
  const ports = portsOf(src.node);
  if (!ports.includes(port)) {
    if (port === "error") return `'${c.source}' has no error port: set its on_error to "route"`;
    return ports.length ? `'${c.source}' has no port '${port}' (ports: ${ports.join(", ")})` : `'${c.source}' ends the run: it has no outputs`;
  }
  const edges = edgesOf(doc, src.parent);
  if (edges.some((e) => e.from === c.source && e.to === c.target && edgePort(e) === port))
    return `'${c.source}' already connects to '${c.target}' on port '${port}'`;
  const path = findPath(edges, c.target, c.source);
  if (path) return `this would form a cycle: ${[c.source, ...path].join(" -> ")}`;
  return null;
}

/** A path of edges from -> ... -> to, or null. */
export function findPath(edges: DslEdge[], from: string, to: string): string[] | null {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    const list = next.get(e.from);
    if (list) list.push(e.to);
    else next.set(e.from, [e.to]);
  }
  const prev = new Map<string, string>();
  const queue = [from];
  const seen = new Set([from]);
  while (queue.length) {
    const cur = queue.shift()!;
    if (cur === to) {
      const path = [cur];
      let p = cur;
      while (prev.has(p)) {
        p = prev.get(p)!;
        path.unshift(p);
      }
      return path;
    }
    for (const n of next.get(cur) ?? []) {
      if (!seen.has(n)) {
        seen.add(n);
        prev.set(n, cur);
        queue.push(n);
      }
    }
  }
  return null;
}

/** Ids of every node upstream of `id` (what its expressions may read), map enclosures included. */
export function upstreamOf(doc: DslDocument, id: string): string[] {
  const index = indexNodes(doc);
  const out: string[] = [];
  const seen = new Set<string>();
  let cur: string | null = id;
  while (cur) {
    const loc = index.get(cur);
    if (!loc) break;
    const edges = edgesOf(doc, loc.parent);
    const stack = [cur];
    while (stack.length) {
      const n = stack.pop()!;
      for (const e of edges)
        if (e.to === n && !seen.has(e.from)) {
          seen.add(e.from);
          out.push(e.from);
          stack.push(e.from);
        }
    }
    cur = loc.parent;
  }
  return out;
}

/** The map ids enclosing a node, innermost first. */
export function enclosingMaps(doc: DslDocument, id: string): string[] {
  const index = indexNodes(doc);
  const out: string[] = [];
  let p = index.get(id)?.parent ?? null;
  while (p) {
    out.push(p);
    p = index.get(p)?.parent ?? null;
  }
  return out;
}

/** Nodes after the error handler (and itself) may read `error`. */
export function seesError(doc: DslDocument, id: string): boolean {
  const handler = doc.settings?.error_handler;
  if (!handler) return false;
  return id === handler || upstreamOf(doc, id).includes(handler);
}
