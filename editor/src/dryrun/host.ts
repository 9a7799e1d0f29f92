// The mock host of a dry run: one synchronous function per capability, JSON in / JSON out, with the jco
// conventions of tests/compiler/node_host.mjs (an err is thrown as an object with an own `payload`; a plain
// Error traps the guest). Pure logic, no worker and no wasm: the worker wires it to the component, the unit
// tests drive it directly.
import { agentConfigs, askedCalls, checkArguments, normalizeChat, TOOL_CAPABILITIES, toolRefusal, type AgentConfig } from "./agent";
import {
  NODE_CAPABILITY,
  RUN_MOCKS_KEY,
  type ApprovalDecision,
  type DryRunEvent,
  type HostErrorDoc,
  type MockResponse,
  type Mocks,
  type RecordedCall,
} from "./types";

/** Thrown by the host to unwind the guest (a trap): the run suspends for an approval or stops. */
export class Unwind extends Error {
  constructor(
    readonly reason: "approval" | "stop",
    readonly seq: number,
    readonly request?: Record<string, unknown>,
  ) {
    super(reason === "approval" ? `dry run waits for approval (call ${seq})` : `dry run stopped (call ${seq})`);
  }
}

/** The jco shape of a host err: an object with an own `payload` (the error JSON). */
export class HostErr {
  readonly payload: string;
  constructor(readonly error: HostErrorDoc) {
    this.payload = JSON.stringify(error);
  }
}

export const CAPABILITIES = [
  "http.request",
  "kv.get",
  "kv.set",
  "clock.now",
  "random.bytes",
  "log.write",
  "node.event",
  "approval.request",
  "timer.wait",
  "webhook.respond",
  "workflow.call",
  "llm.chat",
] as const;

export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** node id -> the capability its type calls (map bodies included). */
export function nodeCapabilities(document: { nodes?: unknown[] } | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (nodes: unknown[] | undefined) => {
    for (const n of nodes ?? []) {
      const node = n as { id?: string; type?: string; config?: { body?: { nodes?: unknown[] } } };
      if (node.id && node.type && NODE_CAPABILITY[node.type]) out[node.id] = NODE_CAPABILITY[node.type];
      if (node.type === "map") walk(node.config?.body?.nodes);
    }
  };
  walk(document?.nodes);
  return out;
}

/** The top-level map whose body holds `id` (at any depth), or null for a top-level or unknown node. */
export function outermostMap(document: { nodes?: unknown[] } | null | undefined, id: string): string | null {
  type N = { id?: string; type?: string; config?: { body?: { nodes?: unknown[] } } };
  const holds = (nodes: unknown[] | undefined): boolean =>
    (nodes ?? []).some((n) => (n as N).id === id || ((n as N).type === "map" && holds((n as N).config?.body?.nodes)));
  for (const n of (document?.nodes ?? []) as N[]) {
    if (n.type === "map" && n.id !== id && holds(n.config?.body?.nodes)) return n.id ?? null;
  }
  return null;
}

export function noMock(node: string | null, capability: string, call?: number, turn?: number): HostErrorDoc {
  const where = node ?? RUN_MOCKS_KEY;
  if (capability === "llm.chat") {
    const nth = turn ? ` turn ${turn}` : "";
    return { code: "no_mock", message: `no mock for node ${where} (model${nth}): script the model's turns in its Mock tab`, retriable: false };
  }
  const nth = call === undefined ? "" : ` (call ${call})`;
  return { code: "no_mock", message: `no mock for node ${where}${nth}: pin a ${capability} response or error`, retriable: false };
}

export interface HostHooks {
  event(e: DryRunEvent): void;
  call(c: RecordedCall): void;
}

export interface HostConfig {
  mocks: Mocks;
  document?: { nodes?: unknown[] } | null;
  stopAfter?: string;
  replay?: RecordedCall[];
  /** true when the dry run has an onApproval callback (else an approval without a mock has no mock) */
  canAskApproval: boolean;
  now?: () => number; // ms, for durations (performance.now)
  clock?: () => Date;
  randomHex?: (n: number) => string;
}

type Outcome = { ok: unknown } | { err: HostErrorDoc };

