// Server runs of every workflow (GET /api/runs), newest first: filter by status and workflow (kept in the
// URL), refreshed every few seconds while the page is visible, more pages on demand. A row opens the run in
// its workflow's editor (the Runs tab's run view, #/w/<name>?run=<id>).
import { useCallback, useEffect, useRef, useState } from "react";
import { api, runIdOf, shortRunId, type RunSummary, type WorkflowSummary } from "../lib/api";
import { replayMark } from "./replay";
import { filtersHash, formatStarted, isActive, mergeFirstPage, parseFilters, RUN_STATES, runDuration, runHref, startedAt, versionLabel, type RunFilters } from "./runs";
import { SiteNav } from "./SiteNav";
import { UserMenu } from "./UserMenu";

// Polling, not the WebSocket: /api/ws?all=1 replays every event ever recorded before it goes live, far more
// than a page of 50 rows costs to fetch again.
const REFRESH_MS = 3000;

export function RunsPage({ hash }: { hash: string }) {
  const [filters, setFilters] = useState<RunFilters>(() => parseFilters(hash));
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [more, setMore] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [workflows, setWorkflows] = useState<WorkflowSummary[] | null>(null);
  const [refreshedAt, setRefreshedAt] = useState<Date | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const extended = useRef(false); // "Load more" was used: refreshes keep the older pages
  const generation = useRef(0); // answers for filters no longer shown are dropped
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  const refresh = useCallback(async () => {
    const gen = generation.current;
    try {
      const page = await api.allRuns(filtersRef.current);
      if (gen !== generation.current) return;
      const hasMore = !!page.next_cursor;
      setRuns((shown) => (extended.current ? mergeFirstPage(page.runs, hasMore, shown ?? []) : page.runs));
      if (!extended.current || !hasMore) {
        extended.current = false;
        setMore(page.next_cursor ?? null);
      }
      setError(null);
      setRefreshedAt(new Date());
    } catch (e) {
      if (gen === generation.current) setError((e as Error).message);
    }
  }, []);

  const loadMore = async () => {
    if (!more) return;
    const gen = generation.current;
    try {
      const page = await api.allRuns({ ...filtersRef.current, cursor: more });
      if (gen !== generation.current) return;
      extended.current = true;
      setRuns((shown) => [...(shown ?? []), ...page.runs.filter((r) => !(shown ?? []).some((s) => runIdOf(s) === runIdOf(r)))]);
      setMore(page.next_cursor ?? null);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  // The URL edited by hand (or a link followed, such as "Runs" in the header) while the page is open: its
  // filters win. Listened to here: the filters' own replaceState leaves the router's hash behind.
  useEffect(() => {
    const on = () => {
      const f = parseFilters(location.hash);
      setFilters((cur) => (cur.status === f.status && cur.workflow === f.workflow ? cur : f));
    };
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);

  // A filter change starts over (and is kept in the URL, without a history entry per choice).
  useEffect(() => {
    generation.current += 1;
    extended.current = false;
    setRuns(null);
    setMore(null);
    history.replaceState(null, "", filtersHash(filters));
    void refresh();
  }, [filters, refresh]);

  useEffect(() => {
    const poll = setInterval(() => {
      if (document.visibilityState === "visible") void refresh();
    }, REFRESH_MS);
    const tick = setInterval(() => setNow(Date.now()), 1000); // durations of active runs grow
    return () => {
      clearInterval(poll);
      clearInterval(tick);
    };
  }, [refresh]);

  useEffect(() => {
    api
      .list()
      .then((r) => setWorkflows(Array.isArray(r) ? r : r.workflows))
      .catch(() => setWorkflows([]));
  }, []);

  const byName = new Map((workflows ?? []).map((w) => [w.name, w]));
  // The filter offers every workflow, and keeps one given in the URL even if it is gone (its runs are kept).
  const names = [...byName.keys()];
  if (filters.workflow && !byName.has(filters.workflow)) names.push(filters.workflow);
  const today = new Date(now);
  const filtered = !!(filters.status || filters.workflow);

  return (
    <div className="wf-home">
      <header className="wf-topbar">
        <SiteNav active="runs" />
        <div className="wf-grow" />
        <UserMenu />
      </header>
      <main className="wf-home-main wf-runs-page">
        <h1>Runs</h1>
        <div className="wf-runs-filters">
          <label className="wf-filter">
            <span className="wf-muted">Status</span>
            <select className="wf-input wf-input-xs" data-testid="runs-filter-status" value={filters.status} onChange={(e) => setFilters((f) => ({ ...f, status: e.target.value }))}>
              <option value="">any</option>
              {RUN_STATES.map((s) => (
                <option key={s} value={s}>
                  {s.replace("_", " ")}
                </option>
              ))}
            </select>
          </label>
          <label className="wf-filter">
            <span className="wf-muted">Workflow</span>
            <select className="wf-input wf-input-xs" data-testid="runs-filter-workflow" value={filters.workflow} onChange={(e) => setFilters((f) => ({ ...f, workflow: e.target.value }))}>
              <option value="">all workflows</option>
              {names.map((n) => (
                <option key={n} value={n}>
                  {byName.get(n)?.title && byName.get(n)?.title !== n ? `${byName.get(n)!.title} (${n})` : n}
                </option>
              ))}
            </select>
          </label>
          {filtered ? (
            <button className="wf-btn wf-btn-ghost wf-btn-xs" data-testid="btn-runs-clear-filters" onClick={() => setFilters({ status: "", workflow: "" })}>
              Clear filters
            </button>
          ) : null}
          <div className="wf-grow" />
          <span className={`wf-live${error ? "" : " is-live"}`} data-testid="runs-refreshed" title={`refreshed every ${REFRESH_MS / 1000} s while this page is visible`}>
            {error ? `○ ${error}` : refreshedAt ? `● updated ${refreshedAt.toLocaleTimeString()}` : "○ loading"}
          </span>
          <button className="wf-btn wf-btn-xs" data-testid="btn-runs-refresh" onClick={() => void refresh()}>
            Refresh
          </button>
        </div>
        {runs === null ? <div className="wf-muted">Loading…</div> : null}
        {runs && !runs.length ? (
          <div className="wf-empty" data-testid="runs-empty">
            {filtered ? "No runs match these filters." : "No server runs yet: deploy a workflow, then start it (Runs tab in the editor), call its webhook or wait for its schedule."}
          </div>
        ) : null}
        {runs?.length ? (
          <table className="wf-table wf-home-table" data-testid="runs-table">
            <thead>
              <tr>
                <th>Status</th>
                <th>Workflow</th>
                <th>Version</th>
                <th>Started</th>
                <th>Duration</th>
                <th>Run</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r) => {
                const id = runIdOf(r);
                const wf = byName.get(r.workflow);
                const gone = workflows !== null && !wf;
                const mark = replayMark(r);
                const err = (r.error as { message?: string } | null | undefined)?.message;
                const started = startedAt(r);
                return (
                  <tr
                    key={id}
                    data-testid={`runs-page-row-${id}`}
                    data-status={r.status}
                    data-workflow={r.workflow}
                    className={gone ? "is-gone" : undefined}
                    title={gone ? `${r.workflow} was deleted; its runs are kept` : `open this run in ${r.workflow}`}
                    onClick={(e) => {
                      if (!gone && !(e.target as HTMLElement).closest("a")) location.hash = runHref(r);
                    }}
                  >
                    <td>
                      <span className={`wf-badge wf-status-${r.status}`} data-testid={`runs-page-status-${id}`}>
                        {isActive(r.status) && r.status !== "queued" ? <span className="wf-spin" /> : null}
                        {r.status.replace("_", " ")}
                      </span>
                    </td>
                    <td className="wf-runs-wf">
                      {gone ? (
                        <span className="wf-mono wf-muted">{r.workflow} (deleted)</span>
                      ) : (
                        <a href={runHref(r)} className="wf-link" data-testid={`runs-page-open-${id}`}>
                          {wf?.title || r.workflow}
                        </a>
                      )}
                      {wf?.title && wf.title !== r.workflow ? <span className="wf-mono wf-muted wf-runs-wfname">{r.workflow}</span> : null}
                    </td>
                    <td className="wf-mono">{versionLabel(r)}</td>
                    <td title={started ?? ""}>{formatStarted(started, today)}</td>
                    <td data-testid={`runs-page-duration-${id}`}>{runDuration(r, now)}</td>
                    <td>
                      <div className="wf-runs-id">
                      <span className="wf-mono wf-muted" title={id}>{shortRunId(id)}</span>
                      {mark ? (
                        <span className="wf-replay-mark" title={mark.title}>
                          {mark.text}
                        </span>
                      ) : null}
                      {err ? (
                        <span className="wf-runs-error" title={err}>
                          {err}
                        </span>
                      ) : null}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        ) : null}
        {more ? (
          <div className="wf-runs-more">
            <button className="wf-btn" data-testid="btn-runs-more" onClick={() => void loadMore()}>
              Load older runs
            </button>
          </div>
        ) : null}
      </main>
    </div>
  );
}
