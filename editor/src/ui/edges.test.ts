import { Position } from "@xyflow/react";
import { describe, expect, it } from "vitest";
import { verticalRoute } from "./edges";

const box = (x: number, y: number) => ({ x, y, w: 220, h: 64 });

describe("edge routing by relative position", () => {
  it("keeps the right-to-left route when the target is to the right", () => {
    expect(verticalRoute(box(0, 0), box(280, 0), null)).toBeNull();
    expect(verticalRoute(box(0, 0), box(280, 300), null)).toBeNull();
  });
  it("goes bottom to top when the target is below, top to bottom when above", () => {
    expect(verticalRoute(box(0, 0), box(0, 150), null)).toEqual({ sx: 110, sy: 64, sp: Position.Bottom, tx: 110, ty: 150, tp: Position.Top });
    expect(verticalRoute(box(0, 150), box(40, 0), null)).toEqual({ sx: 110, sy: 150, sp: Position.Top, tx: 150, ty: 64, tp: Position.Bottom });
  });
  it("keeps a multi-port node's handle as the start, and does nothing for side-by-side overlapping rows", () => {
    expect(verticalRoute(box(0, 0), box(0, 150), { x: 220, y: 40 })).toMatchObject({ sx: 220, sy: 40, sp: Position.Right, tp: Position.Top });
    expect(verticalRoute(box(0, 0), box(-300, 20), null)).toBeNull();
  });
});
