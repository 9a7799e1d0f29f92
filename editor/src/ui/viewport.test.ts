import { describe, expect, it } from "vitest";
import { legibleViewport, MIN_FIT_ZOOM } from "./viewport";

describe("legibleViewport", () => {
  it("centres a graph that fits", () => {
    const v = legibleViewport({ x: 0, y: 0, width: 400, height: 100 }, { width: 800, height: 600 });
    expect(v.zoom).toBe(0.9);
    expect(v.x + 200 * v.zoom).toBeCloseTo(400);
    expect(v.y + 50 * v.zoom).toBeCloseTo(300);
  });
  it("never zooms out below the legible minimum; a wide graph starts at its left", () => {
    const v = legibleViewport({ x: -10, y: -240, width: 2100, height: 550 }, { width: 740, height: 500 });
    expect(v.zoom).toBe(MIN_FIT_ZOOM);
    expect(v.x + -10 * v.zoom).toBeCloseTo(40); // the left edge of the graph sits at the margin
    expect(v.y + (-240 + 275) * v.zoom).toBeCloseTo(250); // still centred vertically: it fits that way
  });
});
