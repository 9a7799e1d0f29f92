// The right-hand inspector: the selected node's general fields and schema-driven config (Config tab), its
// dry-run or server-run input/output/error (Run tab) and its pinned mock (Mock tab). With no node selected
// it edits the workflow itself (title, description, settings, inputs schema). Below the editor role every
// field is read-only (a disabled fieldset; code fields through CodeReadOnly): the workflow can be read, not
// changed (the server would refuse the save anyway).
import { lazy, memo, Suspense, useMemo, useState } from "react";
import type { NodeDecoration } from "../dsl/flow";
import { enclosingMaps, idProblem, indexNodes, isTrigger, seesError, upstreamOf } from "../dsl/graph";
import { joinPointer, type PlacedProblems } from "../dsl/problems";
import type { DslDocument, DslNode, JsonObject } from "../dsl/types";
import type { Mock } from "../dryrun/types";
import { NODE_CAPABILITY } from "../dryrun/types";
import { resolve, typeLabel, type DslSchema } from "../lib/schema";
import { CodeReadOnly, type ScopeName } from "./CodeField";
import { needsText, useCan, useSession } from "../lib/session";
import { docsFile, docsSection, helpText } from "./nodeinfo";
import { formatMs } from "./format";
import { AgentForm } from "./AgentForm";
import { FieldErrors, ObjectFields, SchemaField, type FormCtx } from "./SchemaForm";
import type { Transcript } from "./transcript";
import { httpRequestOf, type Received } from "./received";
import { TranscriptView } from "./TranscriptView";

const mockEditors = import.meta.glob("../dryrun/MockEditor.tsx");
const MockEditor = mockEditors["../dryrun/MockEditor.tsx"]
  ? lazy(async () => {
      const m = (await mockEditors["../dryrun/MockEditor.tsx"]()) as { MockEditor: React.ComponentType<{ node: DslNode; value: Mock | undefined; onChange: (m: Mock | undefined) => void }> };
      return { default: m.MockEditor };
    })
  : null;

const ONE_OF: Record<string, [string, string]> = { transform: ["expression", "code"], wait: ["duration", "until"] };

export interface NodeRunInfo {
  status: string;
  input?: unknown;
  output?: unknown;
  error?: unknown;
  duration_ms?: number | null;
  attempts?: number;
  replayed?: { key?: string; status?: number }[];
  /** an agent node's conversation (transcript.ts) */
  transcript?: Transcript;
  /** what the node received: upstream outputs and its host calls' requests (received.ts) */
  received?: Received;
}

interface Props {
  doc: DslDocument;
  schema: DslSchema;
  selectedId: string | null;
  problems: PlacedProblems;
  change: (doc: DslDocument, coalesce?: string) => void;
  updateNode: (id: string, fn: (n: DslNode) => DslNode, coalesce?: string) => void;
  rename: (from: string, to: string) => void;
  runInfo: NodeRunInfo | undefined;
  deco: NodeDecoration | undefined;
  runSource: string | null;
  /** the run shown is of an older version of the draft (staleness.ts) */
  runStale?: boolean;
  mock: Mock | undefined;
  setMock: (id: string, m: Mock | undefined) => void;
  runUpTo: (id: string) => void;
  busy: boolean;
}

/** The inspector's forms, locked for a role that may not edit (with the reason above them). */
function Editable({ children }: { children: React.ReactNode }) {
  const session = useSession();
  const canDesign = useCan("design");
  return (
    <CodeReadOnly.Provider value={!canDesign}>
      {canDesign ? null : (
        <div className="wf-insp-readonly" data-testid="inspector-read-only">
          Read-only: editing {needsText(session, "design")}.
        </div>
      )}
      <fieldset className="wf-readonly-fieldset" disabled={!canDesign} data-testid="inspector-fields">
        {children}
      </fieldset>
    </CodeReadOnly.Provider>
  );
}

