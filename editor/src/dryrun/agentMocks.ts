// An agent node's mock list as scripted turns (the Mock tab's form, AgentMocks.tsx): each llm.chat entry is
// one turn of the model (text and/or tool calls, tokens), and the entries after it answer that turn's tool
// calls (approval decisions of gated tools, then the tool's http.request / workflow.call / kv.get answer).
// Pure: parse a list into drafts, and drafts back into a list (or the problems that keep it from being one).
import type { MockResponse } from "./types";

export interface ToolInfo {
  name: string;
  /** the capability its calls use (http.request, workflow.call, kv.get, kv.set) or null */
  capability: string | null;
  gated: boolean;
  parameters?: unknown;
}

export type AnswerDraft =
  | { kind: "http"; status: string; body: string }
  | { kind: "value"; text: string }
  | { kind: "error"; code: string; message: string }
  | { kind: "none" };

export interface CallDraft {
  id: string;
  name: string;
  /** JSON text of the arguments */
  args: string;
  answer: AnswerDraft;
  /** gated tools: the person's decision, or "ask" (the dry run asks while it runs) */
  approval: "ask" | "approve" | "reject";
}

export interface TurnDraft {
  text: string;
  calls: CallDraft[];
  inTokens: string;
  outTokens: string;
  /** the model call fails */
  error: { code: string; message: string } | null;
  /** entries after the turn that answer none of its calls (kept as they are) */
  extra: MockResponse[];
  /** fields of the recorded response the form does not show (model, finish_reason, cost_usd) */
  rest?: Record<string, unknown>;
}

export interface AgentMockDraft {
  /** entries before the first turn (kept as they are) */
  prelude: MockResponse[];
  turns: TurnDraft[];
}

const pretty = (v: unknown) => (v === undefined ? "" : JSON.stringify(v, null, 2));
const oneLine = (v: unknown) => (v === undefined ? "{}" : JSON.stringify(v));

export function toolInfos(config: unknown): ToolInfo[] {
  const tools = ((config as { tools?: unknown[] } | undefined)?.tools ?? []) as Record<string, unknown>[];
  return tools
    .filter((t) => t && typeof t === "object")
    .map((t) => {
      const kv = t.kv as { op?: string } | null | undefined;
      const capability = t.http ? "http.request" : t.subflow ? "workflow.call" : kv ? (kv.op === "set" ? "kv.set" : "kv.get") : null;
      const approval = t.approval;
      return { name: String(t.name ?? ""), capability, gated: !(approval === undefined || approval === null || approval === "never"), parameters: t.parameters };
    });
}

/** The answer form a call of this tool needs (none: a kv.set is recorded, an unknown tool is refused). */
export function blankAnswer(tool: ToolInfo | undefined): AnswerDraft {
  switch (tool?.capability) {
    case "http.request":
      return { kind: "http", status: "200", body: "{}" };
    case "workflow.call":
    case "kv.get":
      return { kind: "value", text: tool.capability === "kv.get" ? "" : "{}" };
    default:
      return { kind: "none" };
  }
}

/** Arguments that fit a tool's parameters schema, to start from: "" for strings, 0 for numbers... */
export function exampleArgs(parameters: unknown): Record<string, unknown> {
  const props = ((parameters as { properties?: Record<string, { type?: unknown; enum?: unknown[] }> } | undefined)?.properties ?? {}) as Record<string, { type?: unknown; enum?: unknown[] }>;
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(props)) {
    const type = Array.isArray(s?.type) ? s.type[0] : s?.type;
    out[k] = s?.enum?.length ? s.enum[0] : type === "number" || type === "integer" ? 0 : type === "boolean" ? false : type === "array" ? [] : type === "object" ? {} : "";
  }
  return out;
}

export function newCall(tools: ToolInfo[], turn: number, index: number, name?: string): CallDraft {
  const tool = tools.find((t) => t.name === name) ?? (name === undefined ? tools[0] : undefined);
  return {
    id: `call_${turn}_${index}`,
    name: name ?? tool?.name ?? "",
    args: oneLine(exampleArgs(tool?.parameters)),
    answer: blankAnswer(tool),
    approval: "approve",
  };
}

