// The bottom panel: test-run input and results, server runs (ServerRuns.tsx: live over the WebSocket, with a
// timeline, approvals and "Run on server"), problems, and the last deploy.
import { memo, useMemo } from "react";
import type { DryRunResult, Mocks } from "../dryrun/types";
import type { NodeStatus } from "../dsl/flow";
import type { PlacedProblems } from "../dsl/problems";
import type { DeployAnswer } from "../lib/api";
import { formatMs } from "./format";
import { RunInput } from "./RunInput";
import type { Deployed } from "./runs";
import { previewOf, Timeline, type RunView } from "./runview";
import { ServerRuns } from "./ServerRuns";

export type BottomTab = "results" | "runs" | "problems" | "deploy";

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
  /** the test run shown is of an older version of the draft */
  stale?: boolean;
  deployInfo: DeployAnswer | null;
  showServerRun: (v: RunView | null) => void;
  setMocks: (m: Mocks) => void;
  toast: (s: string, kind?: "info" | "error") => void;
  /** A server run to open in the Runs tab (#/w/<name>?run=<id>). */
  openRun?: string | null;
  /** What new server runs use (null: nothing deployed): the Runs tab's "Run on server". */
  deployed: Deployed | null;
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
      {p.tab === "runs" ? <ServerRuns {...p} testInput={p.input} /> : null}
      {p.tab === "problems" ? <Problems {...p} /> : null}
      {p.tab === "deploy" ? <Deploy {...p} /> : null}
    </section>
  );
});

function Results({ input, setInput, webhook, dryResult, run, stale, onSelectNode }: Props) {
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
        {dryResult && stale ? (
          <div className="wf-stale-note" data-testid="dry-stale">
            These results are from an older version: run again (edited since digest {dryResult.digest.slice(0, 12)}).
          </div>
        ) : null}
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

function Deploy({ deployInfo, deployed, setTab }: Props) {
  // A manual workflow is started by hand: say where, right where the deploy is reported.
  const runIt =
    deployed?.trigger === "trigger.manual" ? (
      <p className="wf-muted">
        Start a run of v{deployed.version} on the server from the Runs tab:{" "}
        <button className="wf-btn wf-btn-xs" data-testid="btn-deploy-run-server" onClick={() => setTab("runs")}>
          ▶ Run on server…
        </button>
      </p>
    ) : null;
  if (!deployInfo)
    return (
      <div className="wf-bottom-body wf-empty">
        {deployed ? `Version ${deployed.version} is deployed; “Deploy” ships the digest you test-ran as a new version.` : "Not deployed yet. “Deploy” ships the digest you test-ran."}
        {runIt}
      </div>
    );
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
      {runIt}
    </div>
  );
}

