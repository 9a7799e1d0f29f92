import { describe, expect, it } from "vitest";
import { createFlowCache } from "./flow";
import {
  addEdge,
  addNode,
  connectionProblem,
  indexNodes,
  parseEdgeKey,
  removeElements,
  renameNode,
  setPositions,
  upstreamOf,
} from "./graph";
import { autoLayout, BODY_OFFSET, missingPositions } from "./layout";
import type { DslDocument } from "./types";

const files = import.meta.glob("../../../examples/*.json", { eager: true, query: "?raw", import: "default" });
const examples = Object.entries(files).map(([path, text]) => ({
  file: path.split("/").pop()!,
  doc: JSON.parse(text as string) as DslDocument,
}));

function flowOf(doc: DslDocument) {
  return createFlowCache()({
    doc,
    display: missingPositions(doc),
    selected: new Set(),
    selectedEdges: new Set(),
    problems: new Map(),
    decorations: new Map(),
  });
}

/** What the canvas hands back after a user moves every node to where it is shown: the document again. */
function flowBackToDoc(doc: DslDocument): DslDocument {
  const { nodes } = flowOf(doc);
  const moves = new Map<string, { x: number; y: number }>();
  for (const n of nodes) {
    const p = n.parentId ? { x: n.position.x - BODY_OFFSET.x, y: n.position.y - BODY_OFFSET.y } : n.position;
    const dsl = n.data.node;
    if (dsl.position) moves.set(n.id, p);
  }
  return setPositions(doc, moves);
}

describe("DSL <-> graph round trip", () => {
  it("has examples to test", () => expect(examples.length).toBeGreaterThanOrEqual(4));
  for (const { file, doc } of examples) {
    it(`${file}: every node and edge appears once on the canvas and the document comes back unchanged`, () => {
      const { nodes, edges } = flowOf(doc);
      expect(nodes.map((n) => n.id).sort()).toEqual([...indexNodes(doc).keys()].sort());
      const dslEdges = [...(doc.edges ?? [])].length + [...indexNodes(doc).values()].reduce(
        (k, l) => k + ((l.node.config?.body as { edges?: unknown[] } | undefined)?.edges?.length ?? 0),
        0,
      );
      expect(edges.length).toBe(dslEdges);
      for (const e of edges) {
        const k = parseEdgeKey(e.id);
        expect([k.from, k.to, k.port]).toEqual([e.source, e.target, e.sourceHandle]);
      }
      const back = flowBackToDoc(doc);
      expect(back).toBe(doc); // same positions: not even a new object
      expect(JSON.stringify(back)).toBe(JSON.stringify(doc));
    });
    it(`${file}: moving a node changes only that node's position`, () => {
      const first = doc.nodes[1];
      const moved = setPositions(doc, new Map([[first.id, { x: 999, y: 111 }]]));
      expect(moved.nodes[1].position).toEqual({ x: 999, y: 111 });
      const restored = setPositions(moved, new Map([[first.id, first.position!]]));
      expect(JSON.stringify(restored)).toBe(JSON.stringify(doc));
    });
  }
  it("keeps a null position null (shown where the auto layout puts it)", () => {
    const doc: DslDocument = {
      dsl: "wasmflow/1",
      name: "x",
      nodes: [
        { id: "start", type: "trigger.manual" },
        { id: "t", type: "transform", config: { expression: "1" }, position: null },
      ],
      edges: [{ from: "start", to: "t" }],
    };
    const { nodes } = flowOf(doc);
    expect(nodes[1].position.x).toBeGreaterThan(nodes[0].position.x);
    expect(JSON.stringify(flowBackToDoc(doc))).toBe(JSON.stringify(doc));
  });
  it("map bodies become children of the map node, offset inside its box", () => {
    const doc = examples.find((e) => e.file === "order-sync.json")!.doc;
    const { nodes } = flowOf(doc);
    const child = nodes.find((n) => n.id === "post_line")!;
    expect(child.parentId).toBe("lines");
    expect(child.position).toEqual({ x: BODY_OFFSET.x, y: BODY_OFFSET.y });
    expect(nodes.findIndex((n) => n.id === "lines")).toBeLessThan(nodes.findIndex((n) => n.id === "post_line"));
  });
  it("the flow cache returns the same node objects when nothing changed", () => {
    const doc = examples[0].doc;
    const toFlow = createFlowCache();
    const inp = { doc, display: new Map(), selected: new Set<string>(), selectedEdges: new Set<string>(), problems: new Map(), decorations: new Map() };
    const a = toFlow(inp);
    const moved = setPositions(doc, new Map([[doc.nodes[0].id, { x: 5, y: 5 }]]));
    const b = toFlow({ ...inp, doc: moved });
    expect(b.nodes[0]).not.toBe(a.nodes[0]);
    expect(b.nodes.slice(1).every((n, i) => n === a.nodes[i + 1])).toBe(true);
  });
  it("auto layout places nodes left to right along edges", () => {
    const doc = examples.find((e) => e.file === "lead-routing.json")!.doc;
    const pos = autoLayout(doc);
    expect(pos.get("has_email")!.x).toBeGreaterThan(pos.get("start")!.x);
    expect(pos.get("route")!.x).toBeGreaterThan(pos.get("bump")!.x);
  });
});

const lead = () => examples.find((e) => e.file === "lead-routing.json")!.doc;
const orders = () => examples.find((e) => e.file === "order-sync.json")!.doc;