function Json({ value, testId }: { value: unknown; testId?: string }) {
  return (
    <pre className="wf-pre" data-testid={testId}>
      {value === undefined ? "—" : JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** A node's INPUT in the Run tab: where it came from (one line), the host calls it made as sent (an HTTP
 * request: method, URL, headers, body), and the upstream outputs it read. */
function ReceivedView({ info }: { info: NodeRunInfo }) {
  const r = info.received;
  if (!r || (r.from === null && !r.calls.length)) {
    return (
      <>
        <div className="wf-section-title">Input</div>
        <Json value={r ? r.raw : info.input} testId="run-input" />
      </>
    );
  }
  return (
    <>
      <div className="wf-section-title">Input</div>
      {r.from ? (
        <div className="wf-muted wf-received-from" data-testid="run-input-from">
          from: {r.from.length ? r.from.join(", ") : "(nothing upstream)"}
        </div>
      ) : null}
      {r.calls.map((c, i) => {
        const http = httpRequestOf(c);
        const { node: _n, ...request } = (c.request && typeof c.request === "object" ? c.request : { value: c.request }) as Record<string, unknown>;
        void _n;
        return (
          <div key={i} data-testid={`run-request-${i}`} data-capability={c.capability}>
            <div className="wf-section-title">
              {http ? "Request sent" : `${c.capability} call`}
              {c.index?.length ? <span className="wf-muted"> · item {c.index.join(".")}</span> : null}
            </div>
            {http ? (
              <>
                <div className="wf-request-line" data-testid="run-request-line">
                  <b>{http.method}</b>
                  {http.url}
                </div>
                {Object.keys(http.headers).length ? (
                  <>
                    <div className="wf-muted wf-received-from">headers</div>
                    <Json value={http.headers} testId="run-request-headers" />
                  </>
                ) : null}
                {http.query ? (
                  <>
                    <div className="wf-muted wf-received-from">query</div>
                    <Json value={http.query} testId="run-request-query" />
                  </>
                ) : null}
                {http.body !== undefined ? (
                  <>
                    <div className="wf-muted wf-received-from">body</div>
                    <Json value={http.body} testId="run-request-body" />
                  </>
                ) : null}
              </>
            ) : (
              <Json value={request} />
            )}
          </div>
        );
      })}
      {r.from && r.from.length ? (
        <>
          <div className="wf-section-title">Upstream outputs it read</div>
          <Json value={Object.keys(r.upstream).length ? r.upstream : undefined} testId="run-input" />
        </>
      ) : null}
      {r.rest ? <Json value={r.rest} testId="run-input-rest" /> : null}
    </>
  );
}

function scopeFor(doc: DslDocument, id: string): { scope: ScopeName[]; body: ScopeName[] } {
  const index = indexNodes(doc);
  const scope: ScopeName[] = [{ name: "input", detail: "the run input" }];
  const maps = enclosingMaps(doc, id);
  if (maps.length) {
    scope.push({ name: "item", detail: `current element of map ${maps[0]}` }, { name: "index", detail: "its position" });
  }
  if (seesError(doc, id)) scope.push({ name: "error", detail: "the run's error" });
  for (const u of upstreamOf(doc, id)) {
    const n = index.get(u)?.node;
    scope.push({ name: u, detail: n ? `${typeLabel(n.type).label} output` : "output" });
  }
  const node = index.get(id)?.node;
  const body: ScopeName[] = [...scope];
  if (node?.type === "map") {
    body.push({ name: "item", detail: "current element" }, { name: "index", detail: "its position" });
    for (const c of (node.config?.body as { nodes?: DslNode[] } | undefined)?.nodes ?? []) body.push({ name: c.id, detail: "body node output" });
  }
  return { scope, body };
}

function IdField({ doc, node, rename }: { doc: DslDocument; node: DslNode; rename: (a: string, b: string) => void }) {
  const [text, setText] = useState(node.id);
  const [last, setLast] = useState(node.id);
  if (last !== node.id) {
    setLast(node.id);
    setText(node.id);
  }
  const problem = text !== node.id ? idProblem(doc, text, node.id) : null;
  // Only a valid id is applied; an invalid one stays in the field with the reason under it (Escape reverts).
  const commit = () => {
    if (text !== node.id && !problem) rename(node.id, text);
  };
  return (
    <div className={`wf-row${problem ? " wf-row-invalid" : ""}`}>
      <label className="wf-label">id <span className="wf-hint">the name expressions use for its output</span></label>
      <input
        className={`wf-input wf-mono${problem ? " wf-invalid" : ""}`}
        data-testid="field-node-id"
        aria-invalid={!!problem}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === "Enter") commit();
          if (e.key === "Escape") setText(node.id);
        }}
      />
      {problem ? (
        <div className="wf-field-error" data-testid="field-error-node-id">
          {problem}; the node keeps the id <span className="wf-mono">{node.id}</span> (Escape restores it)
        </div>
      ) : null}
    </div>
  );
}

