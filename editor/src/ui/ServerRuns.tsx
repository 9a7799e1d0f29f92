// The Runs tab: this workflow's server runs, live over the WebSocket; the open run painted on the canvas
// with its timeline, logs, approvals, replay and lineage; and, for a deployed manual workflow, a form that
// starts a server run. A run started here or by a replay is followed the same way (`follow`).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Mocks } from "../dryrun/types";
import { api, ApiError, runIdOf, shortRunId, type ReplayVersion, type RunDetail, type RunSummary } from "../lib/api";
import { canReplay, defaultReplayNode, lineageOf, replayableNodes, replayMark } from "./replay";
import { inputProblemText, inputsHint, jsonProblem, type Deployed } from "./runs";
import { keepCursor, startCursor, streamPath, type SocketLike } from "./livecursor";
import { hashWithRun } from "./runs";
import { formatUsd } from "./transcript";
import { needsText, useSession } from "../lib/session";
import { serverRunView, serverStatus, Timeline, type RunEvent, type RunView, type ServerNode } from "./runview";

export interface ServerRunsProps {
  name: string;
  showServerRun: (v: RunView | null) => void;
  setMocks: (m: Mocks) => void;
  toast: (s: string, kind?: "info" | "error") => void;
  onSelectNode: (id: string) => void;
  /** The node selected on the canvas (one), the default of "Replay from here". */
  selectedId: string | null;
  /** A run to open (from the runs page: #/w/<name>?run=<id>). */
  openRun?: string | null;
  /** What new server runs use, or null when nothing is deployed. */
  deployed: Deployed | null;
  /** The test run's input: where the server run input starts until one is typed. */
  testInput: string;
}

type Started = { run_id: string; status: string; digest: string; version: number | null; replay_of?: RunSummary["replay_of"] };