describe("connection rules", () => {
  it("refuses a cycle, naming it", () => {
    expect(connectionProblem(lead(), { source: "bump", target: "segment" })).toBe(
      "this would form a cycle: bump -> segment -> counter -> bump",
    );
  });
  it("refuses an edge into the trigger", () => {
    expect(connectionProblem(lead(), { source: "segment", target: "start" })).toBe("nothing may point into the trigger 'start'");
  });
  it("refuses a duplicate edge", () => {
    expect(connectionProblem(lead(), { source: "has_email", sourceHandle: "true", target: "segment" })).toBe(
      "'has_email' already connects to 'segment' on port 'true'",
    );
  });
  it("allows the same pair on another port", () => {
    expect(connectionProblem(lead(), { source: "has_email", sourceHandle: "false", target: "segment" })).toBeNull();
  });
  it("refuses the error port unless on_error is route", () => {
    expect(connectionProblem(lead(), { source: "segment", sourceHandle: "error", target: "park_lead" })).toBe(
      `'segment' has no error port: set its on_error to "route"`,
    );
    expect(connectionProblem(lead(), { source: "assign_enterprise", sourceHandle: "error", target: "park_lead" })).toBeNull();
  });
  it("refuses ports a node does not have, and any edge out of fail", () => {
    expect(connectionProblem(lead(), { source: "has_email", sourceHandle: "out", target: "park_lead" })).toBe(
      "'has_email' has no port 'out' (ports: true, false)",
    );
    expect(connectionProblem(lead(), { source: "invalid_lead", target: "park_lead" })).toBe("'invalid_lead' ends the run: it has no outputs");
  });
  it("refuses edges between a map body and the top level, and self loops", () => {
    expect(connectionProblem(orders(), { source: "fetch_orders", target: "post_line" })).toBe(
      "edges connect nodes of the same graph: 'fetch_orders' is in the top level, 'post_line' in the body of map 'lines'",
    );
    expect(connectionProblem(orders(), { source: "summary", target: "summary" })).toBe("a node cannot connect to itself");
  });
  it("refuses an edge into the error handler", () => {
    const doc = { ...lead(), settings: { error_handler: "park_lead" } };
    expect(connectionProblem(doc, { source: "segment", target: "park_lead" })).toBe("nothing may point into the error handler 'park_lead'");
  });
});

describe("edits", () => {
  it("adds edges inside a map body to the body's edge list", () => {
    let doc = addNode(orders(), { id: "extra", type: "transform", config: { expression: "item" }, position: { x: 0, y: 100 } }, "lines");
    doc = addEdge(doc, "lines", { from: "post_line", to: "extra" });
    const body = doc.nodes[2].config!.body as unknown as { nodes: { id: string }[]; edges: unknown[] };
    expect(body.nodes.map((n) => n.id)).toEqual(["post_line", "line_result", "extra"]);
    expect(body.edges).toEqual([{ from: "post_line", to: "line_result" }, { from: "post_line", to: "extra" }]);
  });
  it("removing a node removes its edges and its body", () => {
    const doc = removeElements(orders(), ["lines"]);
    expect(doc.nodes.map((n) => n.id)).toEqual(["start", "fetch_orders", "summary"]);
    expect(doc.edges).toEqual([{ from: "start", to: "fetch_orders" }]);
    expect(indexNodes(doc).has("post_line")).toBe(false);
  });
  it("renaming a node renames its edges", () => {
    const doc = renameNode(lead(), "segment", "segmentation");
    expect(doc.edges!.filter((e) => e.from === "segmentation" || e.to === "segmentation")).toHaveLength(2);
  });
  it("upstream of a body node includes the map's upstream", () => {
    expect(upstreamOf(orders(), "line_result").sort()).toEqual(["fetch_orders", "post_line", "start"]);
  });
});

describe("overlap detection", () => {
  it("finds a map box covering the next node, and none after the auto layout", async () => {
    const { hasOverlaps, autoLayout } = await import("./layout");
    // order-sync as it once shipped: "Summarize" under the map box.
    const doc = setPositions(orders(), new Map([["summary", { x: 780, y: 0 }]]));
    expect(hasOverlaps(doc)).toBe(true);
    expect(hasOverlaps(setPositions(doc, autoLayout(doc)))).toBe(false);
  });
  it("ships examples whose nodes do not overlap", async () => {
    const { hasOverlaps } = await import("./layout");
    for (const { file, doc } of examples) expect(hasOverlaps(doc), file).toBe(false);
  });
});

describe("run path on the canvas", () => {
  it("marks the edges a run took, not the branch it skipped", () => {
    const doc = lead();
    const decorations = new Map([
      ["start", { status: "succeeded" as const }],
      ["has_email", { status: "succeeded" as const }],
      ["segment", { status: "running" as const }],
      ["invalid_lead", { status: "skipped" as const }],
    ]);
    const { edges } = createFlowCache()({ doc, display: new Map(), selected: new Set(), selectedEdges: new Set(), problems: new Map(), decorations });
    const cls = (from: string, to: string) => edges.find((e) => e.source === from && e.target === to)!;
    expect(cls("start", "has_email").className).toContain("wf-edge-taken");
    expect(cls("has_email", "segment").animated).toBe(true);
    expect(cls("has_email", "invalid_lead").className).not.toContain("wf-edge-taken");
    expect(cls("segment", "counter").className).not.toContain("wf-edge-taken");
  });
});
