// The runs page's rules (all workflows' server runs, GET /api/runs): filters kept in the URL, how a refreshed
// first page merges with the pages loaded before, and the started/duration columns. Pure, so unit-tested.
import { runIdOf, type RunSummary } from "../lib/api";
import { formatMs } from "./format";

/** The run states the server filters by (app/engine/runs.py STATES), in lifecycle order. */
export const RUN_STATES = ["queued", "running", "waiting", "succeeded", "failed", "cancelled", "needs_attention"] as const;

/** States a run can still leave: its duration is still growing. */
export function isActive(status: string): boolean {
  return status === "queued" || status === "running" || status === "waiting";
}

export interface RunFilters {
  status: string;
  workflow: string;
}

/** Filters from the hash's query (`#/runs?status=failed&workflow=order-sync`); unknown states are ignored. */
export function parseFilters(hash: string): RunFilters {
  const q = new URLSearchParams(hash.split("?")[1] ?? "");
  const status = q.get("status") ?? "";
  return { status: (RUN_STATES as readonly string[]).includes(status) ? status : "", workflow: q.get("workflow") ?? "" };
}

/** The hash of the runs page with these filters (empty ones left out). */
export function filtersHash(f: RunFilters): string {
  const q = new URLSearchParams();
  if (f.status) q.set("status", f.status);
  if (f.workflow) q.set("workflow", f.workflow);
  const s = q.toString();
  return s ? `#/runs?${s}` : "#/runs";
}

/** Where clicking a run goes: its workflow in the editor, with the run open in the Runs tab. */
export function runHref(r: Pick<RunSummary, "workflow"> & { id?: string; run_id?: string }): string {
  return `#/w/${encodeURIComponent(r.workflow)}?run=${encodeURIComponent(runIdOf(r as RunSummary))}`;
}

/** The run id an editor hash asks to open (`#/w/<name>?run=<id>`), or null. */
export function runOfHash(hash: string): string | null {
  return new URLSearchParams(hash.split("?")[1] ?? "").get("run");
}

/** A refreshed first page over the list shown: the first page replaces what it covers; older rows loaded by
 * "Load more" stay after it (run ids sort by creation time), so refreshing never shortens the list. */
export function mergeFirstPage(fresh: RunSummary[], freshHasMore: boolean, shown: RunSummary[]): RunSummary[] {
  if (!freshHasMore || !fresh.length) return fresh;
  const oldest = runIdOf(fresh[fresh.length - 1]);
  return [...fresh, ...shown.filter((r) => runIdOf(r) < oldest)];
}

/** When the run started (the time it was queued until it did), for the "started" column. */
export function startedAt(r: Pick<RunSummary, "started_at" | "created_at">): string | null {
  return (r.started_at ?? r.created_at ?? null) as string | null;
}

/** How long the run took, or has taken so far (`now`) while it is active; "" before it started. */
export function runDuration(r: Pick<RunSummary, "status" | "started_at" | "finished_at">, now: number): string {
  if (!r.started_at) return "";
  const start = Date.parse(r.started_at);
  const end = r.finished_at ? Date.parse(r.finished_at) : isActive(r.status) ? now : null;
  if (end === null || Number.isNaN(start)) return "";
  const text = formatMs(Math.max(0, end - start));
  return r.finished_at ? text : `${text}…`;
}

/** A start time readable at a glance: the time of day for today, with the date for earlier days. */
export function formatStarted(iso: string | null, now: Date): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.toLocaleDateString([], { month: "short", day: "numeric", ...(d.getFullYear() !== now.getFullYear() ? { year: "numeric" } : {}) })}, ${time}`;
}

/** The version column: the deployed version of the run's digest, else a test run of a digest. */
export function versionLabel(r: Pick<RunSummary, "version" | "digest">): string {
  if (r.version) return `v${r.version}`;
  return r.digest ? `test #${String(r.digest).slice(0, 8)}` : "";
}

/** What new server runs of a workflow use: the deployed version and its trigger and inputs schema. */
export interface Deployed {
  version: number;
  digest: string | null;
  trigger: string | null;
  inputs?: unknown;
}

/** Why a run input text is not JSON, or null (an empty text is the empty object, as for a test run). */
export function jsonProblem(text: string): string | null {
  if (!text.trim()) return null;
  try {
    JSON.parse(text);
    return null;
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
}

/** The server's input problems (pointers under /input) as lines a person reads: "input.email: ...". */
export function inputProblemText(problems: { path?: string; message: string }[]): string[] {
  return problems.map((p) => {
    const where = (p.path ?? "").replace(/^\/input/, "input").split("/").filter(Boolean).join(".") || "input";
    return `${where}: ${p.message}`;
  });
}

/** What a workflow's inputs schema asks for, in one line ("email*, company, employees"; * = required). */
export function inputsHint(schema: unknown): string {
  const s = schema as { properties?: Record<string, unknown>; required?: unknown } | null | undefined;
  if (!s || typeof s !== "object" || !s.properties || typeof s.properties !== "object") return "";
  const req = new Set(Array.isArray(s.required) ? s.required.map(String) : []);
  return Object.keys(s.properties)
    .map((k) => (req.has(k) ? `${k}*` : k))
    .join(", ");
}

/** The editor hash with `?run=<id>` set to the run opened in the Runs tab (or taken away: null); other
 * query parameters are kept. `#/w/<name>` stays as it is. */
export function hashWithRun(hash: string, runId: string | null): string {
  const [path, query = ""] = hash.split("?", 2);
  const q = new URLSearchParams(query);
  if (runId) q.set("run", runId);
  else q.delete("run");
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
