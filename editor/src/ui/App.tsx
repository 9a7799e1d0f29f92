// Hash routing: #/ is the workflows list, #/runs the runs of all workflows (?status=&workflow=), #/w/<name>
// the editor (?run=<id> opens that server run in its Runs tab). The schema is loaded once.
import { lazy, Suspense, useEffect, useState } from "react";
import { api, type WorkflowDetail } from "../lib/api";
import { loadSchema, type DslSchema } from "../lib/schema";
import { Home } from "./Home";
import { runOfHash } from "./runs";
import { RunsPage } from "./RunsPage";

// The editor (React Flow, CodeMirror, dagre) loads only when a workflow is opened: the list stays light.
const Editor = lazy(async () => ({ default: (await import("./Editor")).Editor }));

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return hash;
}

export function App() {
  const hash = useHash();
  const m = /^#\/w\/([^/?]+)/.exec(hash);
  if (m) return <EditorRoute key={m[1]} name={decodeURIComponent(m[1])} openRun={runOfHash(hash)} />;
  return /^#\/runs\b/.test(hash) ? <RunsPage hash={hash} /> : <Home />;
}

let schemaPromise: Promise<DslSchema> | null = null;

function EditorRoute({ name, openRun }: { name: string; openRun: string | null }) {
  const [state, setState] = useState<{ schema: DslSchema; wf: WorkflowDetail } | { error: string } | null>(null);
  useEffect(() => {
    schemaPromise ??= api.schema().then(loadSchema);
    Promise.all([schemaPromise, api.get(name), api.validateStored(name).catch(() => null)])
      .then(([schema, wf, v]) => setState({ schema, wf: v ? { ...wf, valid: v.valid, errors: v.errors } : wf }))
      .catch((e) => setState({ error: (e as Error).message }));
  }, [name]);
  if (!state) return <div className="wf-loading">Loading {name}…</div>;
  if ("error" in state)
    return (
      <div className="wf-loading">
        {state.error} · <a href="#/">back to workflows</a> · <a href="#/runs">runs</a>
      </div>
    );
  return (
    <Suspense fallback={<div className="wf-loading">Loading editor…</div>}>
    <Editor
      name={name}
      schema={state.schema}
      initial={{ revision: state.wf.revision, draft: state.wf.draft, valid: state.wf.valid, errors: state.wf.errors, digest: (state.wf.digest as string | null | undefined) ?? null, deployment: state.wf.deployment ?? null }}
      openRun={openRun}
    />
    </Suspense>
  );
}
