// The bottom panel: test-run input and results, server runs (live over the WebSocket, with a timeline and
// approvals), problems, and the last deploy.
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { DryRunResult, Mocks } from "../dryrun/types";
import type { NodeDecoration, NodeStatus } from "../dsl/flow";
import type { PlacedProblems } from "../dsl/problems";
import { api, runIdOf, type DeployAnswer, type ReplayVersion, type RunDetail, type RunSummary } from "../lib/api";
import { RunInput } from "./RunInput";
import type { NodeRunInfo } from "./Inspector";
import { formatMs } from "./nodes";
import { canReplay, defaultReplayNode, lineageOf, replayableNodes, replayMark } from "./replay";

export type BottomTab = "results" | "runs" | "problems" | "deploy";

type RunView = { source: "dry" | "server"; label: string; nodes: Map<string, NodeRunInfo>; decorations: Map<string, NodeDecoration> };

interface Props {
  tab: BottomTab | null;
  setTab: (t: BottomTab | null) => void;
  name: string;
  problems: PlacedProblems;
  onSelectNode: (id: string) => void;
  /** The node selected on the canvas (one), the default of "Replay from here". */
  selectedId: string | null;
  input: string;
  setInput: (s: string) => void;
  /** the trigger is a webhook: the input is a request, edited as its body (RunInput.tsx) */
  webhook?: boolean;
  dryResult: DryRunResult | null;
  run: RunView | null;
  deployInfo: DeployAnswer | null;
  showServerRun: (v: RunView | null) => void;
  setMocks: (m: Mocks) => void;
  toast: (s: string, kind?: "info" | "error") => void;
}

/** Server node states -> canvas states. */
export function serverStatus(s: string): NodeStatus {
  switch (s) {
    case "started":
    case "running":
      return "running";
    case "finished":
    case "succeeded":
      return "succeeded";
    case "failed":
      return "failed";
    case "waiting":
      return "waiting";
    case "skipped":
      return "skipped";
    default:
      return "pending";
  }
}

type ServerNode = { node: string; status: string; started_at?: string | null; finished_at?: string | null; input?: unknown; output?: unknown; error?: unknown; duration_ms?: number | null; attempts?: number; replayed?: { key?: string; status?: number }[] };

/** The run's nodes as canvas state; nodes with a pending approval show as waiting (the server's node view
 * says "started" for them until the decision). */
export function serverRunView(detail: RunDetail, waitingOn: string[] = []): RunView {
  const list = (Array.isArray(detail.nodes) ? detail.nodes : Object.entries(detail.nodes ?? {}).map(([node, n]) => ({ node, ...n }))) as ServerNode[];
  const nodes = new Map<string, NodeRunInfo>();
  const decorations = new Map<string, NodeDecoration>();
  for (const n of list) {
    let status = serverStatus(n.status);
    if (status === "running" && waitingOn.includes(n.node)) status = "waiting";
    nodes.set(n.node, { status, input: n.input, output: n.output, error: n.error, duration_ms: n.duration_ms, attempts: n.attempts, replayed: n.replayed });
    const err = n.error as { message?: string } | undefined;
    decorations.set(n.node, { status, duration_ms: n.duration_ms, error: err?.message ?? null, output: status === "succeeded" && n.output !== undefined ? previewOf(n.output) : undefined, replayed: n.replayed });
  }
  return { source: "server", label: `Run ${runIdOf(detail).slice(0, 10)} · ${detail.status}`, nodes, decorations };
}

function previewOf(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + "…" : s;
}

function Timeline({ items }: { items: { node: string; start: number; end: number | null; status: NodeStatus }[] }) {
  if (!items.length) return null;
  const t0 = Math.min(...items.map((i) => i.start));
  const t1 = Math.max(...items.map((i) => i.end ?? Date.now()));
  const span = Math.max(1, t1 - t0);
  return (
    <div className="wf-timeline" data-testid="timeline">
      {items.map((i) => (
        <div className="wf-tl-row" key={i.node}>
          <span className="wf-tl-label wf-mono">{i.node}</span>
          <div className="wf-tl-track">
            <div
              className={`wf-tl-bar wf-status-${i.status}`}
              style={{ left: `${((i.start - t0) / span) * 100}%`, width: `${Math.max(0.8, (((i.end ?? t1) - i.start) / span) * 100)}%` }}
              title={`${i.node}: ${i.status}${i.end ? ` · ${formatMs(i.end - i.start)}` : ""}`}
            />
          </div>
          <span className="wf-tl-dur">{i.end ? formatMs(i.end - i.start) : "…"}</span>
        </div>
      ))}
    </div>
  );
}

