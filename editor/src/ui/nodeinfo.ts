// What the editor tells a person about each node type, beyond the server's schema: words they search for
// (synonyms), the order they fill a node's fields in, and a short help text. Pure data and functions, so the
// palette, the quick-add menu and the inspector agree (unit-tested in nodeinfo.test.ts).
import type { NodeTypeInfo } from "../lib/schema";
import { typeLabel } from "../lib/schema";

/** Words a new user types for a node type (lower case; matched as word prefixes). */
export const SYNONYMS: Record<string, string[]> = {
  "trigger.manual": ["start", "manual", "button", "run", "begin"],
  "trigger.webhook": ["webhook", "hook", "http", "endpoint", "incoming", "post", "start", "api"],
  "trigger.schedule": ["cron", "schedule", "timer", "daily", "hourly", "every", "periodic", "start"],
  "http.request": ["http", "api", "rest", "fetch", "get", "post", "call", "request", "url", "curl", "webhook"],
  respond: ["response", "reply", "return", "answer", "http"],
  transform: ["json", "parse", "code", "python", "script", "function", "compute", "expression", "map", "set", "format", "convert", "calculate"],
  "kv.get": ["kv", "store", "storage", "read", "load", "cache", "database", "db", "variable", "state"],
  "kv.set": ["kv", "store", "storage", "write", "save", "cache", "database", "db", "variable", "state", "counter"],
  branch: ["if", "else", "condition", "conditional", "decision", "filter", "check", "boolean", "when"],
  switch: ["case", "router", "route", "match", "select", "if", "condition"],
  map: ["loop", "each", "foreach", "for", "iterate", "list", "array", "batch", "repeat", "parallel"],
  wait: ["delay", "sleep", "pause", "timeout", "later", "timer"],
  approval: ["human", "approve", "review", "manual", "confirm", "sign-off", "person"],
  subflow: ["workflow", "call", "child", "nested", "reuse", "sub"],
  fail: ["error", "throw", "raise", "abort", "stop", "exception"],
  agent: ["agent", "ai", "llm", "model", "gpt", "openai", "ollama", "chat", "assistant", "prompt", "tools", "language", "claude", "gemini", "mistral", "llama"],
};

/** Whether a word of the type's help text starts with the query, of 4 letters or more: shorter ones ("if",
 * "for", "the") would match half the descriptions; what people type that short is in SYNONYMS. */
function helpMatches(type: string, q: string): boolean {
  if (q.length < 4) return false;
  return (HELP[type] ?? "")
    .toLowerCase()
    .split(/[^a-z0-9_]+/)
    .some((w) => w.startsWith(q));
}

/** Whether a node type matches a search: its type, label, summary, one of its synonyms, or a word of its
 * help text (the description the inspector shows). */
export function matchesType(t: Pick<NodeTypeInfo, "type" | "summary">, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  const label = typeLabel(t.type).label.toLowerCase();
  const summary = t.summary.toLowerCase();
  // one or two letters match the start of a word only ("ai" finds AI agent, not wait or fail)
  const has = (text: string) => (q.length < 3 ? text.split(/[^a-z0-9]+/).some((w) => w.startsWith(q)) : text.includes(q));
  if (has(t.type) || has(label) || has(summary)) return true;
  return (SYNONYMS[t.type] ?? []).some((w) => w.startsWith(q)) || helpMatches(t.type, q);
}

/** Types ranked for a search: a match on the name first, then synonyms, then the summary, then the help
 * text; stable otherwise. */
