// The canvas edge: a smoothstep path whose sides follow where the nodes are. Left to right (the usual case)
// it runs from the output handle on the right to the input on the left. When the target sits below (or above)
// the source and not to its right, a right-to-left path would loop back behind both nodes: it then leaves the
// source at the bottom (top) and enters the target at the top (bottom). A node with several ports keeps its
// port's handle as the start, so the port stays readable. Module scope, memoised, like the node types.
import { BaseEdge, getSmoothStepPath, Position, useInternalNode, type EdgeProps } from "@xyflow/react";
import { memo } from "react";

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export type Route = { sx: number; sy: number; sp: Position; tx: number; ty: number; tp: Position } | null;

/** Endpoints for a vertical route between two boxes, or null when the handles' left-to-right route is fine. */
export function verticalRoute(s: Box, t: Box, handle: { x: number; y: number } | null): Route {
  const GAP = 12;
  if (t.x >= s.x + s.w + 24) return null; // the target starts to the right: the normal route
  const below = t.y >= s.y + s.h + GAP;
  const above = t.y + t.h + GAP <= s.y;
  if (!below && !above) return null;
  const tx = t.x + t.w / 2;
  const ty = below ? t.y : t.y + t.h;
  const tp = below ? Position.Top : Position.Bottom;
  if (handle) return { sx: handle.x, sy: handle.y, sp: Position.Right, tx, ty, tp };
  return { sx: s.x + s.w / 2, sy: below ? s.y + s.h : s.y, sp: below ? Position.Bottom : Position.Top, tx, ty, tp };
}

function boxOf(n: ReturnType<typeof useInternalNode>): Box | null {
  if (!n) return null;
  const w = n.measured?.width ?? n.width;
  const h = n.measured?.height ?? n.height;
  if (!w || !h) return null;
  return { x: n.internals.positionAbsolute.x, y: n.internals.positionAbsolute.y, w, h };
}

export const WfEdge = memo(function WfEdge(p: EdgeProps) {
  const s = useInternalNode(p.source);
  const t = useInternalNode(p.target);
  const sb = boxOf(s);
  const tb = boxOf(t);
  const multi = (s?.internals.handleBounds?.source?.length ?? 1) > 1;
  const r = sb && tb ? verticalRoute(sb, tb, multi ? { x: p.sourceX, y: p.sourceY } : null) : null;
  const [path, labelX, labelY] = getSmoothStepPath(
    r
      ? { sourceX: r.sx, sourceY: r.sy, sourcePosition: r.sp, targetX: r.tx, targetY: r.ty, targetPosition: r.tp, borderRadius: 8 }
      : { sourceX: p.sourceX, sourceY: p.sourceY, sourcePosition: p.sourcePosition, targetX: p.targetX, targetY: p.targetY, targetPosition: p.targetPosition, borderRadius: 8 },
  );
  return (
    <BaseEdge
      id={p.id}
      path={path}
      labelX={labelX}
      labelY={labelY}
      label={p.label}
      labelStyle={p.labelStyle}
      labelShowBg={p.labelShowBg}
      labelBgStyle={p.labelBgStyle}
      labelBgPadding={p.labelBgPadding}
      labelBgBorderRadius={p.labelBgBorderRadius}
      style={p.style}
      markerEnd={p.markerEnd}
      markerStart={p.markerStart}
      interactionWidth={p.interactionWidth}
    />
  );
});

export const edgeTypes = { wf: WfEdge };
