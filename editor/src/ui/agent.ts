// The agent node's config as the inspector edits it (build/agent-spec.md): pure helpers for the form in
// AgentForm.tsx (immutable edits, tool kinds, "set it myself" values, where a server problem is shown).
// Unit-tested in agent.test.ts.
import type { Problem } from "../dsl/types";

export type Obj = Record<string, unknown>;
export type ToolKind = "http" | "subflow" | "kv";
export const TOOL_KINDS: ToolKind[] = ["http", "subflow", "kv"];
export const KIND_LABEL: Record<ToolKind, string> = { http: "HTTP call", subflow: "Workflow", kv: "KV store" };
export const KIND_ICON: Record<ToolKind, string> = { http: "⇄", subflow: "⊞", kv: "⬍" };
/** Short names for the tool kind picker and the add buttons (the inspector is narrow). */
export const KIND_SHORT: Record<ToolKind, string> = { http: "HTTP", subflow: "workflow", kv: "KV" };

/** What a tool does: the one of http / subflow / kv it sets (null: none, a problem the server reports). */
export function toolKind(tool: Obj | undefined): ToolKind | null {
  for (const k of TOOL_KINDS) if (tool && tool[k] !== undefined && tool[k] !== null) return k;
  return null;
}

/** A copy of `obj` with `path` set to `value` (undefined deletes it; an object left empty by a delete is
 * deleted too, so clearing both prices removes `prices`). */
export function setIn(obj: unknown, path: (string | number)[], value: unknown): Obj {
  const base = (obj && typeof obj === "object" && !Array.isArray(obj) ? obj : {}) as Obj;
  if (!path.length) return (value ?? {}) as Obj;
  const [head, ...rest] = path;
  const cur = base[head as string];
  let next: unknown;
  if (!rest.length) next = value;
  else if (Array.isArray(cur) && typeof rest[0] === "number") {
    const list = cur.slice();
    const [i, ...deeper] = rest as [number, ...(string | number)[]];
    list[i] = deeper.length ? setIn(list[i], deeper, value) : value;
    next = list;
  } else {
    const child = setIn(cur, rest, value);
    next = value === undefined && !Object.keys(child).length ? undefined : child;
  }
  const out = { ...base };
  if (next === undefined) delete out[head as string];
  else out[head as string] = next;
  return out;
}

/** A name not used by any tool yet: base, base_2, base_3... */
export function freshToolName(tools: Obj[], base: string): string {
  const taken = new Set(tools.map((t) => String(t?.name ?? "")));
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}

/** What a tool of `kind` starts with (the server fills the other defaults). */
export function kindStarter(kind: ToolKind): Obj {
  switch (kind) {
    case "http":
      return { method: "GET", url: "https://api.example.com/" };
    case "subflow":
      return { workflow: "other-workflow", input: "args" };
    case "kv":
      return { op: "get", namespace: "default", key: "{{ args['key'] }}" };
  }
}

export function newTool(kind: ToolKind, tools: Obj[]): Obj {
  const base = kind === "http" ? "call_api" : kind === "subflow" ? "run_workflow" : "lookup";
  return {
    name: freshToolName(tools, base),
    description: "",
    parameters: { type: "object", properties: {}, required: [] },
    [kind]: kindStarter(kind),
  };
}

/** The tool doing something else: the other kinds removed, the new one's starter (or what it had). */
export function switchKind(tool: Obj, kind: ToolKind, previous?: Obj): Obj {
  const out = { ...tool };
  for (const k of TOOL_KINDS) delete out[k];
  out[kind] = previous ?? kindStarter(kind);
  return out;
}

/** approval: "never" | "always" | a Python expression over args. */
export type ApprovalMode = "never" | "always" | "expression";
export function approvalMode(v: unknown): ApprovalMode {
  if (v === undefined || v === null || v === "never") return "never";
  return v === "always" ? "always" : "expression";
}

