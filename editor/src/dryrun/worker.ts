/// <reference lib="webworker" />
// The dry-run worker: fetches the jco bundle of a digest (same origin), instantiates the component with the
// mock host and runs it. An approval without a mock unwinds the guest; after the page's answer the guest is
// executed again from the start with the calls made so far replayed (compiled modules are kept).
// The page keeps an idle worker per digest between runs (pool.ts): a second "start" of the same digest reuses
// the loaded bundle and its compiled modules, so only instantiation is paid again.
import { MockHost, Unwind } from "./host";
import type { FromWorker, StartMessage, ToWorker } from "./protocol";
import type { ApprovalDecision, ApprovalRequest } from "./types";

declare const self: DedicatedWorkerGlobalScope;

type Instantiate = (
  getCoreModule: (name: string) => Promise<WebAssembly.Module>,
  imports: Record<string, unknown>,
) => Promise<{ run(...args: string[]): string }>;

type Meta = {
  bundle?: {
    entry?: string;
    core_modules?: Record<string, unknown>;
    kind?: string;
    runtime?: string;
    runtime_entry?: string;
  };
  manifest?: { capabilities?: string[] };
};

const post = (m: FromWorker) => self.postMessage(m);
const pendingApprovals = new Map<number, (d: ApprovalDecision) => void>();
let nextApproval = 1;

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  if (msg.type === "start") {
    run(msg).catch((e: unknown) => {
      post({ type: "done", status: "crashed", error: { code: "dry_run_crashed", message: errorText(e) } });
    });
  } else if (msg.type === "approval") {
    pendingApprovals.get(msg.id)?.(msg.decision);
    pendingApprovals.delete(msg.id);
  }
};

function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

async function fetchOk(url: string): Promise<Response> {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`GET ${url} answered HTTP ${resp.status}`);
  return resp;
}

type Runtime = { instantiate: Instantiate; getCoreModule: (name: string) => Promise<WebAssembly.Module> };
// Shared runtimes by key: fetched and compiled once per worker, whatever workflow runs on them next.
const runtimes = new Map<string, Promise<Runtime>>();

function loadRuntime(base: string, key: string, entry: string): Promise<Runtime> {
  let p = runtimes.get(key);
  if (!p) {
    const dir = `${base}/api/artifacts/runtime/${key}`;
    p = (async () => {
      const mod = (await import(/* @vite-ignore */ new URL(`${dir}/${entry}`, self.location.href).href)) as { instantiate: Instantiate };
      const compiled = new Map<string, Promise<WebAssembly.Module>>();
      const getCoreModule = (name: string) => {
        let m = compiled.get(name);
        if (!m) {
          m = WebAssembly.compileStreaming(fetchOk(`${dir}/${name}`));
          compiled.set(name, m);
        }
        return m;
      };
      return { instantiate: mod.instantiate, getCoreModule };
    })();
    runtimes.set(key, p);
    p.catch(() => runtimes.delete(key));
  }
  return p;
}

/** Bytes as a string of char codes 0-255 (latin-1): the runtime's `run` takes the bytecode that way. */
function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return out;
}

/** The bundle of `digest`: its instantiate function and a core module loader (modules compiled once). A
 * program artifact runs on the shared runtime (loaded once per worker) with its few-kB program. */
async function loadBundle(base: string, digest: string) {
  const meta = (await (await fetchOk(`${base}/api/artifacts/${digest}`)).json()) as Meta;
  if (meta.bundle?.kind === "program" && meta.bundle.runtime && meta.bundle.runtime_entry) {
    const [rt, program] = await Promise.all([
      loadRuntime(base, meta.bundle.runtime, meta.bundle.runtime_entry),
      fetchOk(`${base}/api/artifacts/${digest}/program`).then(async (r) => latin1(new Uint8Array(await r.arrayBuffer()))),
    ]);
    return { ...rt, program, runtime: meta.bundle.runtime, granted: new Set(meta.manifest?.capabilities ?? []) };
  }
  const entry = meta.bundle?.entry;
  if (!entry) throw new Error(`artifact ${digest} has no browser bundle (compile it with a bundle)`);
  const shared = new Set(Object.keys(meta.bundle?.core_modules ?? {}));
  const entryUrl = new URL(`${base}/api/artifacts/${digest}/bundle/${entry}`, self.location.href).href;
  const mod = (await import(/* @vite-ignore */ entryUrl)) as { instantiate: Instantiate };
  const compiled = new Map<string, Promise<WebAssembly.Module>>();
  const getCoreModule = (name: string) => {
    let p = compiled.get(name);
    if (!p) {
      // shared core modules by content hash (cached across workflows), else from the bundle folder
      const url = shared.has(name) ? `${base}/api/artifacts/core/${name}` : `${base}/api/artifacts/${digest}/bundle/${name}`;
      p = WebAssembly.compileStreaming(fetchOk(url));
      compiled.set(name, p);
    }
    return p;
  };
  return { instantiate: mod.instantiate, getCoreModule, program: null, runtime: null, granted: null };
}

