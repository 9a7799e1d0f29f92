// An agent node's conversation, as the Run tab shows it: the messages sent, each answer of the model (text,
// tool calls), what each tool call did (result, error, refusal, approval), tokens and cost per turn and in
// all. One reducer over "steps"; a server run gives them from its agent.* events (build/agent-spec.md,
// "Events"), a dry run from its recorded llm.chat and tool calls. Pure, unit-tested (transcript.test.ts).
import type { RecordedCall } from "../dryrun/types";

export interface ChatMessage {
  role: string;
  content?: unknown;
  tool_calls?: unknown[];
  tool_call_id?: string;
  [key: string]: unknown;
}

export interface ToolCallAsked {
  id: string;
  name: string;
  arguments?: unknown;
  arguments_text?: string;
  arguments_error?: string;
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
}

export type ToolStatus = "running" | "waiting" | "ok" | "error" | "refused" | "vetoed" | "rejected" | "not_run";

export interface ApprovalInfo {
  status: "asked" | "approved" | "rejected" | "timed_out";
  title?: string;
  by?: string | null;
  reason?: string;
}

export interface ToolItem {
  kind: "tool";
  call_id: string;
  tool: string;
  arguments?: unknown;
  status: ToolStatus;
  result?: unknown;
  error?: { code?: string; message?: string; [key: string]: unknown };
  /** why it was refused / vetoed / not run */
  reason?: string;
  approval?: ApprovalInfo;
  /** what the model was told (the tool message of the next turn) */
  told?: unknown;
}

export interface TurnItem {
  kind: "turn";
  turn: number;
  model?: string;
  /** messages added since the previous turn (turn 1: system + user) */
  sent: ChatMessage[];
  content: string | null;
  /** the answer is still streaming (agent.delta text so far in `content`) */
  streaming: boolean;
  toolCalls: ToolCallAsked[];
  finishReason?: string | null;
  usage?: Usage;
  cost_usd?: number | null;
  /** the model call failed */
  error?: { code?: string; message?: string };
  /** it failed first and was asked again (a rate limit, a timeout): how often, and the last failure */
  retried?: { times: number; error: { code?: string; message?: string } };
}

export type TranscriptItem = TurnItem | ToolItem | { kind: "approval"; approval: ApprovalInfo; tool?: string };

export interface Transcript {
  items: TranscriptItem[];
  /** earlier runs of the node that started over (a retry, another map item): the transcript is the last */
  restarts: number;
  turns: number;
  total: { input_tokens: number; output_tokens: number; cost_usd: number | null };
}

/** What happened, in order, whatever the source. */
export type Step =
  | { type: "turn"; turn: number; model?: string; sent?: ChatMessage[]; content?: string | null; tool_calls?: ToolCallAsked[]; finish_reason?: string | null; usage?: Partial<Usage>; cost_usd?: number | null; error?: { code?: string; message?: string } }
  | { type: "delta"; turn: number; text: string }
  | { type: "tool_call"; call_id: string; tool: string; arguments?: unknown }
  | { type: "tool_result"; call_id: string; tool: string; ok: boolean; result?: unknown; error?: ToolItem["error"] }
  | { type: "tool_refused"; call_id: string; tool: string; code?: string; reason?: string }
  | { type: "approval"; call_id?: string; tool?: string; status: ApprovalInfo["status"]; title?: string; by?: string | null; reason?: string };

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);