function sameNodesIgnoringPositions(a: DslNode[], b: DslNode[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x.id !== y.id || x.type !== y.type || x.config !== y.config || x.title !== y.title || x.on_error !== y.on_error || x.retry !== y.retry || x.notes !== y.notes)
      return false;
  }
  return true;
}

/** A drag changes only positions: the inspector (forms, CodeMirror) need not re-render for it. */
function sameInspectorProps(a: Props, b: Props): boolean {
  for (const k of Object.keys(a) as (keyof Props)[]) if (k !== "doc" && a[k] !== b[k]) return false;
  const d = a.doc;
  const e = b.doc;
  return d === e || (d.edges === e.edges && d.settings === e.settings && d.title === e.title && d.description === e.description && d.inputs === e.inputs && sameNodesIgnoringPositions(d.nodes, e.nodes));
}

export const Inspector = memo(function Inspector(p: Props) {
  const { doc, schema, selectedId, problems } = p;
  const [tab, setTab] = useState<"config" | "run" | "mock">("config");
  const loc = selectedId ? indexNodes(doc).get(selectedId) : undefined;
  const scopes = useMemo(() => (selectedId ? scopeFor(doc, selectedId) : { scope: [], body: [] }), [doc, selectedId]);
  const ctx: FormCtx = useMemo(
    () => ({ root: schema.root, problems, scope: scopes.scope, bodyScope: scopes.body, onEdit: () => {} }),
    [schema, problems, scopes],
  );

  if (!loc) return <WorkflowPanel {...p} />;
  const node = loc.node;
  const ptr = loc.pointer;
  const info = schema.byType.get(node.type);
  const t = typeLabel(node.type);
  const mockable = !!NODE_CAPABILITY[node.type];
  const key = (f: string) => `${node.id}:${f}`;
  const setField = (field: string, v: unknown) =>
    p.updateNode(node.id, (n) => {
      const next = { ...n } as Record<string, unknown>;
      if (v === undefined) delete next[field];
      else next[field] = v;
      return next as DslNode;
    }, key(field));
  const nodeProblems = problems.byNode.get(node.id) ?? [];
  const configSchema = info ? resolve(schema.root, info.config) : undefined;
  // transform takes exactly one of expression/code, wait one of duration/until: show the one in use.
  const pair = ONE_OF[node.type];
  const cfg = (node.config ?? {}) as Record<string, unknown>;
  const oneOf = pair
    ? cfg[pair[1]] !== undefined && cfg[pair[0]] === undefined
      ? { shown: pair[1], hidden: pair[0] }
      : cfg[pair[0]] !== undefined && cfg[pair[1]] === undefined
        ? { shown: pair[0], hidden: pair[1] }
        : null
    : null;
  // Problems no form field shows (graph problems such as unreachable, unknown config keys, the node itself).
  const shown = new Set(["id", "title", "notes", "on_error", "retry"]);
  const configKeys = new Set(Object.keys(configSchema?.properties ?? {}).filter((k) => !(node.type === "map" && k === "body")));
  const unplaced = nodeProblems.filter((x) => {
    if (!x.path.startsWith(ptr + "/")) return true;
    if (node.type === "agent" && x.path.startsWith(ptr + "/config")) return false; // the agent form shows them all
    const [head, key] = x.path.slice(ptr.length + 1).split("/");
    if (head === "config") return key === undefined ? false : !configKeys.has(key);
    return !shown.has(head);
  });

  return (
    <div className="wf-inspector" data-testid="inspector">
      <div className="wf-insp-head" style={{ ["--accent" as string]: t.color }}>
        <span className="wf-node-icon">{t.icon}</span>
        <div>
          <div className="wf-insp-title">{node.title || node.id}</div>
          <div className="wf-node-sub">{info?.summary ?? node.type}</div>
        </div>
      </div>
      {helpText(info, node.type) ? (
        <div className="wf-node-help" data-testid="node-help">
          {helpText(info, node.type)}
          <span className="wf-docs-ref wf-muted">
            Reference: {docsFile(node.type)}{docsSection(node.type) ? <>, section “{docsSection(node.type)}”</> : null}
          </span>
        </div>
      ) : null}
      <div className="wf-tabs">
        {(["config", "run", "mock"] as const).map((k) => (
          <button key={k} className={`wf-tab${tab === k ? " is-active" : ""}`} data-testid={`tab-${k}`} onClick={() => setTab(k)} disabled={k === "mock" && !mockable}>
            {k === "config" ? "Config" : k === "run" ? "Run" : "Mock"}
            {k === "config" && nodeProblems.length ? <span className="wf-count wf-count-error">{nodeProblems.length}</span> : null}
            {k === "run" && p.deco ? <span className={`wf-dot wf-status-${p.deco.status}`} /> : null}
            {k === "mock" && p.mock ? <span className="wf-dot wf-dot-on" /> : null}
          </button>
        ))}
      </div>
      <div className="wf-insp-body">
        {tab === "config" ? (
          <Editable>
            {unplaced.length ? (
              <div className="wf-alert wf-alert-error" data-testid="inspector-node-errors">
                {unplaced.map((x, i) => (
                  <div key={i}>{x.message}</div>
                ))}
              </div>
            ) : null}
            <IdField doc={doc} node={node} rename={p.rename} />
            <FieldErrors problems={problems.byPointer.get(ptr + "/id")} pointer={ptr + "/id"} />
            <div className="wf-row">
              <label className="wf-label">title</label>
              <input className="wf-input" data-testid={`field-${ptr}/title`} value={node.title ?? ""} placeholder={node.id} onChange={(e) => setField("title", e.target.value === "" ? (node.title === null ? null : undefined) : e.target.value)} />
              <FieldErrors problems={problems.byPointer.get(ptr + "/title")} pointer={ptr + "/title"} />
            </div>
            <div className="wf-scope" data-testid="scope-hints">
              <span className="wf-scope-label">In scope:</span>
              {scopes.scope.map((s) => (
                <code key={s.name} title={s.detail}>
                  {s.name}
                </code>
              ))}
            </div>
            {node.type === "agent" ? (
              <AgentForm
                key={node.id}
                nodeId={node.id}
                pointer={joinPointer(ptr, "config")}
                config={(node.config ?? {}) as Record<string, unknown>}
                problems={nodeProblems}
                scope={scopes.scope}
                onChange={(cfg, k) => p.updateNode(node.id, (n) => ({ ...n, config: cfg as JsonObject }), key(`config/${k}`))}
              />
            ) : configSchema ? (
              <div className="wf-section">
                <div className="wf-section-title">Configuration</div>
                <ObjectFields
                  schema={configSchema}
                  value={node.config ?? {}}
                  pointer={joinPointer(ptr, "config")}
                  ctx={{ ...ctx, onEdit: () => {} }}
                  skip={node.type === "map" ? ["body"] : oneOf ? [oneOf.hidden] : []}
                  nodeType={node.type}
                  onChange={(v) => setField("config", v as JsonObject)}
                />
                <FieldErrors problems={problems.byPointer.get(ptr + "/config")} pointer={ptr + "/config"} />
                {oneOf ? (
                  <button
                    className="wf-btn wf-btn-xs wf-btn-ghost"
                    data-testid="btn-switch-one-of"
                    onClick={() => {
                      const cfg = { ...(node.config ?? {}) } as Record<string, unknown>;
                      delete cfg[oneOf.shown];
                      cfg[oneOf.hidden] = "";
                      setField("config", cfg as JsonObject);
                    }}
                  >
                    Use {oneOf.hidden} instead of {oneOf.shown}
                  </button>
                ) : null}
              </div>
            ) : (
              <div className="wf-alert wf-alert-error">unknown node type {node.type}</div>
            )}
            {!isTrigger(node.type) ? (
              <div className="wf-section">
                <div className="wf-section-title">Errors</div>
                <SchemaField
                  name="on_error"
                  schema={{ enum: ["fail", "continue", "route"], default: "fail", description: "route adds an error port" }}
                  value={node.on_error}
                  pointer={`${ptr}/on_error`}
                  ctx={ctx}
                  onChange={(v) => setField("on_error", v)}
                />
                {info?.retry ? (
                  <>
                    <label className="wf-check">
                      <input type="checkbox" data-testid={`field-${ptr}/retry-enabled`} checked={!!node.retry} onChange={(e) => setField("retry", e.target.checked ? {} : node.retry === null ? null : undefined)} /> retry on failure
                    </label>
                    {node.retry ? (
                      <div className="wf-fieldset">
                        <ObjectFields schema={resolve(schema.root, schema.root.$defs["retry"])} value={node.retry} pointer={`${ptr}/retry`} ctx={ctx} onChange={(v) => setField("retry", v)} />
                      </div>
                    ) : null}
                  </>
                ) : null}
              </div>
            ) : null}
            <div className="wf-section">
              <div className="wf-section-title">Notes</div>
              <textarea className="wf-input" rows={2} data-testid={`field-${ptr}/notes`} value={node.notes ?? ""} placeholder="sticky note (not part of the digest)" onChange={(e) => setField("notes", e.target.value === "" ? undefined : e.target.value)} />
            </div>
            <div className="wf-section">
              <div className="wf-hint-block">Output: {info?.output}</div>
              {!isTrigger(node.type) ? (
                <button className="wf-btn" data-testid="btn-run-up-to-here" disabled={p.busy} onClick={() => p.runUpTo(node.id)}>
                  ▶ Run up to here
                </button>
              ) : null}
            </div>
          </Editable>
        ) : null}
        {tab === "run" ? (
          <div data-testid="run-tab">
            {p.runInfo ? (
              <>
                {p.runStale ? (
                  <div className="wf-stale-note" data-testid="run-stale">
                    From an older version: run again.
                    {!isTrigger(node.type) ? (
                      <button className="wf-btn wf-btn-xs" data-testid="btn-run-stale-again" disabled={p.busy} onClick={() => p.runUpTo(node.id)}>
                        ▶ Run up to here
                      </button>
                    ) : null}
                  </div>
                ) : null}
                <div className="wf-run-head">
                  <span className={`wf-badge wf-status-${p.runInfo.status}`}>{p.runInfo.status}</span>
                  {p.runInfo.duration_ms !== undefined && p.runInfo.duration_ms !== null ? <span>{formatMs(p.runInfo.duration_ms)}</span> : null}
                  {p.runInfo.attempts && p.runInfo.attempts > 1 ? <span>{p.runInfo.attempts} attempts</span> : null}
                  <span className="wf-muted">{p.runSource}</span>
                </div>
                {p.runInfo.transcript ? <TranscriptView transcript={p.runInfo.transcript} /> : null}
                {p.runInfo.error !== undefined && p.runInfo.error !== null ? (
                  <>
                    <div className="wf-section-title wf-text-error">Error</div>
                    <Json value={p.runInfo.error} testId="run-error" />
                  </>
                ) : null}
                <ReceivedView info={p.runInfo} />
                <div className="wf-section-title">Output</div>
                <Json value={p.runInfo.output} testId="run-output" />
              </>
            ) : (
              <div className="wf-empty">No run data for this node yet. Use “Test run” or open a run.</div>
            )}
          </div>
        ) : null}
        {tab === "mock" ? (
          <div data-testid="mock-tab">
            <Editable>
            {node.type === "agent" ? (
              <p className="wf-muted">What the model answers in a dry run, turn by turn, and what its tools answer. Nothing is sent to the model or the tools.</p>
            ) : (
              <p className="wf-muted">Pinned answer for this node in a dry run. Without one the node fails with “no mock for node {node.id}”.</p>
            )}
            {MockEditor ? (
              <Suspense fallback={<div className="wf-muted">loading…</div>}>
                <MockEditor key={node.id} node={node} value={p.mock} onChange={(m) => p.setMock(node.id, m)} />
              </Suspense>
            ) : (
              <JsonMock key={node.id} type={node.type} value={p.mock} onChange={(m) => p.setMock(node.id, m)} />
            )}
            </Editable>
          </div>
        ) : null}
      </div>
    </div>
  );
}, sameInspectorProps);