/** The mock host's imports, with every capability outside the manifest failing naming it (deny by default:
 * the shared runtime imports all of them; a per-workflow component imports only its own). */
function linked(imports: Record<string, { call(request: string): string }>, granted: Set<string> | null) {
  if (!granted) return imports;
  const out: Record<string, { call(request: string): string }> = {};
  for (const [iface, impl] of Object.entries(imports)) {
    const capability = iface.replace("wasmflow:host/", "").replace("-", ".");
    out[iface] = granted.has(capability)
      ? impl
      : {
          call: () => {
            throw new Error(`the workflow called capability ${capability}, which its manifest does not grant`);
          },
        };
  }
  return out;
}

function askApproval(request: ApprovalRequest): Promise<ApprovalDecision> {
  const id = nextApproval++;
  return new Promise((resolve) => {
    pendingApprovals.set(id, resolve);
    post({ type: "approval", id, request });
  });
}

function hasPayload(e: unknown): e is { payload: string } {
  return typeof e === "object" && e !== null && Object.prototype.hasOwnProperty.call(e, "payload");
}

type Bundle = Awaited<ReturnType<typeof loadBundle>>;
let loadedBundle: { key: string; bundle: Promise<Bundle> } | null = null;

/** The bundle of the last digest run in this worker, loaded once (a failed load is not kept). */
function bundleFor(base: string, digest: string): Promise<Bundle> {
  const key = `${base}|${digest}`;
  if (loadedBundle?.key !== key) {
    const bundle = loadBundle(base, digest);
    loadedBundle = { key, bundle };
    bundle.catch(() => {
      if (loadedBundle?.bundle === bundle) loadedBundle = null;
    });
  }
  return loadedBundle.bundle;
}

async function run(msg: StartMessage): Promise<void> {
  const t0 = performance.now();
  const { instantiate, getCoreModule, program, runtime, granted } = await bundleFor(msg.baseUrl, msg.digest);
  const host = new MockHost(
    {
      mocks: msg.mocks,
      document: msg.document,
      stopAfter: msg.stopAfter,
      replay: msg.replay,
      canAskApproval: msg.canAskApproval,
    },
    { event: (event) => post({ type: "event", event }), call: (call) => post({ type: "call", call }) },
  );
  let loaded = false;
  for (;;) {
    host.beginExecution();
    const instance = await instantiate(getCoreModule, linked(host.imports(), granted));
    if (!loaded) {
      loaded = true;
      post({ type: "loaded", ms: Math.round(performance.now() - t0), runtime });
    }
    try {
      const input = JSON.stringify(msg.input ?? null);
      const out = JSON.parse(program === null ? instance.run(input) : instance.run(program, input)) as {
        output?: unknown;
        nodes?: Record<string, unknown>;
      };
      post({ type: "done", status: "succeeded", output: out.output, nodeOutputs: out.nodes });
      return;
    } catch (e) {
      if (e instanceof Unwind && e.reason === "stop") {
        post({ type: "done", status: "stopped" });
        return;
      }
      if (e instanceof Unwind && e.reason === "approval" && e.request) {
        host.waiting(e.request);
        const r = e.request;
        const decision = await askApproval({
          node: String(r.node ?? ""),
          title: String(r.title ?? ""),
          details: typeof r.details === "string" ? r.details : undefined,
          approvers: Array.isArray(r.approvers) ? (r.approvers as string[]) : undefined,
          timeout_seconds: typeof r.timeout_seconds === "number" ? r.timeout_seconds : undefined,
          timeout_action: typeof r.timeout_action === "string" ? r.timeout_action : undefined,
        });
        host.decisions.set(e.seq, decision);
        continue; // execute again: the calls so far replay, the approval gets the decision
      }
      if (hasPayload(e)) {
        let error: { code: string; message: string; node?: string | null };
        try {
          error = JSON.parse(e.payload);
        } catch {
          error = { code: "error", message: String(e.payload) };
        }
        post({ type: "done", status: "failed", error });
        return;
      }
      throw e;
    }
  }
}
