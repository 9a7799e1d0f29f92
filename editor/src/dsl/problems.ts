// Maps server validation problems (JSON pointers into the document) onto nodes and inspector fields.
import { indexNodes } from "./graph";
import type { DslDocument, Problem } from "./types";

export interface PlacedProblems {
  byNode: Map<string, Problem[]>;
  byPointer: Map<string, Problem[]>;
  /** Problems that belong to no node (document fields, settings). */
  general: Problem[];
  all: Problem[];
}

/** Problems from a PUT answer are under /draft; everything else already points into the document. */
export function normalizePointer(path: string): string {
  if (path === "/draft") return "";
  return path.startsWith("/draft/") ? path.slice("/draft".length) : path;
}

/** The node a pointer lies in (the deepest node whose pointer prefixes it), or null. */
export function nodeAtPointer(doc: DslDocument, pointer: string): string | null {
  let best: { id: string; len: number } | null = null;
  for (const [id, loc] of indexNodes(doc)) {
    if ((pointer === loc.pointer || pointer.startsWith(loc.pointer + "/")) && (!best || loc.pointer.length > best.len))
      best = { id, len: loc.pointer.length };
  }
  return best?.id ?? null;
}

export function placeProblems(doc: DslDocument, problems: Problem[]): PlacedProblems {
  const byNode = new Map<string, Problem[]>();
  const byPointer = new Map<string, Problem[]>();
  const general: Problem[] = [];
  const all = problems.map((p) => ({ ...p, path: normalizePointer(p.path) }));
  const index = indexNodes(doc);
  for (const p of all) {
    const id = nodeAtPointer(doc, p.path) ?? (p.node && index.has(p.node) ? p.node : null);
    if (id) byNode.set(id, [...(byNode.get(id) ?? []), p]);
    else general.push(p);
    byPointer.set(p.path, [...(byPointer.get(p.path) ?? []), p]);
  }
  return { byNode, byPointer, general, all };
}

export function escapePointerToken(token: string): string {
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

export function joinPointer(base: string, token: string | number): string {
  return `${base}/${escapePointerToken(String(token))}`;
}

/** Problems at this pointer or below it (a form section shows the count of its fields' problems). */
export function problemsUnder(placed: PlacedProblems, pointer: string): Problem[] {
  const out: Problem[] = [];
  for (const [path, list] of placed.byPointer) if (path === pointer || path.startsWith(pointer + "/")) out.push(...list);
  return out;
}
