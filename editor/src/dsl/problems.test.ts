import { describe, expect, it } from "vitest";
import { nodeAtPointer, normalizePointer, placeProblems, problemsUnder } from "./problems";
import type { DslDocument } from "./types";

import text from "../../../examples/order-sync.json?raw";

const doc = JSON.parse(text) as DslDocument;

describe("error pointers -> nodes and fields", () => {
  it("strips the /draft prefix of a PUT answer", () => {
    expect(normalizePointer("/draft/nodes/1/config/url")).toBe("/nodes/1/config/url");
    expect(normalizePointer("/nodes/1")).toBe("/nodes/1");
    expect(normalizePointer("/draft")).toBe("");
  });
  it("finds the deepest node holding a pointer, map bodies included", () => {
    expect(nodeAtPointer(doc, "/nodes/1/config/url")).toBe("fetch_orders");
    expect(nodeAtPointer(doc, "/nodes/2/config/items")).toBe("lines");
    expect(nodeAtPointer(doc, "/nodes/2/config/body/nodes/1/config/expression")).toBe("line_result");
    expect(nodeAtPointer(doc, "/nodes/10")).toBeNull();
    expect(nodeAtPointer(doc, "/settings/timeout_seconds")).toBeNull();
    expect(nodeAtPointer(doc, "/nodes/1x")).toBeNull();
  });
  it("groups problems by node and by field; edge problems go to the node the server names", () => {
    const placed = placeProblems(doc, [
      { path: "/draft/nodes/1/config/url", node: "fetch_orders", code: "bad_url", message: "not a URL" },
      { path: "/draft/nodes/2/config/body/nodes/0/config/body", node: "post_line", code: "syntax_error", message: "bad" },
      { path: "/draft/edges/1", node: "summary", code: "cycle", message: "cycle" },
      { path: "/draft/name", node: null, code: "bad_format", message: "bad name" },
    ]);
    expect(placed.byNode.get("fetch_orders")!.map((p) => p.code)).toEqual(["bad_url"]);
    expect(placed.byNode.get("post_line")!.map((p) => p.code)).toEqual(["syntax_error"]);
    expect(placed.byNode.get("lines")).toBeUndefined();
    expect(placed.byNode.get("summary")!.map((p) => p.code)).toEqual(["cycle"]);
    expect(placed.general.map((p) => p.path)).toEqual(["/name"]);
    expect(placed.byPointer.get("/nodes/1/config/url")![0].message).toBe("not a URL");
    expect(problemsUnder(placed, "/nodes/2").map((p) => p.code)).toEqual(["syntax_error"]);
  });
});
