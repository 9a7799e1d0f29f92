// Capability-level fixtures: the journal of a real server run becomes the mocks of a dry run.
import { RUN_MOCKS_KEY, type HostErrorDoc, type MockResponse, type Mocks } from "./types";

/** The part of GET /api/runs/<id>?journal=1 this needs. */
export interface RunDetailWithJournal {
  id?: string;
  journal?: {
    seq: number;
    capability: string;
    node: string | null;
    state: string; // intent | done | failed
    request?: unknown;
    result?: unknown;
  }[];
}

/** Not answered from mocks in a dry run: node events and logs are recorded, not replayed. */
const NOT_MOCKED = new Set(["node.event", "log.write"]);

/** Each journaled capability call of a node becomes one entry of that node's mock list (journal order,
 * tagged with its capability); calls outside a node go under RUN_MOCKS_KEY. An intent without a result (a
 * run still waiting, or cut short) gives no entry. */
export function mocksFromRun(run: RunDetailWithJournal): Mocks {
  if (!run || !Array.isArray(run.journal)) {
    throw new Error(`mocksFromRun: run ${run?.id ?? "?"} has no journal (fetch it with ?journal=1)`);
  }
  const lists: Record<string, MockResponse[]> = {};
  for (const rec of [...run.journal].sort((a, b) => a.seq - b.seq)) {
    if (NOT_MOCKED.has(rec.capability) || (rec.state !== "done" && rec.state !== "failed")) continue;
    const entry = toMock(rec.capability, rec.state, rec.result);
    (lists[rec.node ?? RUN_MOCKS_KEY] ??= []).push(entry);
  }
  return lists;
}

function toMock(capability: string, state: string, result: unknown): MockResponse {
  if (capability === "http.request") {
    // the server journals each request of a batch with {"ok": response} or {"err": error}
    const r = (result ?? {}) as { ok?: unknown; err?: HostErrorDoc };
    if (r.err !== undefined || state === "failed") {
      return { kind: "error", error: errorDoc(r.err ?? result), capability };
    }
    return { kind: "ok", value: r.ok, capability };
  }
  if (state === "failed") return { kind: "error", error: errorDoc(result), capability };
  return { kind: "ok", value: result, capability };
}

function errorDoc(value: unknown): HostErrorDoc {
  const v = (value ?? {}) as Partial<HostErrorDoc>;
  return { ...v, code: String(v.code ?? "error"), message: String(v.message ?? "") } as HostErrorDoc;
}
