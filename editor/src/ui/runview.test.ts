import { describe, expect, it } from "vitest";
import type { RunDetail } from "../lib/api";
import { serverRunView, serverStatus } from "./runview";
import { preview } from "./Editor";

describe("server runs on the canvas", () => {
  it("maps the server's node states onto canvas states", () => {
    expect(["started", "finished", "failed", "waiting", "skipped", "queued"].map(serverStatus)).toEqual([
      "running",
      "succeeded",
      "failed",
      "waiting",
      "skipped",
      "pending",
    ]);
  });
  it("builds per-node run info and decorations from GET /api/runs/<id>", () => {
    const detail = {
      run_id: "r1",
      workflow: "w",
      status: "failed",
      nodes: [
        { node: "start", status: "finished", input: {}, output: { n: 1 }, duration_ms: 1.5, attempts: 1 },
        { node: "fetch", status: "failed", input: { from: ["start"] }, error: { code: "network", message: "cannot resolve" }, duration_ms: 90, attempts: 3 },
        { node: "wait_a_bit", status: "started" },
      ],
    } as unknown as RunDetail;
    const view = serverRunView(detail);
    expect(view.source).toBe("server");
    expect(view.decorations.get("start")).toEqual({ status: "succeeded", duration_ms: 1.5, error: null, output: '{"n":1}' });
    expect(view.decorations.get("fetch")).toMatchObject({ status: "failed", error: "cannot resolve" });
    expect(view.nodes.get("fetch")).toMatchObject({ attempts: 3, error: { code: "network", message: "cannot resolve" } });
    expect(view.decorations.get("wait_a_bit")!.status).toBe("running");
    expect(serverRunView(detail, ["wait_a_bit"]).decorations.get("wait_a_bit")!.status).toBe("waiting");
  });
  it("previews outputs in one short line", () => {
    expect(preview({ a: 1 })).toBe('{"a":1}');
    expect(preview("x".repeat(200)).length).toBe(78);
    expect(preview(undefined)).toBe("");
  });
});