export function newTurn(tools: ToolInfo[], kind: "text" | "tool", turn: number): TurnDraft {
  return {
    text: "",
    calls: kind === "tool" ? [newCall(tools, turn, 1)] : [],
    inTokens: "",
    outTokens: "",
    error: null,
    extra: [],
  };
}

function answerOf(entry: MockResponse, capability: string): AnswerDraft {
  if (entry.kind === "error") return { kind: "error", code: entry.error.code, message: entry.error.message };
  const v = (entry.value ?? {}) as Record<string, unknown>;
  if (capability === "http.request") return { kind: "http", status: String(v.status ?? 200), body: pretty(v.body) };
  if (capability === "workflow.call") return { kind: "value", text: pretty(v.output) };
  if (capability === "kv.get") return { kind: "value", text: v.found ? pretty(v.value) : "" };
  return { kind: "value", text: pretty(entry.value) };
}

/** A mock list (or single mock) as drafts. Entries the form cannot place stay with the turn they follow. */
export function parseAgentMocks(value: MockResponse | MockResponse[] | undefined, tools: ToolInfo[]): AgentMockDraft {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const draft: AgentMockDraft = { prelude: [], turns: [] };
  const byName = new Map(tools.map((t) => [t.name, t]));
  const answered = new Set<CallDraft>();
  const decided = new Set<CallDraft>();
  for (const entry of list) {
    const cap = entry.capability ?? "llm.chat";
    const turn = draft.turns[draft.turns.length - 1];
    if (cap === "llm.chat") {
      const n = draft.turns.length + 1;
      if (entry.kind === "error") {
        draft.turns.push({ text: "", calls: [], inTokens: "", outTokens: "", error: { code: entry.error.code, message: entry.error.message }, extra: [] });
        continue;
      }
      const v = (entry.value ?? {}) as Record<string, unknown>;
      const m = (v.message ?? {}) as { content?: unknown; tool_calls?: Record<string, unknown>[] };
      const u = (v.usage ?? {}) as { input_tokens?: unknown; output_tokens?: unknown };
      const calls = (Array.isArray(m.tool_calls) ? m.tool_calls : []).map((c, i) => {
        const name = String(c?.name ?? "");
        return {
          id: typeof c?.id === "string" && c.id ? c.id : `call_${n}_${i + 1}`,
          name,
          args: c?.arguments !== undefined ? oneLine(c.arguments) : typeof c?.arguments_text === "string" ? c.arguments_text : "{}",
          answer: { kind: "none" },
          approval: byName.get(name)?.gated ? "ask" : "approve",
        } as CallDraft;
      });
      const rest: Record<string, unknown> = {};
      for (const k of ["model", "finish_reason", "cost_usd"]) if (v[k] !== undefined) rest[k] = v[k];
      draft.turns.push({
        text: typeof m.content === "string" ? m.content : "",
        calls,
        inTokens: u.input_tokens === undefined ? "" : String(u.input_tokens),
        outTokens: u.output_tokens === undefined ? "" : String(u.output_tokens),
        error: null,
        extra: [],
        ...(Object.keys(rest).length ? { rest } : {}),
      });
      continue;
    }
    if (!turn) {
      draft.prelude.push(entry);
      continue;
    }
    if (cap === "approval.request") {
      const call = turn.calls.find((c) => byName.get(c.name)?.gated && !decided.has(c));
      if (call && entry.kind === "ok") {
        decided.add(call);
        call.approval = (entry.value as { approved?: boolean } | undefined)?.approved ? "approve" : "reject";
        continue;
      }
    } else {
      const call = turn.calls.find((c) => !answered.has(c) && byName.get(c.name)?.capability === cap && !(decided.has(c) && c.approval === "reject"));
      if (call) {
        answered.add(call);
        call.answer = answerOf(entry, cap);
        continue;
      }
    }
    turn.extra.push(entry);
  }
  // calls that got no answer entry show the blank form of their tool (an answer to fill in)
  for (const t of draft.turns) for (const c of t.calls) if (!answered.has(c) && c.answer.kind === "none") c.answer = blankAnswer(byName.get(c.name));
  return draft;
}