/** The transcript of a sequence of steps. */
export function reduceTranscript(steps: Step[]): Transcript {
  const items: TranscriptItem[] = [];
  const tools = new Map<string, ToolItem>();
  const turns = new Map<number, TurnItem>();
  let lastApproval: ToolItem | null = null;

  const toolItem = (call_id: string, tool: string, args?: unknown): ToolItem => {
    let t = tools.get(call_id);
    if (!t) {
      t = { kind: "tool", call_id, tool, arguments: args, status: "running" };
      tools.set(call_id, t);
      items.push(t);
    } else if (args !== undefined) t.arguments = args;
    return t;
  };
  const turnItem = (n: number): TurnItem => {
    let t = turns.get(n);
    if (!t) {
      t = { kind: "turn", turn: n, sent: [], content: null, streaming: false, toolCalls: [] };
      turns.set(n, t);
      items.push(t);
    }
    return t;
  };
  /** A new turn's sent tool messages say what became of the previous turns' calls that did nothing. */
  const settle = (sent: ChatMessage[]) => {
    for (const m of sent) {
      if (m.role !== "tool" || typeof m.tool_call_id !== "string") continue;
      const t = tools.get(m.tool_call_id);
      if (t) {
        t.told = m.content;
        continue;
      }
      const asked = [...turns.values()].flatMap((x) => x.toolCalls).find((c) => c.id === m.tool_call_id);
      const item = toolItem(m.tool_call_id, asked?.name ?? "?", asked?.arguments);
      const said = toolMessage(m.content);
      item.status = said.status;
      item.reason = said.reason;
      item.told = m.content;
      // placed before the turn that reports it (it is pushed last; the new turn follows)
    }
  };

  let restarts = 0;
  for (const s of steps) {
    // a turn number that was already answered: the node started over (retry, map item); show the new run
    const seen = s.type === "turn" || s.type === "delta" ? turns.get(s.turn) : undefined;
    if (seen && !seen.streaming && !seen.error) {
      restarts += 1;
      items.length = 0;
      tools.clear();
      turns.clear();
      lastApproval = null;
    }
    switch (s.type) {
      case "delta": {
        const t = turnItem(s.turn);
        if (!t.streaming && t.usage === undefined && t.error === undefined) t.streaming = true;
        if (t.streaming) t.content = (t.content ?? "") + s.text;
        break;
      }
      case "turn": {
        if (s.sent) settle(s.sent);
        const t = turnItem(s.turn);
        // a turn streamed earlier moves after what its sent messages settled
        if (s.sent?.some((m) => m.role === "tool")) {
          items.splice(items.indexOf(t), 1);
          items.push(t);
        }
        if (t.error && !s.error) t.retried = { times: (t.retried?.times ?? 0) + 1, error: t.error }; // the model call was retried
        t.streaming = false;
        t.model = s.model ?? t.model;
        t.sent = s.sent ?? t.sent;
        t.content = s.content !== undefined ? s.content : t.content;
        t.toolCalls = s.tool_calls ?? [];
        t.finishReason = s.finish_reason;
        t.usage = s.error ? undefined : { input_tokens: num(s.usage?.input_tokens), output_tokens: num(s.usage?.output_tokens) };
        t.cost_usd = s.cost_usd ?? null;
        t.error = s.error;
        break;
      }
      case "tool_call":
        toolItem(s.call_id, s.tool, s.arguments);
        break;
      case "tool_result": {
        const t = toolItem(s.call_id, s.tool);
        if (s.ok) {
          t.status = "ok";
          t.result = s.result;
        } else {
          t.status = "error";
          t.error = s.error;
        }
        break;
      }
      case "tool_refused": {
        const t = toolItem(s.call_id, s.tool);
        t.status = "refused";
        t.reason = s.reason ?? s.code;
        t.error = s.code ? { code: s.code, message: s.reason } : t.error;
        break;
      }
      case "approval": {
        const approval: ApprovalInfo = { status: s.status, title: s.title, by: s.by, reason: s.reason };
        // an approval names its call (dry run) or only its tool (server event titles): then it is for the
        // first call of that tool in the latest turn that has not been made yet
        const latest = [...turns.values()].pop();
        const pending = !s.call_id && s.tool && s.status === "asked" ? latest?.toolCalls.find((c) => c.name === s.tool && !tools.has(c.id)) : undefined;
        const callId = s.call_id ?? pending?.id;
        const target: ToolItem | null = callId ? toolItem(callId, s.tool ?? "?", pending?.arguments) : s.status === "asked" ? null : lastApproval;
        if (target) {
          target.approval = { ...target.approval, ...approval, title: approval.title ?? target.approval?.title };
          if (s.status === "asked") target.status = "waiting";
          else if (s.status === "rejected" || (s.status === "timed_out" && target.status === "waiting")) target.status = "rejected";
          else if (target.status === "waiting") target.status = "running";
          lastApproval = s.status === "asked" ? target : null;
        } else items.push({ kind: "approval", approval, tool: s.tool });
        break;
      }
    }
  }
  const all = [...turns.values()];
  const costs = all.map((t) => t.cost_usd).filter((c): c is number => typeof c === "number");
  return {
    items,
    restarts,
    turns: all.filter((t) => !t.streaming).length,
    total: {
      input_tokens: all.reduce((a, t) => a + (t.usage?.input_tokens ?? 0), 0),
      output_tokens: all.reduce((a, t) => a + (t.usage?.output_tokens ?? 0), 0),
      cost_usd: costs.length ? costs.reduce((a, c) => a + c, 0) : null,
    },
  };
}