const MOCK_EXAMPLES: Record<string, unknown> = {
  "http.request": { kind: "ok", value: { status: 200, headers: { "content-type": "application/json" }, body: {} } },
  "kv.get": { kind: "ok", value: { found: true, value: 0 } },
  "kv.set": { kind: "ok", value: { key: "key", value: null } },
  approval: { kind: "ok", value: { approved: true, by: "me", reason: "" } },
  subflow: { kind: "ok", value: null },
  wait: { kind: "ok", value: {} },
  respond: { kind: "ok", value: {} },
};

function JsonMock({ type, value, onChange }: { type: string; value: Mock | undefined; onChange: (m: Mock | undefined) => void }) {
  const [text, setText] = useState(value ? JSON.stringify(value, null, 2) : "");
  const [err, setErr] = useState<string | null>(null);
  const example = MOCK_EXAMPLES[type];
  return (
    <>
      <div className="wf-mock-actions">
        {example ? (
          <button className="wf-btn wf-btn-xs" data-testid="btn-mock-example" onClick={() => {
            const t = JSON.stringify(example, null, 2);
            setText(t);
            setErr(null);
            onChange(example as Mock);
          }}>
            Insert an example
          </button>
        ) : null}
        <button className="wf-btn wf-btn-xs" data-testid="btn-mock-error" onClick={() => {
          const m = { kind: "error", error: { code: "network", message: "connection refused", retriable: true } };
          setText(JSON.stringify(m, null, 2));
          setErr(null);
          onChange(m as Mock);
        }}>
          Pin an error
        </button>
        {value ? (
          <button className="wf-btn wf-btn-xs wf-btn-ghost" data-testid="btn-mock-clear" onClick={() => {
            setText("");
            onChange(undefined);
          }}>
            Clear
          </button>
        ) : null}
      </div>
      <textarea className="wf-input wf-json" rows={10} data-testid="mock-json" value={text} placeholder='{"kind": "ok", "value": {"status": 200, "body": {}}}' onChange={(e) => {
        setText(e.target.value);
        if (!e.target.value.trim()) {
          setErr(null);
          onChange(undefined);
          return;
        }
        try {
          onChange(JSON.parse(e.target.value));
          setErr(null);
        } catch (x) {
          setErr((x as Error).message);
        }
      }} />
      {err ? <div className="wf-local-error">{err}</div> : null}
    </>
  );
}