export function searchTypes<T extends Pick<NodeTypeInfo, "type" | "summary">>(types: T[], query: string): T[] {
  const q = query.trim().toLowerCase();
  if (!q) return types;
  const rank = (t: T) => {
    const label = typeLabel(t.type).label.toLowerCase();
    if (t.type.startsWith(q) || label.startsWith(q)) return 0;
    if ((SYNONYMS[t.type] ?? []).includes(q)) return 1;
    if (t.type.includes(q) || label.includes(q)) return 2;
    if ((SYNONYMS[t.type] ?? []).some((w) => w.startsWith(q))) return 3;
    if (t.summary.toLowerCase().includes(q)) return 4;
    return 5;
  };
  return types
    .filter((t) => matchesType(t, q))
    .map((t, i) => ({ t, i, r: rank(t) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.t);
}

/** The order a person fills a node's config in; fields not listed follow in the schema's order. */
export const FIELD_ORDER: Record<string, string[]> = {
  "http.request": ["method", "url", "query", "headers", "body", "auth", "expect_status", "timeout_seconds", "response", "idempotency", "allowed_hosts"],
  "trigger.webhook": ["method", "respond", "signature"],
  "trigger.schedule": ["cron", "timezone"],
  transform: ["expression", "code"],
  branch: ["condition"],
  switch: ["cases"],
  map: ["items", "concurrency", "result", "body"],
  wait: ["duration", "until"],
  approval: ["title", "details", "approvers", "timeout", "timeout_action"],
  "kv.get": ["namespace", "key", "default"],
  "kv.set": ["namespace", "key", "value", "ttl_seconds"],
  subflow: ["workflow", "input", "wait"],
  respond: ["status", "headers", "body"],
  fail: ["message", "code"],
  agent: ["model", "instructions", "prompt", "tools", "output", "limits", "hooks"],
};

/** Config keys in fill-in order: the type's listed order, then the rest (required ones first, else as given). */
export function orderFields(type: string, keys: string[], required: Iterable<string> = []): string[] {
  const order = FIELD_ORDER[type] ?? [];
  const req = new Set(required);
  const pos = (k: string) => {
    const i = order.indexOf(k);
    return i >= 0 ? i : order.length + (req.has(k) ? 0 : 1);
  };
  return keys.map((k, i) => ({ k, i })).sort((a, b) => pos(a.k) - pos(b.k) || a.i - b.i).map((x) => x.k);
}

/** A few sentences per type: what it does, what it outputs, what to watch out for. */
export const HELP: Record<string, string> = {
  "trigger.manual": "Starts a run by hand (Test run, the API or the CLI). Its output is the run input.",
  "trigger.webhook":
    "Starts a run when an HTTP request reaches the deployed webhook URL. Its output is {method, path, headers, query, body}; with respond = respond_node a respond node answers the caller.",
  "trigger.schedule": "Starts a run on a cron schedule (5 fields, e.g. 0 9 * * 1-5 = 9:00 on weekdays) in the given time zone.",
  "http.request":
    "Calls an HTTP API: pick the method, give the URL (templates fill in parts with {{ }}), then query, headers and body. Output: {status, headers, body}; a JSON body is parsed (response: auto by Content-Type, json or text). Statuses outside expect_status fail the node; use an idempotency key for calls that must not happen twice on a retry.",
  transform: "Computes a value with a Python expression (or a function body with code); the value is the output. Upstream nodes' outputs are in scope by id.",
  branch: "Evaluates condition: truthy goes out of the true port, anything else out of false. The output is the input passed through.",
  switch: "Checks the cases in order and leaves by the port of the first true one; none true leaves by default.",
  map: "Runs its body once per element of items (item and index are in scope inside); the output is the list of results. Drop nodes into the box to build the body.",
  wait: "Pauses the run for a duration (e.g. 1h30m) or until a timestamp; the run is suspended, not a busy wait.",
  approval: "Pauses until a person approves or rejects (in the Runs panel or the API). Output: {approved, by, reason}; a timeout counts as timeout_action.",
  "kv.get": "Reads a value stored under namespace/key (shared between runs); default when it is not set.",
  "kv.set": "Stores a JSON value under namespace/key for later runs; ttl_seconds makes it expire.",
  subflow: "Runs another deployed workflow with the given input; with wait, its output becomes this node's output.",
  respond: "Answers the webhook caller with a status, headers and body (the trigger's respond must be respond_node).",
  fail: "Ends the run as failed with this message and code (e.g. after a branch that found bad input).",
  agent:
    "Asks a language model (any OpenAI-compatible API: OpenAI, Ollama, vLLM) to do a task with the tools you give it, and nothing else: each tool is one HTTP call, workflow or kv key you configure, and a call outside them is refused. Limits cap turns, tool calls, tokens and time; approval gates a tool on a person. Output: {output, text, model, turns, tool_calls, usage, cost_usd}.",
};

/** The document that describes a type: the agent node has its own (docs/agents.md). */
export function docsFile(type: string): string {
  return type === "agent" ? "docs/agents.md" : "docs/dsl.md";
}

/** The section of docs/dsl.md that documents a type. */
export function docsSection(type: string): string {
  if (type.startsWith("trigger.")) return "Triggers";
  if (type === "agent") return ""; // the whole of docs/agents.md
  if (type === "kv.get" || type === "kv.set") return "kv.get and kv.set";
  return type;
}

export function helpText(info: Pick<NodeTypeInfo, "type" | "summary"> | undefined, type: string): string {
  return HELP[type] ?? info?.summary ?? "";
}
