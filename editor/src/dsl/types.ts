// The DSL document as the editor holds it: exactly the JSON the server stores (docs/dsl.md). The editor never
// keeps a second representation of the graph; React Flow nodes and edges are derived from this.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface DslPosition {
  x: number;
  y: number;
}

export interface DslNode {
  id: string;
  type: string;
  title?: string | null;
  notes?: string;
  config?: JsonObject;
  position?: DslPosition | null;
  retry?: JsonObject | null;
  on_error?: "fail" | "continue" | "route";
  [key: string]: unknown;
}

export interface DslEdge {
  from: string;
  to: string;
  port?: string;
  [key: string]: unknown;
}

export interface DslDocument {
  dsl: string;
  name: string;
  title?: string;
  description?: string;
  inputs?: JsonObject | null;
  settings?: { timeout_seconds?: number; memory_mb?: number; error_handler?: string | null; [key: string]: unknown };
  nodes: DslNode[];
  edges?: DslEdge[];
  [key: string]: unknown;
}

/** A validation problem as the server reports it (docs/dsl.md "Validation"). */
export interface Problem {
  path: string;
  node: string | null;
  message: string;
  code: string;
}