function WorkflowPanel(p: Props) {
  const { doc, schema, problems } = p;
  const ctx: FormCtx = { root: schema.root, problems, scope: [], bodyScope: [], onEdit: () => {} };
  const setTop = (k: string, v: unknown) => {
    const next = { ...doc } as Record<string, unknown>;
    if (v === undefined) delete next[k];
    else next[k] = v;
    p.change(next as DslDocument, `doc:${k}`);
  };
  const settingsSchema = resolve(schema.root, schema.root.$defs["settings"]);
  const handlerCandidates = doc.nodes.filter((n) => !isTrigger(n.type));
  return (
    <div className="wf-inspector" data-testid="inspector">
      <div className="wf-insp-head">
        <div>
          <div className="wf-insp-title">Workflow</div>
          <div className="wf-node-sub wf-mono">{doc.name}</div>
        </div>
      </div>
      <div className="wf-insp-body">
        <Editable>
        {problems.general.length ? (
          <div className="wf-alert wf-alert-error" data-testid="workflow-errors">
            {problems.general.map((x, i) => (
              <div key={i}>
                <code>{x.path || "/"}</code> {x.message}
              </div>
            ))}
          </div>
        ) : null}
        <div className="wf-row">
          <label className="wf-label">title</label>
          <input className="wf-input" data-testid="field-/title" value={doc.title ?? ""} placeholder={doc.name} onChange={(e) => setTop("title", e.target.value || undefined)} />
          <FieldErrors problems={problems.byPointer.get("/title")} pointer="/title" />
        </div>
        <div className="wf-row">
          <label className="wf-label">description</label>
          <textarea className="wf-input" rows={3} data-testid="field-/description" value={doc.description ?? ""} onChange={(e) => setTop("description", e.target.value || undefined)} />
        </div>
        <div className="wf-section">
          <div className="wf-section-title">Settings</div>
          <ObjectFields schema={settingsSchema} value={doc.settings ?? {}} pointer="/settings" ctx={ctx} skip={["error_handler"]} onChange={(v) => setTop("settings", v)} />
          <div className="wf-row">
            <label className="wf-label">error_handler <span className="wf-hint">runs when the run fails; needs no incoming edges</span></label>
            <select className="wf-input" data-testid="field-/settings/error_handler" value={doc.settings?.error_handler ?? ""} onChange={(e) => setTop("settings", { ...(doc.settings ?? {}), error_handler: e.target.value || null })}>
              <option value="">(none)</option>
              {handlerCandidates.map((n) => (
                <option key={n.id} value={n.id}>
                  {n.id}
                </option>
              ))}
            </select>
            <FieldErrors problems={problems.byPointer.get("/settings/error_handler")} pointer="/settings/error_handler" />
          </div>
        </div>
        <div className="wf-section">
          <SchemaField name="inputs" schema={{ type: ["object", "null"], description: "JSON Schema of the run input; empty accepts anything" }} value={doc.inputs ?? undefined} pointer="/inputs" ctx={ctx} onChange={(v) => setTop("inputs", v === undefined ? (doc.inputs === undefined ? undefined : null) : v)} />
        </div>
        <p className="wf-muted">Select a node to edit it. Drag nodes from the palette; connect an output (right) to an input (left).</p>
        </Editable>
      </div>
    </div>
  );
}