export const BottomPanel = memo(function BottomPanel(p: Props) {
  const tabs: { k: BottomTab; label: string; count?: number; error?: boolean }[] = [
    { k: "results", label: "Test run" },
    { k: "runs", label: "Runs" },
    { k: "problems", label: "Problems", count: p.problems.all.length, error: p.problems.all.length > 0 },
    { k: "deploy", label: "Deploy" },
  ];
  return (
    <section className={`wf-bottom${p.tab ? " is-open" : ""}`} data-testid="bottom-panel">
      <div className="wf-bottom-tabs">
        {tabs.map((t) => (
          <button key={t.k} className={`wf-tab${p.tab === t.k ? " is-active" : ""}`} data-testid={`bottom-tab-${t.k}`} onClick={() => p.setTab(p.tab === t.k ? null : t.k)}>
            {t.label}
            {t.count ? <span className={`wf-count${t.error ? " wf-count-error" : ""}`} data-testid={t.k === "problems" ? "problem-count" : undefined}>{t.count}</span> : null}
          </button>
        ))}
        <div className="wf-grow" />
        {p.tab ? (
          <button className="wf-btn wf-btn-ghost wf-btn-xs" onClick={() => p.setTab(null)} title="collapse">
            ▾
          </button>
        ) : null}
      </div>
      {p.tab === "results" ? <Results {...p} /> : null}
      {p.tab === "runs" ? <Runs {...p} /> : null}
      {p.tab === "problems" ? <Problems {...p} /> : null}
      {p.tab === "deploy" ? <Deploy {...p} /> : null}
    </section>
  );
});