/** A "set it myself" value as the field shows it: a string as typed (a template), anything else as JSON. */
export function fixedText(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** The value a "set it myself" field holds: JSON when the text is a number, true/false/null, a list or an
 * object (or a quoted string); otherwise the text itself (a template like {{ input['email'] }}). */
export function parseFixed(text: string): unknown {
  const t = text.trim();
  if (/^(-?\d|true$|false$|null$|\[|\{|")/.test(t)) {
    try {
      return JSON.parse(t);
    } catch {
      return text;
    }
  }
  return text;
}

/** The pointers the form shows something at, for a config at `cfg` (fields and the boxes around them). */
export function agentPointers(base: string, cfg: Obj): string[] {
  const out = [base];
  const add = (p: string, keys: string[]) => {
    out.push(p);
    for (const k of keys) out.push(`${p}/${k}`);
  };
  add(`${base}/model`, ["base_url", "model", "api_key_secret", "temperature", "max_output_tokens", "prices", "stream"]);
  out.push(`${base}/model/prices/input_per_million`, `${base}/model/prices/output_per_million`);
  out.push(`${base}/instructions`, `${base}/prompt`, `${base}/tools`);
  const tools = Array.isArray(cfg.tools) ? (cfg.tools as Obj[]) : [];
  tools.forEach((tool, i) => {
    const t = `${base}/tools/${i}`;
    add(t, ["name", "description", "parameters", "fixed", "approval", "approval_timeout", "max_calls", "http", "subflow", "kv"]);
    for (const k of Object.keys((tool?.fixed as Obj) ?? {})) out.push(`${t}/fixed/${escape(k)}`);
    add(`${t}/http`, ["method", "url", "headers", "query", "body", "auth", "timeout_seconds"]);
    add(`${t}/http/auth`, ["type", "secret", "username", "header"]);
    const http = (tool?.http ?? {}) as Obj;
    for (const m of ["headers", "query"]) for (const k of Object.keys((http[m] as Obj) ?? {})) out.push(`${t}/http/${m}/${escape(k)}`);
    add(`${t}/subflow`, ["workflow", "input"]);
    add(`${t}/kv`, ["op", "namespace", "key", "value", "ttl_seconds"]);
  });
  add(`${base}/output`, ["type", "schema", "max_repairs"]);
  add(`${base}/limits`, ["max_turns", "max_tool_calls", "max_tokens", "timeout"]);
  add(`${base}/hooks`, ["before_tool", "after_tool"]);
  return out;
}

function escape(token: string): string {
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** Each problem at the deepest pointer the form shows that contains it (a problem of an unknown key shows on
 * the box around it), so that no problem of the node goes unseen. */
export function placeAgentProblems(problems: Problem[], pointers: string[]): Map<string, Problem[]> {
  const shown = [...new Set(pointers)].sort((a, b) => b.length - a.length);
  const out = new Map<string, Problem[]>();
  for (const p of problems) {
    const at = shown.find((s) => p.path === s || p.path.startsWith(s + "/"));
    if (at === undefined) continue;
    out.set(at, [...(out.get(at) ?? []), p]);
  }
  return out;
}

/** Problems at or under a pointer (a tool card's header shows how many it has). */
export function countUnder(placed: Map<string, Problem[]>, pointer: string): number {
  let n = 0;
  for (const [p, list] of placed) if (p === pointer || p.startsWith(pointer + "/")) n += list.length;
  return n;
}

/** One line per tool for the canvas chips: name, kind, and whether a person approves it. */
export function toolChips(cfg: Obj | undefined): { name: string; kind: ToolKind | null; gated: boolean }[] {
  const tools = Array.isArray(cfg?.tools) ? (cfg!.tools as Obj[]) : [];
  return tools.map((t) => ({ name: String(t?.name ?? "?") || "?", kind: toolKind(t), gated: approvalMode(t?.approval) !== "never" }));
}

export const EVENT_FOCUS_TOOL = "wasmflow:focus-tool";

/** Ask the inspector to open tool `index` of agent `node` (a click on its chip on the canvas). */
export function focusTool(node: string, index: number): void {
  window.dispatchEvent(new CustomEvent(EVENT_FOCUS_TOOL, { detail: { node, index } }));
}
