// Agent nodes in a dry run (build/agent-spec.md, "Dry run"): the model is answered from scripted turns
// (llm.chat entries of the node's mock list), its tool calls from the same list's http.request /
// workflow.call / kv.get entries, and a call the server host would refuse is refused here too.
import { argumentsProblem } from "./jsonschema";
import type { HostErrorDoc } from "./types";

export interface AgentTool {
  name?: string;
  http?: { method?: string; url?: string } | null;
  subflow?: { workflow?: string } | null;
  kv?: { op?: string; namespace?: string } | null;
  approval?: string;
  parameters?: unknown;
  [key: string]: unknown;
}

export interface Prices {
  input_per_million?: number;
  output_per_million?: number;
}

export interface AgentConfig {
  model?: { model?: string; prices?: Prices | null; [key: string]: unknown };
  tools?: AgentTool[];
  [key: string]: unknown;
}

type N = { id?: string; type?: string; config?: { body?: { nodes?: unknown[] } } & Record<string, unknown> };

/** agent node id -> its config (map bodies included). */
export function agentConfigs(document: { nodes?: unknown[] } | null | undefined): Record<string, AgentConfig> {
  const out: Record<string, AgentConfig> = {};
  const walk = (nodes: unknown[] | undefined) => {
    for (const raw of nodes ?? []) {
      const n = raw as N;
      if (n.id && n.type === "agent") out[n.id] = (n.config ?? {}) as AgentConfig;
      if (n.type === "map") walk(n.config?.body?.nodes);
    }
  };
  walk(document?.nodes);
  return out;
}

/** The capability a tool's calls use: http.request, workflow.call, kv.get or kv.set (null: none set). */
export function toolCapability(tool: AgentTool | undefined): string | null {
  if (!tool) return null;
  if (tool.http) return "http.request";
  if (tool.subflow) return "workflow.call";
  if (tool.kv) return tool.kv.op === "set" ? "kv.set" : "kv.get";
  return null;
}

/** Capabilities through which an agent's tools act: a call of these from an agent node must be a tool call. */
export const TOOL_CAPABILITIES = new Set(["http.request", "workflow.call", "kv.get", "kv.set"]);

export interface ToolTag {
  agent?: string;
  name?: string;
  call_id?: string;
  arguments?: unknown;
}

function refused(reason: string): HostErrorDoc {
  return { code: "tool_refused", message: `refused, nothing was done: ${reason}`, retriable: false };
}

/** Why the server host would refuse this call of agent `node` (nothing performed), or null, in the order the
 * server checks (app/runtime/host.py AgentGate). `asked`: call id -> tool name of the model's last answer. */
export function toolRefusal(
  node: string,
  cfg: AgentConfig,
  capability: string,
  request: Record<string, unknown>,
  asked: Map<string, string>,
): HostErrorDoc | null {
  const tag = request.tool as ToolTag | undefined;
  if (!tag || typeof tag !== "object") return refused(`agent ${node} may call ${capability} only through one of its tools`);
  const name = String(tag.name ?? "");
  const tool = (cfg.tools ?? []).find((t) => t && t.name === name);
  if (!tool) return refused(`'${name}' is not a tool of agent ${node}`);
  if (!tag.call_id || asked.get(String(tag.call_id)) !== name) return refused(`the model did not ask for call '${String(tag.call_id ?? "")}' of '${name}'`);
  const invalid = argumentsProblem(name, tag.arguments, tool.parameters);
  if (invalid) return refused(invalid);
  const want = toolCapability(tool);
  if (want !== capability) return refused(`tool '${name}' does not call ${capability}${want ? ` (it calls ${want})` : ""}`);
  if (capability === "http.request" && tool.http) {
    const method = String(tool.http.method ?? "GET").toUpperCase();
    if (String(request.method ?? "GET").toUpperCase() !== method) return refused(`tool '${name}' may only send ${method}, not ${String(request.method)}`);
  }
  if (capability === "workflow.call" && tool.subflow && request.workflow !== tool.subflow.workflow) {
    return refused(`tool '${name}' runs workflow ${String(tool.subflow.workflow)}, not ${String(request.workflow)}`);
  }
  if ((capability === "kv.get" || capability === "kv.set") && tool.kv && request.namespace !== tool.kv.namespace) {
    return refused(`tool '${name}' uses namespace ${String(tool.kv.namespace)}, not ${String(request.namespace)}`);
  }
  return null;
}

