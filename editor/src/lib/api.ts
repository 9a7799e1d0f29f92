// The server's REST API (docs/api.md). Every call returns parsed JSON or throws ApiError with the server's
// one-line message, so the UI can show it as is.
import type { DslDocument, Problem } from "../dsl/types";
import { getSession, sessionLost, type User } from "./session";

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public body: unknown,
    /** seconds, from a 429's Retry-After */
    public retryAfter: number | null = null,
  ) {
    super(message);
  }
  get problems(): Problem[] {
    const err = (this.body as { error?: { errors?: Problem[] } } | null)?.error;
    return err?.errors ?? [];
  }
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = body === undefined ? {} : { "Content-Type": "application/json" };
  // With access control on, every write made with the session cookie carries the session's CSRF token.
  const csrf = getSession()?.csrf;
  if (csrf && !SAFE.has(method.toUpperCase())) headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string } } | null)?.error;
    // A 401 means the session is gone (expired, signed out in another tab): back to the sign-in page.
    if (res.status === 401 && !path.startsWith("/api/auth/")) sessionLost();
    const retry = res.headers.get("Retry-After");
    throw new ApiError(res.status, err?.code ?? `http_${res.status}`, err?.message ?? `${method} ${path}: HTTP ${res.status}`, data, retry ? Number(retry) : null);
  }
  return data as T;
}

export interface WorkflowSummary {
  name: string;
  title: string;
  revision: number;
  deployed_version: number | null;
  updated_at?: string;
}

export interface WorkflowDetail {
  name: string;
  title: string;
  revision: number;
  draft: DslDocument;
  deployment?: { version: number; digest: string | null; active?: boolean; webhook_token?: string | null } | null;
  valid?: boolean;
  errors?: Problem[];
  digest?: string | null;
  [key: string]: unknown;
}

export interface SaveAnswer extends WorkflowDetail {
  valid: boolean;
  errors?: Problem[];
  digest?: string | null;
}

export interface DeployAnswer {
  version: number;
  digest: string;
  unchanged?: boolean;
  trigger?: string;
  webhook_url?: string | null;
  schedule?: { cron: string; timezone: string } | null;
}

export interface RunSummary {
  id?: string;
  run_id?: string;
  workflow: string;
  status: string;
  created_at?: string;
  started_at?: string | null;
  finished_at?: string | null;
  version?: number | null;
  digest?: string;
  /** Set on a replay/fork (docs/api.md "Replay and fork"). */
  replay_of?: ReplayOf | null;
  [key: string]: unknown;
}

export interface ReplayOf {
  run_id: string;
  from_node: string;
}

export interface Lineage {
  replay_of: ReplayOf | null;
  replays: (ReplayOf & { created_at?: string })[];
}

export type ReplayVersion = "original" | "current";

export interface ReplayStarted {
  run_id: string;
  status: string;
  digest: string;
  version: number | null;
  replay_of: ReplayOf;
}

/** POST /api/workflows/<name>/runs: a run of the deployed version, queued and kicked. */
export interface RunStarted {
  run_id: string;
  status: string;
  workflow: string;
  digest: string;
  version: number | null;
}

export interface RunNode {
  status: string;
  attempts?: number;
  input?: unknown;
  output?: unknown;
  error?: unknown;
  duration_ms?: number | null;
  started_at?: string | null;
  finished_at?: string | null;
}

export interface RunDetail extends RunSummary {
  input?: unknown;
  output?: unknown;
  error?: unknown;
  nodes?: Record<string, RunNode>;
  logs?: { node?: string | null; level?: string; message: string; at?: string; [key: string]: unknown }[];
  events?: { type: string; node?: string | null; at?: string; [key: string]: unknown }[];
  lineage?: Lineage;
  /** with ?journal=1: every host call with its request (docs/api.md) */
  journal?: { seq: number; capability: string; node: string | null; state?: string; request?: unknown; result?: unknown }[];
  /** the agents' model turns, tokens and cost in all (runs with agent nodes) */
  llm_usage?: { turns: number; input_tokens: number; output_tokens: number; cost_usd: number | null };
}

const wf = (name: string) => `/api/workflows/${encodeURIComponent(name)}`;

/** GET /api/auth/me (app/api/access.py). */
export interface MeAnswer {
  auth: boolean;
  user: User | null;
  csrf?: string | null;
  setup_needed?: boolean;
}

/** GET /api/auth/users (app/auth.py list_users). */
export interface UserRow {
  id: string;
  email: string;
  role: string;
  disabled: boolean;
  created_at?: string | null;
}

/** GET /api/auth/tokens: a token without its value (it is shown once, in the answer that made it). */
export interface TokenRow {
  id: string;
  user: string;
  name: string;
  role: string;
  created_at: string | null;
  expires_at: string | null;
  revoked: boolean;
  last_used_at: string | null;
}

/** POST /api/auth/tokens: the new token, with its value this once. */
export interface TokenMade {
  id: string;
  token: string;
  name: string;
  role: string;
  expires_at: string | null;
}

/** GET /api/secrets items: a name, or (with workspaces and grants) an object with the workflows it is granted
 * to (null: all workflows). Values are never sent. */
export type SecretItem = string | { name: string; workflows?: string[] | null; updated_at?: string | null; created_at?: string | null };