/** What a tool message fed back to the model says about a call that did nothing (vetoed, refused, ...). */
export function toolMessage(content: unknown): { status: ToolStatus; reason?: string } {
  let v: unknown = content;
  if (typeof content === "string") {
    try {
      v = JSON.parse(content);
    } catch {
      v = content;
    }
  }
  const text = typeof v === "string" ? v : JSON.stringify(v);
  const o = (v && typeof v === "object" ? v : {}) as Record<string, unknown>;
  // the guest says {"error": "<vetoed|rejected|refused|invalid_arguments|budget_spent|a host error code>", "message"}
  const err = (o.error && typeof o.error === "object" ? o.error : o) as Record<string, unknown>;
  const code = String(typeof o.error === "string" ? o.error : (o.status ?? err.code ?? "")).toLowerCase();
  const reason = typeof err.message === "string" ? err.message : typeof o.reason === "string" ? o.reason : text;
  if (code) {
    for (const s of ["vetoed", "rejected"] as const) if (code.includes(s)) return { status: s, reason };
    if (["refused", "tool_refused", "invalid_arguments", "budget_spent"].includes(code)) return { status: "refused", reason };
    return { status: "error", reason };
  }
  for (const s of ["vetoed", "refused", "rejected"] as const) if (text.toLowerCase().includes(s)) return { status: s, reason };
  return { status: "not_run", reason };
}

/** The tool an approval of an agent is for, from its title ("Agent triage wants to call refund"). */
export function approvalTool(title: unknown): string | undefined {
  const m = typeof title === "string" ? /wants to call (\S+)$/.exec(title) : null;
  return m ? m[1] : undefined;
}

type Ev = { type: string; node?: string | null; data?: unknown; seq?: number };

/** Steps of agent `node` from a server run's events (agent.*, and approvals of the node). */
export function stepsFromEvents(events: Ev[], node: string): Step[] {
  const steps: Step[] = [];
  for (const e of events) {
    if (e.node !== node) continue;
    const d = (e.data ?? {}) as Record<string, unknown>;
    switch (e.type) {
      case "agent.turn":
        steps.push({
          type: "turn",
          turn: num(d.turn),
          model: d.model as string | undefined,
          sent: (d.sent as ChatMessage[]) ?? [],
          content: (d.content as string | null) ?? null,
          tool_calls: ((d.tool_calls as ToolCallAsked[]) ?? []).map((c) => ({ ...c, id: String(c.id), name: String(c.name) })),
          finish_reason: d.finish_reason as string | null,
          usage: d.usage as Usage,
          cost_usd: (d.cost_usd as number | null) ?? null,
        });
        break;
      case "agent.delta":
        steps.push({ type: "delta", turn: num(d.turn), text: String(d.text ?? "") });
        break;
      case "agent.tool_call":
        steps.push({ type: "tool_call", call_id: String(d.call_id), tool: String(d.tool), arguments: d.arguments });
        break;
      case "agent.tool_result":
        steps.push({ type: "tool_result", call_id: String(d.call_id), tool: String(d.tool), ok: Boolean(d.ok), result: d.result, error: d.error as ToolItem["error"] });
        break;
      case "agent.tool_refused":
        steps.push({ type: "tool_refused", call_id: String(d.call_id), tool: String(d.tool), code: d.code as string, reason: d.reason as string });
        break;
      case "approval.requested": {
        const tag = (d.tool ?? {}) as { call_id?: string; name?: string };
        steps.push({ type: "approval", call_id: tag.call_id, tool: tag.name ?? approvalTool(d.title), status: "asked", title: d.title as string });
        break;
      }
      case "approval.decided":
      case "approval.timed_out": {
        const tag = (d.tool ?? {}) as { call_id?: string; name?: string };
        const status = e.type === "approval.timed_out" ? "timed_out" : d.decision === "approved" ? "approved" : "rejected";
        steps.push({ type: "approval", call_id: tag.call_id, tool: tag.name, status, by: d.by as string | null, reason: d.reason as string });
        break;
      }
    }
  }
  return steps;
}