function json(text: string, what: string, problems: string[], empty: unknown = null): unknown {
  if (!text.trim()) return empty;
  try {
    return JSON.parse(text);
  } catch (e) {
    problems.push(`${what}: not JSON (${(e as Error).message})`);
    return undefined;
  }
}

function tokens(text: string, what: string, problems: string[]): number {
  if (!text.trim()) return 0;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) problems.push(`${what}: a whole number of tokens`);
  return n;
}

/** The mock list the drafts stand for, or the problems (one line each) that keep it from being pinned. */
export function buildAgentMocks(draft: AgentMockDraft, tools: ToolInfo[]): { mocks: MockResponse[]; problems: string[] } {
  const problems: string[] = [];
  const mocks: MockResponse[] = [...draft.prelude];
  const byName = new Map(tools.map((t) => [t.name, t]));
  draft.turns.forEach((t, i) => {
    const n = i + 1;
    if (t.error) {
      if (!t.error.message.trim()) problems.push(`turn ${n}: an error needs a message`);
      mocks.push({ kind: "error", capability: "llm.chat", error: { code: t.error.code.trim() || "provider_error", message: t.error.message, retriable: false } });
      mocks.push(...t.extra);
      return;
    }
    if (!t.text.trim() && !t.calls.length) problems.push(`turn ${n}: give the model's answer, a tool call, or both`);
    const calls = t.calls.map((c, j) => {
      const where = `turn ${n}, call ${j + 1}${c.name ? ` (${c.name})` : ""}`;
      if (!c.name.trim()) problems.push(`${where}: which tool the model calls`);
      const args = json(c.args, `${where}: arguments`, problems, {});
      if (args !== undefined && (typeof args !== "object" || args === null || Array.isArray(args))) problems.push(`${where}: arguments are a JSON object {...}`);
      return { id: c.id, name: c.name.trim(), arguments: args ?? {} };
    });
    const usage = { input_tokens: tokens(t.inTokens, `turn ${n}: tokens in`, problems), output_tokens: tokens(t.outTokens, `turn ${n}: tokens out`, problems) };
    mocks.push({
      kind: "ok",
      capability: "llm.chat",
      value: { ...(t.rest ?? {}), message: { role: "assistant", content: t.text.trim() ? t.text : null, tool_calls: calls }, usage },
    });
    t.calls.forEach((c, j) => {
      const tool = byName.get(c.name.trim());
      const where = `turn ${n}, call ${j + 1} (${c.name})`;
      if (!tool?.capability) return; // refused (no such tool): nothing is called
      if (tool.gated && c.approval !== "ask") {
        const approved = c.approval === "approve";
        mocks.push({ kind: "ok", capability: "approval.request", value: { approved, decision: approved ? "approved" : "rejected", by: "dry-run" } });
        if (!approved) return; // a rejected call is not made
      }
      const a = c.answer;
      if (a.kind === "error") {
        if (!a.message.trim()) problems.push(`${where}: an error needs a message`);
        mocks.push({ kind: "error", capability: tool.capability, error: { code: a.code.trim() || "error", message: a.message, retriable: false } });
      } else if (a.kind === "http") {
        const status = Number(a.status);
        if (!Number.isInteger(status) || status < 100 || status > 599) problems.push(`${where}: status is an HTTP status 100..599`);
        const body = json(a.body, `${where}: body`, problems);
        mocks.push({ kind: "ok", capability: tool.capability, value: { status, headers: { "content-type": "application/json" }, body: body ?? null } });
      } else if (a.kind === "value") {
        const v = json(a.text, `${where}: ${tool.capability === "kv.get" ? "stored value" : "output"}`, problems);
        if (tool.capability === "workflow.call") mocks.push({ kind: "ok", capability: tool.capability, value: { run_id: "dry-run", output: v ?? null } });
        else if (tool.capability === "kv.get") mocks.push({ kind: "ok", capability: tool.capability, value: v === null || v === undefined ? { found: false, value: null } : { found: true, value: v } });
        else mocks.push({ kind: "ok", capability: tool.capability, value: v ?? null });
      }
    });
    mocks.push(...t.extra);
  });
  return { mocks, problems };
}