/** Answered without a mock when none is pinned (see README.md). */
const DEFAULTED = new Set(["clock.now", "random.bytes", "timer.wait", "kv.set", "webhook.respond"]);
/** Never answered by an untagged mock entry when the node's type is unknown. */
const UNTAGGED_NEVER = new Set(["clock.now", "random.bytes", "timer.wait", "node.event", "log.write"]);

/** State of one dry run across its executions (an approval re-executes the guest from the start). */
export class MockHost {
  readonly calls: RecordedCall[] = [];
  readonly events: DryRunEvent[] = [];
  readonly decisions = new Map<number, ApprovalDecision>();
  private seq = 0;
  private consumed = new Map<string, Set<number>>();
  private replay: RecordedCall[];
  private replaying = true;
  private posted = 0; // calls already reported (a re-execution does not report them again)
  private started = new Map<string, number>();
  private readonly caps: Record<string, string>;
  private readonly agents: Record<string, AgentConfig>;
  /** per agent node: the calls (id -> tool) of its model's last answer (a tool call must be one of them) */
  private asked = new Map<string, Map<string, string>>();
  /** per agent node: its llm.chat calls in this execution (the turn number when a request has none) */
  private turns = new Map<string, number>();
  private readonly t0: number;
  private readonly now: () => number;
  stoppedAfter: string | null = null;
  /** The node whose end stops the run: stopAfter itself, or for a node in a map body the top-level map
   * holding it, so that node runs for every item (the guest runs a map's items to their end). */
  private readonly stopAt: string | null;

  constructor(
    private readonly config: HostConfig,
    private readonly hooks: HostHooks,
  ) {
    this.caps = nodeCapabilities(config.document);
    this.agents = agentConfigs(config.document);
    this.stopAt = config.stopAfter ? (outermostMap(config.document, config.stopAfter) ?? config.stopAfter) : null;
    this.replay = config.replay ?? [];
    this.now = config.now ?? (() => performance.now());
    this.t0 = this.now();
  }

  /** Start an execution of the guest: calls made so far are replayed from the record, in order. */
  beginExecution(): void {
    if (this.seq > 0) {
      this.replay = this.calls.slice();
      this.replaying = true;
      this.consumed.clear();
    }
    this.asked.clear();
    this.turns.clear();
    this.seq = 0;
  }

  /** The imports object of a component: `wasmflow:host/<interface>` -> {call}, for every capability (jco
   * reads the ones the component imports). */
  imports(): Record<string, { call(request: string): string }> {
    const out: Record<string, { call(request: string): string }> = {};
    for (const capability of CAPABILITIES) {
      out[`wasmflow:host/${capability.replace(".", "-")}`] = { call: (request: string) => this.call(capability, request) };
    }
    return out;
  }

  /** One host call: returns the response JSON or throws HostErr (a WIT err) / Unwind (a trap). */
  call(capability: string, requestJson: string): string {
    const request = JSON.parse(requestJson) as Record<string, unknown>;
    if (capability === "http.request") return JSON.stringify(this.http(request));
    const seq = ++this.seq;
    const node = typeof request?.node === "string" ? request.node : null;
    const outcome = this.answer(seq, capability, node, request);
    if ("err" in outcome) throw new HostErr(outcome.err);
    return JSON.stringify(outcome.ok ?? {});
  }

  private http(request: Record<string, unknown>): { responses: Outcome[] } {
    const items = (request.requests as Record<string, unknown>[]) ?? [];
    return {
      responses: items.map((one) => {
        const seq = ++this.seq;
        const node = typeof one?.node === "string" ? one.node : null;
        return this.answer(seq, "http.request", node, one);
      }),
    };
  }

  private answer(seq: number, capability: string, node: string | null, request: Record<string, unknown>): Outcome {
    if (capability === "llm.chat" && node !== null) this.turns.set(node, (this.turns.get(node) ?? 0) + 1);
    const replayed = this.fromReplay(seq, capability, node, request);
    if (replayed) {
      this.noteAsked(capability, node, replayed.outcome);
      this.after(seq, capability, node, request, replayed.outcome, "replay");
      return replayed.outcome;
    }
    const [outcome, source] = this.live(seq, capability, node, request);
    this.noteAsked(capability, node, outcome);
    this.after(seq, capability, node, request, outcome, source);
    return outcome;
  }