/** Steps of agent `node` from a dry run's recorded calls: llm.chat turns and the tagged tool calls. */
export function stepsFromCalls(calls: (RecordedCall | undefined)[], node: string): Step[] {
  const steps: Step[] = [];
  let turn = 0;
  for (const c of calls) {
    if (!c || c.node !== node) continue;
    const req = (c.request ?? {}) as Record<string, unknown>;
    const tag = req.tool as { call_id?: string; name?: string; arguments?: unknown } | undefined;
    if (c.capability === "llm.chat") {
      turn = num(req.turn) || turn + 1;
      const messages = (Array.isArray(req.messages) ? req.messages : []) as ChatMessage[];
      let last = -1;
      messages.forEach((m, i) => {
        if (m?.role === "assistant") last = i;
      });
      const sent = messages.slice(last + 1);
      if (c.error) {
        steps.push({ type: "turn", turn, sent, content: null, tool_calls: [], error: c.error });
        continue;
      }
      const r = (c.response ?? {}) as Record<string, unknown>;
      const msg = (r.message ?? {}) as { content?: string | null; tool_calls?: ToolCallAsked[] };
      steps.push({
        type: "turn",
        turn,
        model: r.model as string | undefined,
        sent,
        content: msg.content ?? null,
        tool_calls: (msg.tool_calls ?? []).map((t) => ({ ...t, id: String(t.id), name: String(t.name) })),
        finish_reason: r.finish_reason as string | null,
        usage: r.usage as Usage,
        cost_usd: (r.cost_usd as number | null) ?? null,
      });
    } else if (tag && typeof tag === "object" && tag.call_id) {
      const call_id = String(tag.call_id);
      const tool = String(tag.name ?? "?");
      if (c.capability === "approval.request") {
        steps.push({ type: "approval", call_id, tool, status: "asked", title: req.title as string });
        if (!c.error && c.response) {
          const d = c.response as { approved?: boolean; decision?: string; by?: string | null; reason?: string };
          const status = d.decision === "timed_out" ? "timed_out" : d.approved ? "approved" : "rejected";
          steps.push({ type: "approval", call_id, tool, status, by: d.by ?? null, reason: d.reason });
        }
        continue;
      }
      steps.push({ type: "tool_call", call_id, tool, arguments: tag.arguments });
      if (c.error?.code === "tool_refused") steps.push({ type: "tool_refused", call_id, tool, code: c.error.code, reason: c.error.message });
      else if (c.error) steps.push({ type: "tool_result", call_id, tool, ok: false, error: { ...c.error } });
      else steps.push({ type: "tool_result", call_id, tool, ok: true, result: c.response });
    }
  }
  return steps;
}

/** The agent nodes of a document (map bodies included). */
export function agentIds(doc: { nodes?: { id: string; type: string; config?: unknown }[] }): string[] {
  const out: string[] = [];
  const walk = (nodes: { id: string; type: string; config?: unknown }[] | undefined) => {
    for (const n of nodes ?? []) {
      if (n.type === "agent") out.push(n.id);
      if (n.type === "map") walk((n.config as { body?: { nodes?: { id: string; type: string }[] } } | undefined)?.body?.nodes);
    }
  };
  walk(doc.nodes);
  return out;
}

export function formatUsd(v: number | null | undefined): string {
  if (v === null || v === undefined) return "";
  if (v === 0) return "$0";
  if (v >= 0.01) return `$${v.toFixed(v >= 100 ? 0 : 2)}`;
  // two significant digits, never in exponent notation ($0.00000015, not $1.5e-7)
  const digits = Math.min(12, Math.max(2, 1 - Math.floor(Math.log10(v))));
  return `$${v.toFixed(digits).replace(/0+$/, "").replace(/\.$/, "")}`;
}

/** One line for the canvas: "2 turns · 374 tokens · $0.0011". */
export function usageLine(t: Transcript): string | undefined {
  if (!t.turns) return undefined;
  const tokens = t.total.input_tokens + t.total.output_tokens;
  return `${t.turns} turn${t.turns === 1 ? "" : "s"} · ${tokens} tokens${t.total.cost_usd !== null ? ` · ${formatUsd(t.total.cost_usd)}` : ""}`;
}

/** What a node's output preview shows: an agent's answer rather than its whole output record. */
export function answerOf(output: unknown): unknown {
  const o = output as Record<string, unknown> | null;
  if (o && typeof o === "object" && !Array.isArray(o) && "output" in o && "tool_calls" in o && "usage" in o && "turns" in o) return o.output;
  return output;
}
