// Whether the results on screen (a test run's node outputs, the Run tab, a server run painted on the canvas)
// are of an older version of the draft than the one being edited, and what the compile step shows while it
// works. Pure, so unit-tested (staleness.test.ts).
import type { DslDocument } from "../dsl/types";

/** The document as far as the compiled program goes: positions and sticky notes move nothing in the digest. */
export function programKey(doc: DslDocument): string {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v === null || typeof v !== "object") return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === "position" || k === "notes") continue;
      out[k] = strip(x);
    }
    return out;
  };
  return JSON.stringify(strip(doc));
}

/** Results of `runDigest` (run on document `runDoc`) are stale when the saved draft's digest is another one,
 * or at once after an edit that changes the program, before autosave has told the new digest. A run of no
 * known digest is never marked. */
export function isStale(o: { runDigest?: string | null; draftDigest: string | null; saved: boolean; runKey?: string | null; docKey?: string | null }): boolean {
  if (!o.runDigest) return false;
  if (!o.saved && o.runKey && o.docKey && o.runKey !== o.docKey) return true;
  return o.runDigest !== o.draftDigest;
}

export const STALE_TEXT = "from an older version: run again";

/** What the top bar says while a test run or deploy waits for the compile: the stage and the time so far. */
export function compileStatusText(stage: "saving" | "compiling", seconds: number, runtime?: { state?: string; step?: string; elapsed_seconds?: number } | null): string {
  const secs = `${Math.max(0, Math.round(seconds))} s`;
  if (stage === "saving") return `Saving the draft… ${secs}`;
  if (runtime?.state === "building")
    return `Compiling: building the shared runtime (once per toolchain)${runtime.step ? `: ${runtime.step}` : ""} · ${secs}`;
  return `Compiling on the server… ${secs}`;
}
