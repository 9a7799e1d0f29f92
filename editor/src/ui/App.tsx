// Hash routing: #/ is the workflows list, #/runs the runs of all workflows (?status=&workflow=), #/w/<name>
// the editor (?run=<id> opens that server run in its Runs tab), #/settings/<tab> users, API tokens and secrets
// (SettingsPage). The schema is loaded once.
// At start GET /api/auth/me says whether access control is on and who is signed in: with it on and nobody
// signed in (or after any 401) the sign-in page shows instead, at the same URL, so the page the user was
// going to opens after sign-in.
import { lazy, Suspense, useEffect, useState } from "react";
import { api, type WorkflowDetail } from "../lib/api";
import { loadSchema, type DslSchema } from "../lib/schema";
import { AUTH_OFF, setSession, useSession } from "../lib/session";
import { Home } from "./Home";
import { runOfHash } from "./runs";
import { RunsPage } from "./RunsPage";
import { isSettingsHash } from "./settings";
import { SettingsPage } from "./SettingsPage";
import { SignIn } from "./SignIn";

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
  const session = useSession();
  useEffect(() => {
    api
      .me()
      .then((me) => setSession({ auth: me.auth, user: me.user, csrf: me.csrf ?? null, setupNeeded: me.setup_needed }))
      .catch(() => setSession(AUTH_OFF)); // a server without /api/auth/me has no access control
  }, []);
  if (!session) return <div className="wf-loading">Loading…</div>;
  if (session.auth && !session.user) return <SignIn setupNeeded={session.setupNeeded} />;
  return <Routes />;
}

function Routes() {
  const hash = useHash();
  const m = /^#\/w\/([^/?]+)/.exec(hash);
  if (m) return <EditorRoute key={m[1]} name={decodeURIComponent(m[1])} openRun={runOfHash(hash)} />;
  if (isSettingsHash(hash)) return <SettingsPage hash={hash} />;
  return /^#\/runs\b/.test(hash) ? <RunsPage hash={hash} /> : <Home />;
}

let schemaPromise: Promise<DslSchema> | null = null;

function EditorRoute({ name, openRun }: { name: string; openRun: string | null }) {
  const [state, setState] = useState<{ schema: DslSchema; wf: WorkflowDetail } | { error: string } | null>(null);
  useEffect(() => {
    schemaPromise ??= api
      .schema()
      .then(loadSchema)
      .catch((e) => {
        schemaPromise = null; // asked again next time (e.g. after signing in again)
        throw e;
      });
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
