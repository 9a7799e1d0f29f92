// What a node received, for its Run tab: the engine's node input is only `{"from": [ids]}` (where the values
// came from), so the tab shows the upstream outputs it read and the host calls it made with their requests
// (an HTTP node's resolved method, URL, headers and body), from a dry run's recorded calls or a server run's
// journal. Pure, so unit-tested (received.test.ts).

/** One host call of the node, as it was made (the request after templates were resolved). */
export interface ReceivedCall {
  capability: string;
  request: unknown;
  /** map item indices of a call made in a map body */
  index?: number[];
}

export interface Received {
  /** the upstream nodes the input came from (the engine's `from`), or null when the input had none */
  from: string[] | null;
  /** what those upstream nodes produced (only those with a known output) */
  upstream: Record<string, unknown>;
  /** anything else the input held besides `from` (e.g. a trigger's run input) */
  rest: Record<string, unknown> | null;
  /** the input as recorded when it is not of the `{from}` shape */
  raw: unknown;
  calls: ReceivedCall[];
}

/** Calls that are bookkeeping, not something the node acted on. */
const NOT_SHOWN = new Set(["log.write", "node.event", "clock.now", "random.bytes"]);

export interface CallLike {
  capability: string;
  node: string | null;
  request?: unknown;
  index?: number[];
}

/** The journal / recorded calls of one node that are worth showing as "what it sent". */
export function callsOf(calls: readonly CallLike[] | undefined, node: string): ReceivedCall[] {
  const out: ReceivedCall[] = [];
  for (const c of calls ?? []) {
    if (!c || c.node !== node || NOT_SHOWN.has(c.capability)) continue;
    out.push(c.index?.length ? { capability: c.capability, request: c.request, index: c.index } : { capability: c.capability, request: c.request });
  }
  return out;
}

/** The Run tab's INPUT of a node from its recorded input, the outputs known per node, and its calls. */
export function receivedOf(input: unknown, outputs: (id: string) => unknown, calls: ReceivedCall[]): Received {
  const isObj = input !== null && typeof input === "object" && !Array.isArray(input);
  const from = isObj && Array.isArray((input as { from?: unknown }).from) ? ((input as { from: unknown[] }).from.filter((x) => typeof x === "string") as string[]) : null;
  if (!from) return { from: null, upstream: {}, rest: null, raw: input, calls };
  const upstream: Record<string, unknown> = {};
  for (const id of from) {
    const v = outputs(id);
    if (v !== undefined) upstream[id] = v;
  }
  const { from: _from, ...others } = input as Record<string, unknown>;
  void _from;
  return { from, upstream, rest: Object.keys(others).length ? others : null, raw: undefined, calls };
}

/** An HTTP request as a person reads it: "POST https://…" with its headers and body (null: not HTTP). */
export function httpRequestOf(call: ReceivedCall): { method: string; url: string; headers: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown } | null {
  if (call.capability !== "http.request") return null;
  const r = (call.request ?? {}) as Record<string, unknown>;
  if (typeof r.url !== "string") return null;
  const query = r.query && typeof r.query === "object" && Object.keys(r.query as object).length ? (r.query as Record<string, unknown>) : undefined;
  const out: { method: string; url: string; headers: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown } = {
    method: typeof r.method === "string" ? r.method.toUpperCase() : "GET",
    url: r.url,
    headers: (r.headers && typeof r.headers === "object" ? r.headers : {}) as Record<string, unknown>,
  };
  if (query) out.query = query;
  if (r.body !== undefined && r.body !== null) out.body = r.body;
  return out;
}