  private noteAsked(capability: string, node: string | null, outcome: Outcome): void {
    if (capability !== "llm.chat" || node === null || "err" in outcome) return;
    this.asked.set(node, askedCalls(outcome.ok));
  }

  private fromReplay(seq: number, capability: string, node: string | null, request: unknown) {
    if (!this.replaying) return null;
    const rec = this.replay[seq - 1];
    if (!rec || rec.seq !== seq || rec.capability !== capability || rec.node !== node) {
      this.replaying = false;
      return null;
    }
    if (canonical(rec.request) !== canonical(request)) {
      this.replaying = false;
      return null;
    }
    if (rec.source === "mock") this.take(node, capability); // the mock it used stays used
    const outcome: Outcome = rec.error ? { err: rec.error } : { ok: rec.response };
    return { outcome };
  }

  private live(seq: number, capability: string, node: string | null, request: Record<string, unknown>): [Outcome, RecordedCall["source"]] {
    // An agent acts only through its tools: the server host refuses anything else (nothing performed).
    const agent = node !== null ? this.agents[node] : undefined;
    if (agent && TOOL_CAPABILITIES.has(capability)) {
      const refusal = toolRefusal(node as string, agent, capability, request, this.asked.get(node as string) ?? new Map());
      if (refusal) return [{ err: refusal }, "default"];
    }
    switch (capability) {
      case "llm.chat": {
        const mock = this.take(node, capability);
        const turn = Number(request.turn) || undefined;
        if (!mock) return [{ err: noMock(node, capability, undefined, turn) }, "default"];
        if (mock.kind === "error") return [mockOutcome(mock, capability, this.clock()), "mock"];
        return [{ ok: checkArguments(normalizeChat(mock.value, agent, turn ?? this.turns.get(node ?? "") ?? 1), agent) }, "mock"];
      }
      case "node.event":
      case "log.write":
        return [{ ok: {} }, "recorded"];
      case "approval.request": {
        const decided = this.decisions.get(seq);
        if (decided) return [{ ok: approvalResponse(decided, this.clock()) }, "approval"];
        const mock = this.take(node, capability);
        if (mock) return [mockOutcome(mock, capability, this.clock()), "mock"];
        if (!this.config.canAskApproval) return [{ err: noMock(node, capability) }, "default"];
        throw new Unwind("approval", seq, request);
      }
      default: {
        const mock = this.take(node, capability);
        if (mock) return [mockOutcome(mock, capability, this.clock()), "mock"];
        if (DEFAULTED.has(capability)) return [{ ok: this.defaultAnswer(capability, request) }, "default"];
        return [{ err: noMock(node, capability, this.listed(node)) }, "default"];
      }
    }
  }

  private clock(): Date {
    return this.config.clock ? this.config.clock() : new Date();
  }

  private defaultAnswer(capability: string, request: Record<string, unknown>): unknown {
    switch (capability) {
      case "clock.now": {
        const now = this.clock();
        return { iso: now.toISOString(), epoch_ms: now.getTime() };
      }
      case "random.bytes":
        return { hex: (this.config.randomHex ?? randomHex)(Number(request.n ?? 16)) };
      case "timer.wait": {
        const until =
          typeof request.until === "string"
            ? new Date(request.until)
            : new Date(this.clock().getTime() + 1000 * Number(request.seconds ?? 0));
        return { waited_until: until.toISOString() };
      }
      case "kv.set":
        return { key: request.key, value: request.value };
      default:
        return {};
    }
  }

  /** The next mock of `node` for `capability` (a single mock answers every call; a list is consumed in
   * order). An untagged entry answers the node's own capability (from the document); without a document,
   * any capability but the defaulted clock/random/timer ones (so a retry's backoff cannot eat it). */
  private take(node: string | null, capability: string): MockResponse | null {
    const mock = this.config.mocks[node ?? RUN_MOCKS_KEY];
    if (mock === undefined) return null;
    const own = node !== null ? this.caps[node] : undefined;
    const fits = (m: MockResponse) =>
      m.capability ? m.capability === capability : own ? own === capability : !UNTAGGED_NEVER.has(capability);
    if (!Array.isArray(mock)) return fits(mock) ? mock : null;
    const k = node ?? RUN_MOCKS_KEY;
    const used = this.consumed.get(k) ?? new Set<number>();
    this.consumed.set(k, used);
    for (let i = 0; i < mock.length; i++) {
      if (used.has(i) || !fits(mock[i])) continue;
      used.add(i);
      return mock[i];
    }
    return null;
  }