function Results({ input, setInput, webhook, dryResult, run, onSelectNode }: Props) {
  const dry = run?.source === "dry" ? run : null;
  const items = useMemo(() => {
    if (!dryResult) return [];
    const starts = new Map<string, number>();
    const ends = new Map<string, { at: number; status: NodeStatus }>();
    for (const e of dryResult.events) {
      if (e.status === "started" && !starts.has(e.node)) starts.set(e.node, e.at_ms);
      else if (e.status !== "started") ends.set(e.node, { at: e.at_ms, status: e.status === "waiting" ? "waiting" : (e.status as NodeStatus) });
    }
    return [...starts].map(([node, start]) => ({ node, start, end: ends.get(node)?.at ?? null, status: ends.get(node)?.status ?? ("running" as NodeStatus) }));
  }, [dryResult]);
  return (
    <div className="wf-bottom-body wf-results">
      <div className="wf-results-input">
        <RunInput input={input} setInput={setInput} webhook={!!webhook} />
        <p className="wf-muted">Runs the compiled component in this tab with your mocks. Nothing leaves the browser.</p>
      </div>
      <div className="wf-results-out">
        {dryResult ? (
          <div className={`wf-result-head wf-status-${dryResult.status}`} data-testid="dry-result" data-status={dryResult.status}>
            <b>{dryResult.status}</b> in {formatMs(dryResult.duration_ms)} · digest <span className="wf-mono">{dryResult.digest.slice(0, 12)}</span>
            {dryResult.error ? <span className="wf-text-error" data-testid="dry-error"> · {dryResult.error.node ? `${dryResult.error.node}: ` : ""}{dryResult.error.message}</span> : null}
          </div>
        ) : dry ? (
          <div className="wf-result-head">running…</div>
        ) : (
          <div className="wf-empty">Press “Test run” to execute the draft here, against the mocks.</div>
        )}
        {dry ? (
          <table className="wf-table" data-testid="results-table">
            <thead>
              <tr>
                <th>node</th>
                <th>status</th>
                <th>time</th>
                <th>output / error</th>
              </tr>
            </thead>
            <tbody>
              {[...dry.nodes].map(([id, n]) => (
                <tr key={id} onClick={() => onSelectNode(id)} data-testid={`result-row-${id}`}>
                  <td className="wf-mono">{id}</td>
                  <td><span className={`wf-badge wf-status-${n.status}`}>{n.status}</span></td>
                  <td>{formatMs(n.duration_ms)}</td>
                  <td className="wf-mono wf-ellipsis">{n.error ? previewOf(n.error) : n.output !== undefined ? previewOf(n.output) : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
        {dryResult?.status === "succeeded" ? (
          <>
            <div className="wf-section-title">Run output</div>
            <pre className="wf-pre" data-testid="dry-output">{JSON.stringify(dryResult.output, null, 2)}</pre>
          </>
        ) : null}
        <Timeline items={items} />
        {dryResult?.logs.length ? (
          <>
            <div className="wf-section-title">Logs</div>
            <pre className="wf-pre">{dryResult.logs.map((l) => `${l.level} ${l.node ?? ""} ${l.message}`).join("\n")}</pre>
          </>
        ) : null}
        {dryResult?.kvWrites.length ? (
          <>
            <div className="wf-section-title">KV writes (recorded, not performed)</div>
            <pre className="wf-pre">{dryResult.kvWrites.map((w) => `${w.namespace}/${w.key} = ${JSON.stringify(w.value)}`).join("\n")}</pre>
          </>
        ) : null}
      </div>
    </div>
  );
}

function Problems({ problems, onSelectNode }: Props) {
  if (!problems.all.length) return <div className="wf-bottom-body wf-empty" data-testid="problems-empty">No problems: the draft is valid.</div>;
  return (
    <div className="wf-bottom-body">
      <table className="wf-table" data-testid="problems-table">
        <tbody>
          {problems.all.map((x, i) => (
            <tr key={i} onClick={() => x.node && onSelectNode(x.node)} className="wf-clickable">
              <td className="wf-mono">{x.node ?? "workflow"}</td>
              <td className="wf-mono wf-muted">{x.path || "/"}</td>
              <td>{x.message}</td>
              <td className="wf-muted">{x.code}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Deploy({ deployInfo }: Props) {
  if (!deployInfo) return <div className="wf-bottom-body wf-empty">Not deployed from this editor session yet. “Deploy” ships the digest you test-ran.</div>;
  return (
    <div className="wf-bottom-body" data-testid="deploy-info">
      <dl className="wf-dl">
        <dt>version</dt>
        <dd data-testid="deploy-version">{deployInfo.version}</dd>
        <dt>digest</dt>
        <dd className="wf-mono">{deployInfo.digest}</dd>
        {deployInfo.webhook_url ? (
          <>
            <dt>webhook</dt>
            <dd className="wf-mono" data-testid="deploy-webhook-url">
              {deployInfo.webhook_url}
            </dd>
          </>
        ) : null}
        {deployInfo.schedule ? (
          <>
            <dt>schedule</dt>
            <dd className="wf-mono" data-testid="deploy-schedule">
              {deployInfo.schedule.cron} ({deployInfo.schedule.timezone})
            </dd>
          </>
        ) : null}
      </dl>
    </div>
  );
}

function Runs({ name, showServerRun, setMocks, toast, onSelectNode, selectedId }: Props) {
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [open, setOpen] = useState<string | null>(null);
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [approvals, setApprovals] = useState<{ id: string; node: string; title: string; details?: string; status: string }[]>([]);
  const [live, setLive] = useState(false);
  const [replayNode, setReplayNode] = useState<string | null>(null);
  const [replayVersion, setReplayVersion] = useState<ReplayVersion>("original");
  const [replaying, setReplaying] = useState(false);
  const openRef = useRef(open);
  openRef.current = open;

  const refreshList = useCallback(async () => {
    try {
      setRuns((await api.runs(name)).runs);
    } catch (e) {
      toast(`Runs: ${(e as Error).message}`, "error");
    }
  }, [name, toast]);
  const refreshDetail = useCallback(async () => {
    const id = openRef.current;
    if (!id) return;
    try {
      const d = await api.run(id);
      if (openRef.current !== id) return;
      const pending = d.status === "waiting" ? (await api.approvals(id)).approvals.filter((a) => a.status === "pending") : [];
      if (openRef.current !== id) return;
      setDetail(d);
      setApprovals(pending);
      showServerRun(serverRunView(d, pending.map((a) => a.node)));
    } catch (e) {
      toast(`Run ${id}: ${(e as Error).message}`, "error");
    }
  }, [showServerRun, toast]);

  useEffect(() => {
    void refreshList();
    let closed = false;
    let ws: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let cursor = 0;
    const bump = (runId: string | undefined) => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        void refreshList();
        if (runId === undefined || runId === openRef.current) void refreshDetail();
      }, 150);
      void runId;
    };
    const connect = () => {
      const proto = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(`${proto}://${location.host}/api/ws?workflow=${encodeURIComponent(name)}&after=${cursor}`);
      let isLive = false;
      ws.onmessage = (m) => {
        const msg = JSON.parse(String(m.data)) as { type: string; cursor?: number; run_id?: string };
        if (typeof msg.cursor === "number") cursor = msg.cursor;
        if (msg.type === "stream.live") {
          isLive = true;
          setLive(true);
          bump(undefined);
        } else if (isLive && msg.run_id) bump(msg.run_id);
      };
      ws.onclose = () => {
        setLive(false);
        if (!closed) retry = setTimeout(connect, 1500);
      };
    };
    connect();
    return () => {
      closed = true;
      if (timer) clearTimeout(timer);
      if (retry) clearTimeout(retry);
      ws?.close();
    };
  }, [name, refreshList, refreshDetail]);

  useEffect(() => {
    if (open) void refreshDetail();
    else setDetail(null);
  }, [open, refreshDetail]);

  const replayNodes = useMemo(() => (detail ? replayableNodes(detail) : []), [detail]);
  const pickedNode = defaultReplayNode(replayNodes, null, replayNode);
  useEffect(() => {
    // a node selected on the canvas becomes the replay start when the open run reached it
    if (selectedId && replayNodes.includes(selectedId)) setReplayNode(selectedId);
  }, [selectedId, replayNodes]);
  const lineage = detail ? lineageOf(detail) : null;

  const startReplay = async () => {
    if (!detail || !pickedNode) return;
    setReplaying(true);
    try {
      const started = await api.replay(runIdOf(detail), pickedNode, replayVersion);
      toast(`Replay ${started.run_id.slice(0, 10)} started from ${pickedNode}`);
      // show it at once; the WebSocket refresh then brings its live status
      setRuns((rs) => (rs.some((r) => runIdOf(r) === started.run_id) ? rs : [{ id: started.run_id, workflow: name, status: started.status, digest: started.digest, version: started.version, replay_of: started.replay_of, created_at: new Date().toISOString() }, ...rs]));
      setOpen(started.run_id);
      void refreshList();
    } catch (e) {
      toast((e as Error).message, "error");
    } finally {
      setReplaying(false);
    }
  };

  const timeline = useMemo(() => {
    const list = (Array.isArray(detail?.nodes) ? detail!.nodes : []) as unknown as ServerNode[];
    return list
      .filter((n) => n.started_at)
      .map((n) => ({ node: n.node, start: Date.parse(n.started_at!), end: n.finished_at ? Date.parse(n.finished_at) : null, status: serverStatus(n.status) }));
  }, [detail]);

  return (
    <div className="wf-bottom-body wf-runs">
      <div className="wf-runs-list">
        <div className="wf-section-title">
          Runs <span className={`wf-live${live ? " is-live" : ""}`} data-testid="runs-live" title="live over WebSocket">{live ? "● live" : "○ connecting"}</span>
        </div>
        {runs.length ? null : <div className="wf-empty">No runs yet.</div>}
        {runs.map((r) => {
          const id = runIdOf(r);
          const mark = replayMark(r);
          return (
            <div key={id} className={`wf-run-row${open === id ? " is-active" : ""}`} data-testid={`run-row-${id}`} data-status={r.status} onClick={() => setOpen(open === id ? null : id)}>
              <span className={`wf-badge wf-status-${serverStatus(r.status === "succeeded" ? "finished" : r.status)}`}>{r.status}</span>
              <span className="wf-mono">{id.slice(0, 10)}</span>
              {mark ? <span className="wf-replay-mark" title={mark.title} data-testid={`run-replay-mark-${id}`}>{mark.text}</span> : null}
              <span className="wf-muted">{r.version ? `v${r.version}` : r.digest ? `#${String(r.digest).slice(0, 8)}` : ""}</span>
              <span className="wf-muted">{r.created_at ? new Date(String(r.created_at)).toLocaleTimeString() : ""}</span>
            </div>
          );
        })}
      </div>
      <div className="wf-run-detail">
        {detail ? (
          <>
            <div className="wf-run-head">
              <span className={`wf-badge wf-status-${serverStatus(detail.status === "succeeded" ? "finished" : detail.status)}`} data-testid="run-detail-status">
                {detail.status}
              </span>
              <span className="wf-mono">{runIdOf(detail)}</span>
              <div className="wf-grow" />
              <button
                className="wf-btn wf-btn-xs"
                data-testid="btn-use-as-mocks"
                onClick={async () => {
                  const full = await api.run(runIdOf(detail), true);
                  const { mocksFromRun } = await import("../dryrun");
                  setMocks(mocksFromRun(full as never));
                }}
              >
                Use as mocks
              </button>
            </div>
            {lineage && (lineage.parent || lineage.children.length) ? (
              <div className="wf-lineage" data-testid="run-lineage">
                {lineage.parent ? (
                  <div>
                    replay of{" "}
                    <a href="#" className="wf-mono" data-testid={`lineage-link-${lineage.parent.run_id}`} onClick={(e) => { e.preventDefault(); setOpen(lineage.parent!.run_id); }}>
                      {lineage.parent.run_id.slice(0, 10)}
                    </a>{" "}
                    from <span className="wf-mono">{lineage.parent.from_node}</span>
                  </div>
                ) : null}
                {lineage.children.length ? (
                  <div>
                    replays:{" "}
                    {lineage.children.map((c, i) => (
                      <span key={c.run_id}>
                        {i ? ", " : ""}
                        <a href="#" className="wf-mono" data-testid={`lineage-link-${c.run_id}`} title={c.created_at ?? ""} onClick={(e) => { e.preventDefault(); setOpen(c.run_id); }}>
                          {c.run_id.slice(0, 10)}
                        </a>{" "}
                        <span className="wf-muted">from {c.from_node}</span>
                      </span>
                    ))}
                  </div>
                ) : null}
              </div>
            ) : null}
            {canReplay(detail.status) && replayNodes.length ? (
              <div className="wf-replay-row">
                <span className="wf-muted">Replay from</span>
                <select className="wf-input wf-input-xs" data-testid="replay-node" value={pickedNode} onChange={(e) => setReplayNode(e.target.value)}>
                  {replayNodes.map((n) => (
                    <option key={n} value={n}>
                      {n}
                    </option>
                  ))}
                </select>
                <select className="wf-input wf-input-xs" data-testid="replay-version" value={replayVersion} onChange={(e) => setReplayVersion(e.target.value as ReplayVersion)} title="original: this run's digest; current: the deployed version">
                  <option value="original">original</option>
                  <option value="current">current deployed</option>
                </select>
                <button className="wf-btn wf-btn-xs" data-testid="btn-replay" disabled={replaying} onClick={() => void startReplay()} title="a new run reuses the calls before this node and runs live from it">
                  Replay from here
                </button>
              </div>
            ) : null}
            {approvals.map((a) => (
              <ServerApproval key={a.id} a={a} onDone={() => void refreshDetail()} toast={toast} />
            ))}
            <Timeline items={timeline} />
            {detail.error ? <pre className="wf-pre wf-text-error">{JSON.stringify(detail.error, null, 2)}</pre> : null}
            {detail.output !== undefined && detail.output !== null ? (
              <>
                <div className="wf-section-title">Output</div>
                <pre className="wf-pre" data-testid="run-detail-output">{JSON.stringify(detail.output, null, 2)}</pre>
              </>
            ) : null}
            {detail.logs?.length ? (
              <>
                <div className="wf-section-title">Logs</div>
                <pre className="wf-pre">{detail.logs.map((l) => `${l.at ?? ""} ${l.level ?? ""} ${l.node ?? ""} ${l.message}`).join("\n")}</pre>
              </>
            ) : null}
            <p className="wf-muted">Node states are shown on the canvas; click a node for its input and output.</p>
            <div className="wf-chips">
              {timeline.map((t) => (
                <button key={t.node} className="wf-btn wf-btn-xs wf-btn-ghost" onClick={() => onSelectNode(t.node)}>
                  {t.node}
                </button>
              ))}
            </div>
          </>
        ) : (
          <div className="wf-empty">Open a run to see its nodes on the canvas.</div>
        )}
      </div>
    </div>
  );
}

function ServerApproval({ a, onDone, toast }: { a: { id: string; node: string; title: string; details?: string }; onDone: () => void; toast: (s: string, k?: "info" | "error") => void }) {
  const [reason, setReason] = useState("");
  const [by, setBy] = useState(() => localStorage.getItem("wasmflow.user") ?? "editor");
  const decide = async (approve: boolean) => {
    try {
      localStorage.setItem("wasmflow.user", by);
      await api.decide(a.id, approve, by, reason);
      toast(approve ? "Approved" : "Rejected");
      onDone();
    } catch (e) {
      toast((e as Error).message, "error");
    }
  };
  return (
    <div className="wf-approval" data-testid={`run-approval-${a.id}`}>
      <div>
        <b>{a.title}</b> <span className="wf-muted">({a.node})</span>
      </div>
      {a.details ? <div className="wf-muted">{a.details}</div> : null}
      <div className="wf-approval-row">
        <input className="wf-input" value={by} onChange={(e) => setBy(e.target.value)} placeholder="your name" data-testid="run-approval-by" />
        <input className="wf-input" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="reason" data-testid="run-approval-reason" />
        <button className="wf-btn wf-btn-danger" data-testid="btn-run-approval-reject" onClick={() => void decide(false)}>
          Reject
        </button>
        <button className="wf-btn wf-btn-primary" data-testid="btn-run-approval-approve" onClick={() => void decide(true)}>
          Approve
        </button>
      </div>
    </div>
  );
}
