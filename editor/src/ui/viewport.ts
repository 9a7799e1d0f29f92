// The first view of a workflow: fit it when it fits at a legible zoom, else show it at that zoom from its
// left (where the trigger is), so node titles stay readable; the user pans to the rest.
export const MIN_FIT_ZOOM = 0.6;
export const MAX_FIT_ZOOM = 0.9;

export function legibleViewport(
  bounds: { x: number; y: number; width: number; height: number },
  size: { width: number; height: number },
  opts: { min?: number; max?: number; margin?: number } = {},
): { x: number; y: number; zoom: number } {
  const min = opts.min ?? MIN_FIT_ZOOM;
  const max = opts.max ?? MAX_FIT_ZOOM;
  const margin = opts.margin ?? 40;
  const fit = Math.min((size.width - 2 * margin) / Math.max(1, bounds.width), (size.height - 2 * margin) / Math.max(1, bounds.height));
  const zoom = Math.max(min, Math.min(max, fit));
  const fitsX = bounds.width * zoom <= size.width - 2 * margin;
  const fitsY = bounds.height * zoom <= size.height - 2 * margin;
  const x = fitsX ? size.width / 2 - (bounds.x + bounds.width / 2) * zoom : margin - bounds.x * zoom;
  const y = fitsY ? size.height / 2 - (bounds.y + bounds.height / 2) * zoom : margin - bounds.y * zoom;
  return { x, y, zoom };
}

/** Where a menu of size (w, h) opened at (x, y) goes so that all of it is inside the window (the canvas
 * context menu, the quick-add picker). */
export function clampToViewport(x: number, y: number, w: number, h: number, vw: number, vh: number, margin = 8): { x: number; y: number } {
  return { x: Math.max(margin, Math.min(x, vw - w - margin)), y: Math.max(margin, Math.min(y, vh - h - margin)) };
}