  /** For a node with a mock list: the number of the call that found it used up. */
  private listed(node: string | null): number | undefined {
    const mock = node !== null ? this.config.mocks[node] : undefined;
    if (!Array.isArray(mock)) return undefined;
    return (this.consumed.get(node as string)?.size ?? 0) + 1;
  }

  private after(
    seq: number,
    capability: string,
    node: string | null,
    request: Record<string, unknown>,
    outcome: Outcome,
    source: RecordedCall["source"],
  ): void {
    const fresh = seq > this.posted;
    if (fresh) {
      const rec: RecordedCall = {
        seq,
        capability,
        node,
        request,
        source,
        ...("err" in outcome ? { error: outcome.err } : { response: outcome.ok }),
      };
      if (Array.isArray(request?.index)) rec.index = request.index as number[];
      this.calls[seq - 1] = rec;
      this.posted = seq;
      this.hooks.call(rec);
      if (capability === "node.event") this.nodeEvent(request);
    }
    if (capability === "node.event" && this.stopAt && node === this.stopAt && (this.stopAt === this.config.stopAfter || !Array.isArray(request.index))) {
      const ev = request.event;
      if (ev === "finished" || ev === "skipped" || (ev === "failed" && !request.will_retry)) {
        this.stoppedAfter = this.config.stopAfter ?? node;
        throw new Unwind("stop", seq);
      }
    }
  }

  /** Report an approval the page is asked for (the node waits). */
  waiting(request: Record<string, unknown>): void {
    const node = String(request.node ?? "");
    this.emit({ type: "node", node, status: "waiting", waiting: { kind: "approval", request }, at_ms: this.at() });
  }

  private nodeEvent(request: Record<string, unknown>): void {
    const node = String(request.node ?? "");
    const index = Array.isArray(request.index) ? (request.index as number[]) : undefined;
    const k = `${node}\u0000${(index ?? []).join(",")}`;
    const base: DryRunEvent = { type: "node", node, status: "started", at_ms: this.at() };
    if (index) base.index = index;
    if (typeof request.attempt === "number") base.attempt = request.attempt;
    switch (request.event) {
      case "started":
        this.started.set(k, this.now());
        this.emit({ ...base, status: "started", input: request.input });
        return;
      case "finished":
        this.emit({ ...base, status: "succeeded", output: request.output, duration_ms: this.since(k) });
        return;
      case "failed":
        this.emit({
          ...base,
          status: "failed",
          error: request.error as DryRunEvent["error"],
          willRetry: Boolean(request.will_retry),
          duration_ms: this.since(k),
        });
        return;
      case "skipped":
        this.emit({ ...base, status: "skipped" });
        return;
    }
  }

  private since(k: string): number | undefined {
    const t = this.started.get(k);
    return t === undefined ? undefined : Math.round((this.now() - t) * 1000) / 1000;
  }

  private at(): number {
    return Math.round((this.now() - this.t0) * 1000) / 1000;
  }

  private emit(e: DryRunEvent): void {
    this.events.push(e);
    this.hooks.event(e);
  }
}

export function approvalResponse(d: ApprovalDecision & { decision?: string; decided_at?: string }, now: Date) {
  return {
    approved: Boolean(d.approved),
    decision: d.decision ?? (d.approved ? "approved" : "rejected"),
    by: d.by ?? null,
    reason: d.reason ?? "",
    decided_at: d.decided_at ?? now.toISOString(),
  };
}

function mockOutcome(mock: MockResponse, capability: string, now: Date): Outcome {
  if (mock.kind === "error") return { err: { retriable: false, ...mock.error } };
  if (capability === "approval.request") {
    const v = (mock.value ?? {}) as ApprovalDecision & { decision?: string; decided_at?: string };
    return { ok: approvalResponse(v, now) };
  }
  return { ok: mock.value };
}

export function randomHex(n: number): string {
  const bytes = new Uint8Array(Math.max(1, Math.min(4096, n)));
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
