// The workflows list: create (a valid starter document), open, rename (title), duplicate, import/export JSON,
// delete.
import { useCallback, useEffect, useRef, useState } from "react";
import type { DslDocument } from "../dsl/types";
import { api, ApiError, request, type WorkflowSummary } from "../lib/api";
import { filtersHash } from "./runs";
import { SiteNav } from "./SiteNav";
import { UserMenu } from "./UserMenu";
import { useCan } from "../lib/session";
import { Toasts, useToasts } from "./Toasts";

export function starterDocument(name: string, trigger: "manual" | "webhook", title?: string): DslDocument {
  return {
    dsl: "wasmflow/1",
    name,
    ...(title ? { title } : {}),
    nodes: [{ id: "start", type: `trigger.${trigger}`, config: {}, position: { x: 0, y: 0 } }],
    edges: [],
  };
}

const SLUG = /^[a-z][a-z0-9-]{0,62}$/;

export function Home() {
  const [list, setList] = useState<WorkflowSummary[] | null>(null);
  const [newName, setNewName] = useState("");
  const [trigger, setTrigger] = useState<"manual" | "webhook">("manual");
  const [editing, setEditing] = useState<{ name: string; title: string } | null>(null);
  const { toasts, toast } = useToasts();
  const fileRef = useRef<HTMLInputElement>(null);
  const canDesign = useCan("design"); // creating, importing, renaming, deleting: editor and up

  const refresh = useCallback(async () => {
    try {
      const r = await api.list();
      setList(Array.isArray(r) ? r : r.workflows);
    } catch (e) {
      toast(`Could not list workflows: ${(e as Error).message}`, "error");
      setList([]);
    }
  }, [toast]);
  useEffect(() => void refresh(), [refresh]);

  const create = async () => {
    const name = newName.trim();
    if (!SLUG.test(name)) {
      toast("Name: lower-case letters, digits and -, starting with a letter (e.g. order-sync)", "error");
      return;
    }
    try {
      await api.create(starterDocument(name, trigger));
      location.hash = `#/w/${name}`;
    } catch (e) {
      toast((e as Error).message, "error");
    }
  };

  const rename = async (name: string, title: string) => {
    try {
      const w = await api.get(name);
      await api.save(name, w.revision, { ...w.draft, title });
      setEditing(null);
      void refresh();
    } catch (e) {
      toast((e as Error).message, "error");
    }
  };

  const duplicate = async (name: string) => {
    const taken = new Set((list ?? []).map((w) => w.name));
    let copy = `${name}-copy`.slice(0, 63);
    for (let i = 2; taken.has(copy); i++) copy = `${name}-copy-${i}`.slice(0, 63);
    try {
      const w = await api.get(name);
      await api.create({ ...w.draft, name: copy, title: `${w.draft.title ?? name} (copy)` });
      toast(`Duplicated as ${copy}`);
      void refresh();
    } catch (e) {
      toast((e as Error).message, "error");
    }
  };

  const exportJson = async (name: string) => {
    try {
      const doc = await request<unknown>("GET", `/api/workflows/${encodeURIComponent(name)}/export`);
      const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2) + "\n"], { type: "application/json" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = `${name}.json`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) {
      toast((e as Error).message, "error");
    }
  };

  /** Import: a valid document is created (or, confirmed, replaces a draft of the same name); one with
   * validation problems is saved as a draft with its problems, as the editor saves work in progress (PUT
   * accepts invalid drafts). Either way the imported workflow opens. */
  const importFile = async (file: File) => {
    let doc: unknown;
    try {
      doc = JSON.parse(await file.text());
    } catch (e) {
      toast(`${file.name} is not JSON: ${(e as Error).message}`, "error");
      return;
    }
    const name = (doc as { name?: unknown } | null)?.name;
    const open = (n: string) => {
      location.hash = `#/w/${encodeURIComponent(n)}`;
    };
    try {
      const w = await api.importDoc(doc);
      toast(`Imported ${w.name}`);
      open(w.name);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409 && typeof name === "string") {
        if (!confirm(`${name} exists. Overwrite it (as a new revision)?`)) return;
        try {
          await request("POST", "/api/workflows/import?overwrite=true", doc);
          open(name);
        } catch (e2) {
          toast((e2 as Error).message, "error");
        }
      } else if (e instanceof ApiError && e.status === 422 && e.problems.length) {
        await importDraft(file.name, doc, e.problems);
      } else toast((e as Error).message, "error");
    }
  };

  const importDraft = async (fileName: string, doc: unknown, problems: { path: string; message: string }[]) => {
    const d = doc as Partial<DslDocument> | null;
    const summary = problems.slice(0, 3).map((p) => `${p.path} ${p.message}`).join("; ");
    // A draft still needs a usable name and a node list for the editor to open it.
    if (!d || typeof d !== "object" || Array.isArray(d) || typeof d.name !== "string" || !SLUG.test(d.name) || !Array.isArray(d.nodes)) {
      toast(`${fileName} cannot be imported, even as a draft: ${summary}`, "error");
      return;
    }
    const name = d.name;
    try {
      let revision: number;
      try {
        revision = (await api.create(starterDocument(name, "manual", typeof d.title === "string" ? d.title : undefined))).revision;
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 409)) throw e;
        if (!confirm(`${name} exists. Overwrite its draft with this document (as a new revision)?`)) return;
        revision = (await api.get(name)).revision;
      }
      const saved = await api.save(name, revision, d as DslDocument);
      const n = saved.errors?.length ?? problems.length;
      toast(`Imported ${name} as a draft with ${n} problem${n === 1 ? "" : "s"}: fix ${n === 1 ? "it" : "them"} in the editor`);
      sessionStorage.setItem("wasmflow.imported-draft", name);
      location.hash = `#/w/${encodeURIComponent(name)}`;
    } catch (e) {
      toast(`${fileName}: ${(e as Error).message}`, "error");
    }
  };

  const remove = async (name: string) => {
    if (!confirm(`Delete workflow ${name}? Its runs are kept.`)) return;
    try {
      await api.remove(name);
      void refresh();
    } catch (e) {
      toast((e as Error).message, "error");
    }
  };

  return (
    <div className="wf-home">
      <header className="wf-topbar">
        <SiteNav active="workflows" />
        <div className="wf-grow" />
        <input ref={fileRef} type="file" accept="application/json,.json" hidden data-testid="import-file" onChange={(e) => {
          const f = e.target.files?.[0];
          if (f) void importFile(f);
          e.target.value = "";
        }} />
        {canDesign ? (
          <button className="wf-btn" data-testid="btn-import" onClick={() => fileRef.current?.click()}>
            Import JSON
          </button>
        ) : null}
        <UserMenu />
      </header>
      <main className="wf-home-main">
        <h1>Workflows</h1>
        {canDesign ? (
        <div className="wf-create" data-testid="create-form">
          <input className="wf-input" placeholder="new-workflow-name" value={newName} data-testid="new-workflow-name" onChange={(e) => setNewName(e.target.value)} onKeyDown={(e) => e.key === "Enter" && void create()} />
          <select className="wf-input" value={trigger} data-testid="new-workflow-trigger" onChange={(e) => setTrigger(e.target.value as "manual" | "webhook")}>
            <option value="manual">started by hand</option>
            <option value="webhook">started by a webhook</option>
          </select>
          <button className="wf-btn wf-btn-primary" data-testid="btn-create" onClick={() => void create()}>
            + New workflow
          </button>
        </div>
        ) : null}
        {list === null ? <div className="wf-muted">Loading…</div> : null}
        {list && !list.length ? <div className="wf-empty">No workflows yet: create one, or import a JSON document.</div> : null}
        {list?.length ? (
          <table className="wf-table wf-home-table" data-testid="workflow-list">
            <thead>
              <tr>
                <th>Title</th>
                <th>Name</th>
                <th>Revision</th>
                <th>Deployed</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((w) => (
                <tr key={w.name} data-testid={`workflow-row-${w.name}`}>
                  <td>
                    {editing?.name === w.name ? (
                      <input autoFocus className="wf-input" data-testid={`rename-input-${w.name}`} value={editing.title} onChange={(e) => setEditing({ name: w.name, title: e.target.value })} onKeyDown={(e) => {
                        if (e.key === "Enter") void rename(w.name, editing.title);
                        if (e.key === "Escape") setEditing(null);
                      }} onBlur={() => void rename(w.name, editing.title)} />
                    ) : (
                      <a href={`#/w/${w.name}`} className="wf-link" data-testid={`open-${w.name}`}>
                        {w.title || w.name}
                      </a>
                    )}
                  </td>
                  <td className="wf-mono wf-muted">{w.name}</td>
                  <td>{w.revision}</td>
                  <td>{w.deployed_version ? <span className="wf-badge wf-status-succeeded">v{w.deployed_version}</span> : <span className="wf-muted">—</span>}</td>
                  <td className="wf-actions">
                    <a className="wf-btn wf-btn-ghost wf-btn-xs wf-link-btn" data-testid={`runs-${w.name}`} href={filtersHash({ status: "", workflow: w.name })} title="its server runs">Runs</a>
                    {canDesign ? <button className="wf-btn wf-btn-ghost wf-btn-xs" data-testid={`rename-${w.name}`} onClick={() => setEditing({ name: w.name, title: w.title || w.name })}>Rename</button> : null}
                    {canDesign ? <button className="wf-btn wf-btn-ghost wf-btn-xs" data-testid={`duplicate-${w.name}`} onClick={() => void duplicate(w.name)}>Duplicate</button> : null}
                    <button className="wf-btn wf-btn-ghost wf-btn-xs" data-testid={`export-${w.name}`} onClick={() => void exportJson(w.name)}>Export</button>
                    {canDesign ? <button className="wf-btn wf-btn-ghost wf-btn-xs wf-text-error" data-testid={`delete-${w.name}`} onClick={() => void remove(w.name)}>Delete</button> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </main>
      <Toasts toasts={toasts} />
    </div>
  );
}