const enc = encodeURIComponent;

export const api = {
  me: () => request<MeAnswer>("GET", "/api/auth/me"),
  login: (email: string, password: string) => request<{ user: User; csrf: string }>("POST", "/api/auth/login", { email, password }),
  logout: () => request<{ signed_out: boolean }>("POST", "/api/auth/logout"),
  schema: () => request<Record<string, unknown>>("GET", "/api/dsl/schema"),
  capabilities: () => request<{ capabilities: Record<string, unknown>[] }>("GET", "/api/capabilities"),
  validate: (doc: unknown) => request<{ valid: boolean; errors: Problem[] }>("POST", "/api/validate", doc),
  list: () => request<{ workflows: WorkflowSummary[] } | WorkflowSummary[]>("GET", "/api/workflows"),
  get: (name: string) => request<WorkflowDetail>("GET", wf(name)),
  create: (doc: DslDocument) => request<WorkflowDetail>("POST", "/api/workflows", doc),
  importDoc: (doc: unknown) => request<WorkflowDetail>("POST", "/api/workflows/import", doc),
  save: (name: string, revision: number, draft: DslDocument) => request<SaveAnswer>("PUT", wf(name), { revision, draft }),
  remove: (name: string) => request<null>("DELETE", wf(name)),
  validateStored: (name: string) => request<{ valid: boolean; errors: Problem[] }>("POST", `${wf(name)}/validate`),
  compile: (name: string) => request<{ digest: string; cache_hit: boolean; [key: string]: unknown }>("POST", `${wf(name)}/compile`),
  deploy: (name: string, digest: string, revision?: number) =>
    request<DeployAnswer>("POST", `${wf(name)}/deploy`, revision === undefined ? { digest } : { digest, revision }),
  /** Runs of every workflow, newest first; `status`/`workflow` filter, `cursor` pages on (docs/api.md "Runs"). */
  allRuns: (f: { status?: string; workflow?: string; cursor?: string | null; limit?: number } = {}) => {
    const q = new URLSearchParams({ limit: String(f.limit ?? 50) });
    if (f.status) q.set("status", f.status);
    if (f.workflow) q.set("workflow", f.workflow);
    if (f.cursor) q.set("cursor", f.cursor);
    return request<{ runs: RunSummary[]; next_cursor?: string | null }>("GET", `/api/runs?${q}`);
  },
  version: (name: string, n: number) => request<{ version: number; digest: string; dsl: DslDocument }>("GET", `${wf(name)}/versions/${n}`),
  runs: (name: string) => request<{ runs: RunSummary[]; next_cursor?: string | null }>("GET", `/api/runs?workflow=${encodeURIComponent(name)}&limit=50`),
  run: (id: string, journal = false) => request<RunDetail>("GET", `/api/runs/${encodeURIComponent(id)}${journal ? "?journal=1" : ""}`),
  replay: (runId: string, fromNode: string, version: ReplayVersion) =>
    request<ReplayStarted>("POST", `/api/runs/${encodeURIComponent(runId)}/replay`, { from_node: fromNode, version }),
  startRun: (name: string, input: unknown) => request<RunStarted>("POST", `${wf(name)}/runs`, { input }),
  approvals: (runId: string) =>
    request<{ approvals: { id: string; node: string; title: string; details?: string; status: string }[] }>(
      "GET",
      `/api/approvals?run_id=${encodeURIComponent(runId)}`,
    ),
  // people, tokens, secrets (the Settings screens; admin on the server)
  users: () => request<{ users: UserRow[] }>("GET", "/api/auth/users"),
  createUser: (email: string, password: string, role: string) => request<UserRow>("POST", "/api/auth/users", { email, password, role }),
  updateUser: (id: string, change: { role?: string; disabled?: boolean }) => request<UserRow>("PATCH", `/api/auth/users/${enc(id)}`, change),
  tokens: () => request<{ tokens: TokenRow[] }>("GET", "/api/auth/tokens"),
  createToken: (t: { user: string; name: string; role: string; expires_days: number }) => request<TokenMade>("POST", "/api/auth/tokens", t),
  revokeToken: (id: string) => request<{ revoked: boolean }>("DELETE", `/api/auth/tokens/${enc(id)}`),
  secrets: () => request<{ secrets: SecretItem[] }>("GET", "/api/secrets"),
  setSecret: (name: string, value: string) => request<unknown>("PUT", `/api/secrets/${enc(name)}`, { value }),
  deleteSecret: (name: string) => request<unknown>("DELETE", `/api/secrets/${enc(name)}`),
  decide: (key: string, approve: boolean, by: string, reason: string) =>
    request<unknown>("POST", `/api/approvals/${encodeURIComponent(key)}/${approve ? "approve" : "reject"}`, { by, reason }),
};

export function runIdOf(r: RunSummary): string {
  return (r.run_id ?? r.id ?? "") as string;
}

/** A run id short enough for a list that still tells runs apart: ids are 11 hex digits of creation time then
 * 16 random ones, so runs started together share their first digits; the random part's first 8 differ. */
export function shortRunId(id: string): string {
  return /^[0-9a-f]{27}$/.test(id) ? id.slice(11, 19) : id.slice(0, 10);
}
