// The dry-run API: what the editor passes to startDryRun and what it gets back (see README.md).
//
// A dry run executes the exact compiled component (the server's digest) in a Web Worker with mocked host
// functions; host calls are JSON in / JSON out per capability (app/capabilities.py).

/** A host error document, as the server host sends it ({"code","message","retriable"}; http errors may add
 * "status"/"details"). */
export interface HostErrorDoc {
  code: string;
  message: string;
  retriable?: boolean;
  status?: number;
  details?: Record<string, unknown>;
}

/** An HTTP response as a mock value of an http.request node (status 4xx/5xx included: the node decides). */
export interface HttpResponseMock {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** One pinned answer to one host call of a node.
 * - `value` is the capability's response document, except for http.request where it is the one response
 *   {status, headers, body} of that node's request (the batch envelope is handled by the runtime), and
 *   approval.request where it may be just {approved, decision?, by?, reason?}.
 * - `capability` says which call it answers; when absent it answers the node's own capability (http.request
 *   for an http.request node, kv.get for kv.get, approval.request for approval, timer.wait for wait,
 *   workflow.call for subflow, webhook.respond for respond, llm.chat for agent). mocksFromRun always sets it.
 * - for an agent node, `llm.chat` entries are scripted turns of the model (the response document of
 *   app/capabilities.py: {message: {content, tool_calls}, usage}; missing fields are filled in), and
 *   http.request / workflow.call / kv.get entries answer its tool calls, each capability in order. */
export type MockResponse =
  | { kind: "ok"; value: unknown; capability?: string }
  | { kind: "error"; error: HostErrorDoc; capability?: string };

/** A node's mock: one answer for every call, or a list consumed one per call in order (map items,
 * retries); calls beyond the end of a list get "no mock for node X (call N)". */
export type Mock = MockResponse | MockResponse[];

/** Mocks by node id. RUN_MOCKS_KEY holds answers to calls made outside any node (random.bytes of retry
 * jitter) so that a dry run can replay a server run exactly. */
export type Mocks = Record<string, Mock>;
export const RUN_MOCKS_KEY = "_run";

/** Capabilities a mock can answer, with the node type that calls each. */
export const NODE_CAPABILITY: Record<string, string> = {
  "http.request": "http.request",
  "kv.get": "kv.get",
  "kv.set": "kv.set",
  wait: "timer.wait",
  approval: "approval.request",
  subflow: "workflow.call",
  respond: "webhook.respond",
  // an agent's own capability is its model (scripted turns); its tool calls are tagged http.request /
  // workflow.call / kv.get / kv.set entries of the same list
  agent: "llm.chat",
};

/** One host call as the dry run made it (http.request batches are split: one record per request). */
export interface RecordedCall {
  seq: number;
  capability: string;
  node: string | null;
  /** map item indices when the call came from a map body */
  index?: number[];
  request: unknown;
  /** exactly one of response / error is set */
  response?: unknown;
  error?: HostErrorDoc;
  /** where the answer came from */
  source: "mock" | "default" | "replay" | "approval" | "recorded";
}

export type NodeStatus = "started" | "succeeded" | "failed" | "waiting" | "skipped";

/** A node's state, streamed as it changes (one event per change). */
export interface DryRunEvent {
  type: "node";
  node: string;
  status: NodeStatus;
  /** map item indices (node inside a map body) */
  index?: number[];
  attempt?: number;
  input?: unknown;
  output?: unknown;
  error?: HostErrorDoc & { node?: string | null };
  /** failed but will be retried */
  willRetry?: boolean;
  /** ms since the node's (latest attempt) started; set on succeeded/failed */
  duration_ms?: number;
  /** waiting: what for (an approval request) */
  waiting?: { kind: "approval"; request: unknown };
  /** ms since the dry run started */
  at_ms: number;
}

/** Per node summary at the end of the dry run (top-level nodes and map body nodes by id; for map bodies
 * the last item's values). */
export interface NodeResult {
  node: string;
  status: NodeStatus;
  input?: unknown;
  output?: unknown;
  error?: HostErrorDoc & { node?: string | null };
  duration_ms?: number;
  attempts: number;
}

export type DryRunStatus = "succeeded" | "failed" | "stopped" | "cancelled" | "timed_out" | "crashed";

export interface DryRunResult {
  status: DryRunStatus;
  digest: string;
  /** the run output (succeeded) */
  output?: unknown;
  /** the run error (failed: {"code","message","node",...}); crashed/timed_out/cancelled: a one-line reason */
  error?: HostErrorDoc & { node?: string | null };
  /** outputs of the nodes that ran, by id, as the component returned them (succeeded only) */
  nodeOutputs?: Record<string, unknown>;
  nodes: Record<string, NodeResult>;
  events: DryRunEvent[];
  /** every host call, in order: pass as `replay` to a later "run up to here" */
  calls: RecordedCall[];
  /** kv.set writes and log lines made by the run (recorded, not performed) */
  kvWrites: { node: string | null; namespace: string; key: string; value: unknown }[];
  logs: { node: string | null; level: string; message: string }[];
  /** the webhook response the run sent (respond node), if any */
  webhookResponse?: { status: number; headers?: Record<string, unknown>; body?: unknown };
  duration_ms: number;
}

export interface ApprovalRequest {
  node: string;
  title: string;
  details?: string;
  approvers?: string[];
  timeout_seconds?: number;
  timeout_action?: string;
}

export interface ApprovalDecision {
  approved: boolean;
  by?: string;
  reason?: string;
}

export interface DryRunOptions {
  /** sha256 digest of the compiled component (its bundle is fetched from /api/artifacts/<digest>/...) */
  digest: string;
  /** the DSL document of that digest (node types decide which capability an untagged mock answers) */
  document?: { nodes?: unknown[] } | null;
  /** the run input (the trigger's input) */
  input: unknown;
  mocks: Mocks;
  /** stop right after this node finished (or failed): "run up to here" */
  stopAfter?: string;
  /** calls of an earlier dry run: answered in order from there while they match (same capability, node and
   * request), then from mocks */
  replay?: RecordedCall[];
  onEvent?: (event: DryRunEvent) => void;
  /** every host call as it is answered (an agent node's transcript is built from them while it runs) */
  onCall?: (call: RecordedCall) => void;
  /** asked when an approval node has no mock; the dry run waits for the answer */
  onApproval?: (request: ApprovalRequest) => Promise<ApprovalDecision>;
  /** terminate a runaway guest after this many seconds (default 60; waits for approvals do not count) */
  timeoutSeconds?: number;
  /** base URL of the API (default: same origin "") */
  baseUrl?: string;
}

export interface DryRunHandle {
  cancel(): void;
  done: Promise<DryRunResult>;
}