export function ServerRuns({ name, showServerRun, setMocks, toast, onSelectNode, selectedId, openRun, deployed, testInput }: ServerRunsProps) {
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [open, setOpen] = useState<string | null>(openRun ?? null);
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [approvals, setApprovals] = useState<{ id: string; node: string; title: string; details?: string; status: string }[]>([]);
  const [live, setLive] = useState(false);
  const [startedAt, setStartedAt] = useState<number | null>(null); // the cursor the live stream started after
  const [replayNode, setReplayNode] = useState<string | null>(null);
  const [replayVersion, setReplayVersion] = useState<ReplayVersion>("original");
  const [replaying, setReplaying] = useState(false);
  const runWhyNot = needsText(useSession(), "run"); // replaying: operator and up
  const openRef = useRef(open);
  openRef.current = open;
  // Events of the open run that arrived over the WebSocket after its detail was fetched (agent.delta: the
  // answer streaming), painted at once without waiting for the next fetch.
  const liveRun = useRef<{ run: string | null; events: RunEvent[]; detail: RunDetail | null; waiting: string[]; frame: number | null }>({ run: null, events: [], detail: null, waiting: [], frame: null });
  const paintLive = useCallback(() => {
    const l = liveRun.current;
    if (l.frame !== null || !l.detail) return;
    l.frame = requestAnimationFrame(() => {
      l.frame = null;
      if (l.detail && runIdOf(l.detail) === openRef.current) showServerRun(serverRunView(l.detail, l.waiting, l.events));
    });
  }, [showServerRun]);

  const refreshList = useCallback(async (): Promise<RunSummary[]> => {
    try {
      const list = (await api.runs(name)).runs;
      setRuns(list);
      return list;
    } catch (e) {
      toast(`Runs: ${(e as Error).message}`, "error");
      return [];
    }
  }, [name, toast]);
  const refreshDetail = useCallback(async () => {
    const id = openRef.current;
    if (!id) return;
    try {
      const d = await api.run(id, true); // with its journal: what each node sent (the Run tab's input)
      if (openRef.current !== id) return;
      const pending = d.status === "waiting" ? (await api.approvals(id)).approvals.filter((a) => a.status === "pending") : [];
      if (openRef.current !== id) return;
      setDetail(d);
      setApprovals(pending);
      const l = liveRun.current;
      if (l.run !== id) l.events = [];
      const last = Math.max(0, ...((d.events ?? []) as RunEvent[]).map((e) => e.seq ?? 0));
      l.run = id;
      l.events = l.events.filter((e) => (e.seq ?? 0) > last);
      l.detail = d;
      l.waiting = pending.map((a) => a.node);
      showServerRun(serverRunView(d, l.waiting, l.events));
    } catch (e) {
      toast(`Run ${id}: ${(e as Error).message}`, "error");
    }
  }, [showServerRun, toast]);

  useEffect(() => {
    let closed = false;
    let ws: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let cursor = 0;
    const openSocket = (path: string) => {
      const proto = location.protocol === "https:" ? "wss" : "ws";
      return new WebSocket(`${proto}://${location.host}${path}`);
    };
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
      if (closed) return;
      ws = openSocket(streamPath({ workflow: name, after: cursor }));
      let isLive = false;
      ws.onmessage = (m) => {
        const msg = JSON.parse(String(m.data)) as { type: string; cursor?: number; run_id?: string; seq?: number; node?: string | null; data?: unknown };
        if (typeof msg.cursor === "number" && !(msg as { late?: boolean }).late) {
          cursor = Math.max(cursor, msg.cursor);
          keepCursor(name, cursor);
        }
        if (isLive && msg.run_id && msg.run_id === openRef.current && liveRun.current.run === msg.run_id && /^(agent|approval)\./.test(msg.type)) {
          liveRun.current.events.push({ type: msg.type, node: msg.node, data: msg.data, seq: msg.seq });
          paintLive();
        }
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
    // The list by REST first, then the stream from after what it shows: the workflow's history is not
    // replayed (livecursor.ts); on stream.live the list is refreshed once more (bump), so nothing is missed.
    void (async () => {
      const list = await refreshList();
      cursor = await startCursor(name, list, async (id) => Math.max(0, ...((await api.run(id)).events ?? []).map((e) => Number((e as { seq?: number }).seq ?? 0))), (p) => openSocket(p) as unknown as SocketLike);
      setStartedAt(cursor);
      connect();
    })();
    return () => {
      closed = true;
      if (timer) clearTimeout(timer);
      if (retry) clearTimeout(retry);
      ws?.close();
    };
  }, [name, refreshList, refreshDetail, paintLive]);

  useEffect(() => {
    if (open) void refreshDetail();
    else setDetail(null);
  }, [open, refreshDetail]);
  // The URL follows the open run (#/w/<name>?run=<id>), so reload and back/forward reopen it; a hash change
  // (back/forward, a link) opens the run it names, or closes it.
  const firstOpenRun = useRef(true);
  useEffect(() => {
    if (firstOpenRun.current) {
      firstOpenRun.current = false;
      return;
    }
    setOpen(openRun ?? null);
  }, [openRun]);
  useEffect(() => {
    if (!location.hash.startsWith("#/w/")) return;
    const next = hashWithRun(location.hash, open);
    if (next !== location.hash) location.hash = next;
  }, [open]);

  /** A run just started (by the form or a replay): listed and opened at once; the WebSocket then brings
   * its live status to the list, the detail and the canvas. */
  const follow = (started: Started) => {
    setRuns((rs) => (rs.some((r) => runIdOf(r) === started.run_id) ? rs : [{ id: started.run_id, workflow: name, status: started.status, digest: started.digest, version: started.version, replay_of: started.replay_of ?? null, created_at: new Date().toISOString() }, ...rs]));
    setOpen(started.run_id);
    void refreshList();
  };

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
      toast(`Replay ${shortRunId(started.run_id)} started from ${pickedNode}`);
      follow(started);
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
        <ServerRunForm name={name} deployed={deployed} testInput={testInput} onStarted={follow} toast={toast} />
        <div className="wf-section-title">
          Runs <span className={`wf-live${live ? " is-live" : ""}`} data-testid="runs-live" data-after={startedAt ?? undefined} title="live over WebSocket">{live ? "● live" : "○ connecting"}</span>
        </div>
        {runs.length ? null : <div className="wf-empty">No runs yet.</div>}
        {runs.map((r) => {
          const id = runIdOf(r);
          const mark = replayMark(r);
          return (
            <div key={id} className={`wf-run-row${open === id ? " is-active" : ""}`} data-testid={`run-row-${id}`} data-status={r.status} onClick={() => setOpen(open === id ? null : id)}>
              <span className={`wf-badge wf-status-${serverStatus(r.status === "succeeded" ? "finished" : r.status)}`}>{r.status}</span>
              <span className="wf-mono">{shortRunId(id)}</span>
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
                      {shortRunId(lineage.parent.run_id)}
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
                          {shortRunId(c.run_id)}
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
                <button className="wf-btn wf-btn-xs" data-testid="btn-replay" disabled={replaying || !!runWhyNot} onClick={() => void startReplay()} title={runWhyNot ? `Replay ${runWhyNot}` : "a new run reuses the calls before this node and runs live from it"}>
                  Replay from here
                </button>
              </div>
            ) : null}
            {approvals.map((a) => (
              <ServerApproval key={a.id} a={a} onDone={() => void refreshDetail()} toast={toast} />
            ))}
            {detail.llm_usage ? (
              <div className="wf-muted wf-run-llm" data-testid="run-llm-usage" title="all agent nodes of the run: model turns, tokens in / out, cost">
                ✦ {detail.llm_usage.turns} model turn{detail.llm_usage.turns === 1 ? "" : "s"} · {detail.llm_usage.input_tokens} in · {detail.llm_usage.output_tokens} out
                {detail.llm_usage.cost_usd !== null && detail.llm_usage.cost_usd !== undefined ? ` · ${formatUsd(detail.llm_usage.cost_usd)}` : ""}
              </div>
            ) : null}
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
  const session = useSession();
  const whyNot = needsText(session, "run"); // approving and rejecting: operator and up
  const signedIn = session?.auth ? session.user?.email : undefined; // the server decides as the signed-in person
  const [by, setBy] = useState(() => localStorage.getItem("wasmflow.user") ?? "editor");
  const decide = async (approve: boolean) => {
    try {
      if (!signedIn) localStorage.setItem("wasmflow.user", by);
      await api.decide(a.id, approve, signedIn ?? by, reason);
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
        {signedIn ? null : <input className="wf-input" value={by} onChange={(e) => setBy(e.target.value)} placeholder="your name" data-testid="run-approval-by" />}
        <input className="wf-input" value={reason} onChange={(e) => setReason(e.target.value)} placeholder="reason" data-testid="run-approval-reason" />
        <button className="wf-btn wf-btn-danger" data-testid="btn-run-approval-reject" disabled={!!whyNot} title={whyNot ? `Rejecting ${whyNot}` : undefined} onClick={() => void decide(false)}>
          Reject
        </button>
        <button className="wf-btn wf-btn-primary" data-testid="btn-run-approval-approve" disabled={!!whyNot} title={whyNot ? `Approving ${whyNot}` : undefined} onClick={() => void decide(true)}>
          Approve
        </button>
      </div>
    </div>
  );
}

/** "Run on server": a run of the deployed version with a JSON input, for a manual trigger (a webhook or a
 * schedule starts its own). The input is checked as JSON while typed; the server's check against the
 * workflow's inputs schema is shown on the field too. The started run is followed like a replay. */
function ServerRunForm({ name, deployed, testInput, onStarted, toast }: { name: string; deployed: Deployed | null; testInput: string; onStarted: (s: Started) => void; toast: ServerRunsProps["toast"] }) {
  const key = `wasmflow.server-input.${name}`;
  const [text, setText] = useState(() => localStorage.getItem(key) ?? testInput);
  const [serverProblems, setServerProblems] = useState<string[]>([]);
  const [starting, setStarting] = useState(false);
  const whyNot = needsText(useSession(), "run"); // a server run: operator and up
  if (!deployed) return null;
  if (deployed.trigger !== "trigger.manual") {
    return (
      <div className="wf-muted wf-server-run-note" data-testid="server-run-note">
        v{deployed.version} is started by its {deployed.trigger === "trigger.webhook" ? "webhook (URL in the Deploy tab)" : deployed.trigger === "trigger.schedule" ? "schedule" : "trigger"}.
      </div>
    );
  }
  const parseError = jsonProblem(text);
  const problems = parseError ? [parseError] : serverProblems;
  const hint = inputsHint(deployed.inputs);
  const start = async () => {
    if (parseError) return;
    setStarting(true);
    try {
      const started = await api.startRun(name, text.trim() ? JSON.parse(text) : {});
      setServerProblems([]);
      toast(`Run ${shortRunId(started.run_id)} started on v${started.version ?? deployed.version}`);
      onStarted(started);
    } catch (e) {
      // the input's problems belong on the field; anything else (not deployed, not compiled) is a toast
      if (e instanceof ApiError && e.status === 422) setServerProblems(e.problems.length ? inputProblemText(e.problems) : [e.message]);
      else toast((e as Error).message, "error");
    } finally {
      setStarting(false);
    }
  };
  return (
    <div className="wf-server-run" data-testid="server-run">
      <div className="wf-section-title">
        Run on server <span className="wf-muted wf-server-run-version">v{deployed.version}</span>
      </div>
      <textarea
        className={`wf-input wf-json${problems.length ? " wf-invalid" : ""}`}
        data-testid="server-run-input"
        aria-invalid={problems.length > 0}
        aria-label="server run input (JSON)"
        rows={2}
        spellCheck={false}
        value={text}
        placeholder="{}"
        onChange={(e) => {
          setText(e.target.value);
          setServerProblems([]);
          localStorage.setItem(key, e.target.value);
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !whyNot) void start();
        }}
      />
      {problems.length ? (
        <div className="wf-field-error" data-testid="server-run-input-error">
          {problems.map((p) => (
            <div key={p}>{p}</div>
          ))}
        </div>
      ) : null}
      <div className="wf-server-run-actions">
        <button className="wf-btn wf-btn-xs wf-btn-primary" data-testid="btn-run-server" disabled={!!parseError || starting || !!whyNot} onClick={() => void start()} title={whyNot ? `Running on the server ${whyNot}` : "a real run of the deployed version with this input: its calls reach the world (Ctrl+Enter)"}>
          {starting ? "Starting…" : "▶ Run on server"}
        </button>
        {hint ? <span className="wf-muted" data-testid="server-run-hint">takes {hint}</span> : null}
      </div>
    </div>
  );
}