export interface ChatUsage {
  input_tokens: number;
  output_tokens: number;
}

/** USD for a turn's usage at the node's prices (per million tokens), or null without prices. */
export function chatCost(usage: ChatUsage, prices: Prices | null | undefined): number | null {
  if (!prices || typeof prices.input_per_million !== "number" || typeof prices.output_per_million !== "number") return null;
  return (usage.input_tokens * prices.input_per_million + usage.output_tokens * prices.output_per_million) / 1_000_000;
}

/** A scripted turn as the complete llm.chat response document: role, content, tool call ids, finish
 * reason, usage, model and cost filled in where the mock leaves them out. */
export function normalizeChat(value: unknown, cfg: AgentConfig | undefined, turn: number): Record<string, unknown> {
  const v = (value && typeof value === "object" ? value : {}) as Record<string, unknown>;
  const m = (v.message && typeof v.message === "object" ? v.message : {}) as Record<string, unknown>;
  const calls = Array.isArray(m.tool_calls) ? (m.tool_calls as Record<string, unknown>[]) : [];
  const toolCalls = calls.map((c, i) => {
    const call: Record<string, unknown> = { ...c, id: typeof c?.id === "string" && c.id ? c.id : `call_${turn}_${i + 1}`, name: String(c?.name ?? "") };
    if (call.arguments === undefined && call.arguments_text === undefined) call.arguments = {};
    return call;
  });
  const u = (v.usage && typeof v.usage === "object" ? v.usage : {}) as Record<string, unknown>;
  const usage: ChatUsage = { input_tokens: Number(u.input_tokens ?? 0) || 0, output_tokens: Number(u.output_tokens ?? 0) || 0 };
  const content = typeof m.content === "string" ? m.content : null;
  return {
    ...v,
    model: typeof v.model === "string" ? v.model : (cfg?.model?.model ?? "mock"),
    message: { ...m, role: "assistant", content, tool_calls: toolCalls },
    finish_reason: v.finish_reason !== undefined ? v.finish_reason : toolCalls.length ? "tool_calls" : "stop",
    usage: { ...u, ...usage },
    cost_usd: typeof v.cost_usd === "number" || v.cost_usd === null ? v.cost_usd : chatCost(usage, cfg?.model?.prices),
  };
}

/** The calls an answer asks for: call id -> tool name. */
export function askedCalls(response: unknown): Map<string, string> {
  const calls = ((response as { message?: { tool_calls?: { id?: unknown; name?: unknown }[] } } | null)?.message?.tool_calls ?? []) as { id?: unknown; name?: unknown }[];
  return new Map(calls.filter((c) => c && c.id).map((c) => [String(c.id), String(c.name ?? "")]));
}

/** As the server host does with a live answer: a call of one of the agent's tools whose arguments are not
 * valid against the tool's parameters gets `arguments_error` (the guest then refuses it, nothing is done). */
export function checkArguments(response: Record<string, unknown>, cfg: AgentConfig | undefined): Record<string, unknown> {
  const m = response.message as { tool_calls?: Record<string, unknown>[] } | undefined;
  if (!m?.tool_calls?.length || !cfg) return response;
  const tools = new Map((cfg.tools ?? []).filter((t) => t?.name).map((t) => [t.name as string, t]));
  const calls = m.tool_calls.map((c) => {
    const tool = tools.get(String(c.name));
    if (!tool || c.arguments_error) return c;
    const problem = argumentsProblem(String(c.name), c.arguments, tool.parameters);
    return problem ? { ...c, arguments_error: problem } : c;
  });
  return { ...response, message: { ...m, tool_calls: calls } };
}
