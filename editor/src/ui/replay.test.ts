import { describe, expect, it } from "vitest";
import type { RunDetail } from "../lib/api";
import { canReplay, defaultReplayNode, lineageOf, replayableNodes, replayMark } from "./replay";

const detail = {
  run_id: "r2",
  workflow: "w",
  status: "failed",
  nodes: [
    { node: "hook", status: "finished" },
    { node: "fetch", status: "finished" },
    { node: "route", status: "skipped" },
    { node: "shape", status: "failed" },
  ],
} as unknown as RunDetail;

describe("replay from a node", () => {
  it("offers the nodes the run started, not skipped ones (the server answers node_not_run)", () => {
    expect(replayableNodes(detail)).toEqual(["hook", "fetch", "shape"]);
    expect(replayableNodes({ nodes: { a: { status: "finished" }, b: { status: "pending" } } } as never)).toEqual(["a"]);
    expect(replayableNodes({} as never)).toEqual([]);
  });
  it("starts from the selected node if the run reached it, else the previous pick, else the last node", () => {
    const nodes = replayableNodes(detail);
    expect(defaultReplayNode(nodes, "fetch", "hook")).toBe("fetch");
    expect(defaultReplayNode(nodes, "route", "hook")).toBe("hook");
    expect(defaultReplayNode(nodes, null, "gone")).toBe("shape");
    expect(defaultReplayNode([], "x", null)).toBe("");
  });
  it("refuses queued and running runs (run_active)", () => {
    expect(["queued", "running", "waiting", "succeeded", "failed"].map(canReplay)).toEqual([false, false, true, true, true]);
  });
  it("reads the lineage both ways, with the summary's replay_of as a fallback", () => {
    const withLineage = { ...detail, lineage: { replay_of: { run_id: "r1", from_node: "shape" }, replays: [{ run_id: "r3", from_node: "fetch", created_at: "t" }] } } as RunDetail;
    expect(lineageOf(withLineage)).toEqual({ parent: { run_id: "r1", from_node: "shape" }, children: [{ run_id: "r3", from_node: "fetch", created_at: "t" }] });
    expect(lineageOf({ ...detail, replay_of: { run_id: "r0", from_node: "hook" } } as RunDetail)).toEqual({ parent: { run_id: "r0", from_node: "hook" }, children: [] });
    expect(lineageOf(detail)).toEqual({ parent: null, children: [] });
  });
  it("marks replay rows in the run list", () => {
    expect(replayMark({ workflow: "w", status: "succeeded", replay_of: { run_id: "r1", from_node: "shape" } })).toEqual({ text: "↻ shape", title: "replay of r1 from shape" });
    expect(replayMark({ workflow: "w", status: "succeeded", replay_of: null })).toBeNull();
  });
});
